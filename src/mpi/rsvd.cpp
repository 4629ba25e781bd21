// liblowdim_mpi: the fixed reduction tree and the distributed randomized SVD
// (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/mpi.hpp>
#include <lowdim/random.hpp>
#include <lowdim/sketch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

namespace lowdim::mpi {
namespace {

// The tree over blocks [lo, hi): split at the largest power of two below hi − lo.
std::int64_t split_of(std::int64_t lo, std::int64_t hi) {
  std::int64_t h = 1;
  while (h * 2 < hi - lo) h *= 2;
  return lo + h;
}

template <class T>
void add_into(std::vector<T>& a, const std::vector<T>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = a[i] + b[i];
}

template <class T>
struct TreeWalk {
  std::int64_t first, end, size;
  const std::function<void(std::int64_t, std::span<T>)>& leaf;
  std::vector<std::pair<std::int64_t, std::int64_t>> nodes;  // the maximal subtrees inside [first, end)
  std::vector<T> values;                                       // their sums, one after another

  std::vector<T> subtree(std::int64_t lo, std::int64_t hi) {
    std::vector<T> out(static_cast<std::size_t>(size), T(0));
    if (hi - lo == 1) {
      leaf(lo, std::span<T>(out));
      return out;
    }
    const std::int64_t mid = split_of(lo, hi);
    out = subtree(lo, mid);
    add_into(out, subtree(mid, hi));
    return out;
  }
  void walk(std::int64_t lo, std::int64_t hi) {
    if (hi <= first || lo >= end || lo >= hi) return;
    if (lo >= first && hi <= end) {
      nodes.emplace_back(lo, hi);
      const auto v = subtree(lo, hi);
      values.insert(values.end(), v.begin(), v.end());
      return;
    }
    const std::int64_t mid = split_of(lo, hi);
    walk(lo, mid);
    walk(mid, hi);
  }
};

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

template <class T>
std::vector<T> combine(const std::map<std::pair<std::int64_t, std::int64_t>, std::vector<T>>& have, std::int64_t lo,
                       std::int64_t hi) {
  if (auto it = have.find({lo, hi}); it != have.end()) return it->second;
  LOWDIM_CHECK(hi - lo > 1, "mpi: tree_sum: no rank evaluated block {}", lo);
  const std::int64_t mid = split_of(lo, hi);
  auto out = combine(have, lo, mid);
  add_into(out, combine(have, mid, hi));
  return out;
}

}  // namespace

template <class T>
std::vector<T> tree_sum(const Communicator& comm, std::int64_t blocks, std::int64_t first_block, std::int64_t end_block,
                        std::int64_t size, const std::function<void(std::int64_t block, std::span<T> out)>& leaf) {
  TreeWalk<T> w{first_block, end_block, size, leaf, {}, {}};
  collective(comm, [&] {
    LOWDIM_CHECK(size >= 0 && 0 <= first_block && first_block <= end_block && end_block <= blocks,
                 "mpi: tree_sum: rank {} owns blocks [{}, {}) of {}", comm.rank(), first_block, end_block, blocks);
    w.walk(0, blocks);
  });
  // Rank 0 gathers every rank's nodes (headers, then values) and combines them in the tree's order.
  const int p = comm.size();
  std::vector<std::int64_t> header;
  for (auto [lo, hi] : w.nodes) header.push_back(lo), header.push_back(hi);
  const std::vector<std::int64_t> header_counts = comm.all_gather(static_cast<std::int64_t>(header.size()));
  std::vector<int> hc(static_cast<std::size_t>(p)), hd(static_cast<std::size_t>(p)), vc(hc), vd(hc);
  std::int64_t htotal = 0, vtotal = 0;
  for (int r = 0; r < p; ++r) {
    const auto i = static_cast<std::size_t>(r);
    const std::int64_t values = header_counts[i] / 2 * size;
    LOWDIM_CHECK(vtotal + values < std::numeric_limits<int>::max(),
                 "mpi: tree_sum: {} values per node are too many for one gather", size);
    hc[i] = static_cast<int>(header_counts[i]), hd[i] = static_cast<int>(htotal);
    vc[i] = static_cast<int>(values), vd[i] = static_cast<int>(vtotal);
    htotal += header_counts[i], vtotal += values;
  }
  std::vector<std::int64_t> all_headers(comm.rank() == 0 ? static_cast<std::size_t>(htotal) : 0);
  std::vector<T> all_values(comm.rank() == 0 ? static_cast<std::size_t>(vtotal) : 0);
  MPI_Gatherv(header.data(), static_cast<int>(header.size()), MPI_INT64_T, all_headers.data(), hc.data(), hd.data(),
              MPI_INT64_T, 0, comm.comm());
  MPI_Gatherv(w.values.data(), static_cast<int>(w.values.size()), mpi_type<T>(), all_values.data(), vc.data(),
              vd.data(), mpi_type<T>(), 0, comm.comm());
  if (comm.rank() != 0)
    comm.record(static_cast<std::int64_t>(header.size() * sizeof(std::int64_t) + w.values.size() * sizeof(T)));
  std::vector<T> sum(static_cast<std::size_t>(size), T(0));
  if (comm.rank() == 0 && blocks > 0) {
    std::map<std::pair<std::int64_t, std::int64_t>, std::vector<T>> have;
    for (std::int64_t i = 0; i < htotal / 2; ++i) {
      const auto* v = all_values.data() + i * size;
      have[{all_headers[static_cast<std::size_t>(2 * i)], all_headers[static_cast<std::size_t>(2 * i + 1)]}] =
          std::vector<T>(v, v + size);
    }
    sum = combine(have, 0, blocks);
  }
  comm.broadcast(std::span<T>(sum), 0);
  return sum;
}

template LOWDIM_API std::vector<float> tree_sum<float>(const Communicator&, std::int64_t, std::int64_t, std::int64_t,
                                                       std::int64_t,
                                                       const std::function<void(std::int64_t, std::span<float>)>&);
template LOWDIM_API std::vector<double> tree_sum<double>(const Communicator&, std::int64_t, std::int64_t, std::int64_t,
                                                         std::int64_t,
                                                         const std::function<void(std::int64_t, std::span<double>)>&);

namespace {

// The blocks this rank owns, after checking the split is on block boundaries.
struct Blocks {
  std::int64_t count = 0, first = 0, end = 0, rows = 0;  // rows per block
};

template <class T>
Blocks blocks_of(const Communicator& comm, const LocalRows<T>& a, std::int64_t block_rows, const char* context) {
  const RowPartition partition = RowPartition::gather(comm, a.rows.rows());
  collective(comm, [&] {
    LOWDIM_CHECK(a.first_row == partition.offsets[static_cast<std::size_t>(comm.rank())],
                 "{}: rank {} says its rows start at {}, but the ranks before it hold {} rows", context, comm.rank(),
                 a.first_row, partition.offsets[static_cast<std::size_t>(comm.rank())]);
    check_blocked(partition, block_rows, context);
  });
  Blocks b;
  b.rows = block_rows;
  b.count = (partition.total_rows + block_rows - 1) / block_rows;
  b.first = a.rows.rows() == 0 ? 0 : a.first_row / block_rows;
  b.end = a.rows.rows() == 0 ? 0 : b.first + (a.rows.rows() + block_rows - 1) / block_rows;
  return b;
}

// Local rows of global block g (the rank owns it).
template <class M>
auto block_rows_of(const M& m, const Blocks& b, std::int64_t g) {
  const std::int64_t r0 = (g - b.first) * b.rows;
  return m.row_block(r0, std::min(b.rows, m.rows() - r0));
}

// Σ_b op(X_b)ᵀ·Y_b over the row blocks (X, Y row-distributed alike): a cols(X) × cols(Y) matrix.
template <class T>
Matrix<T> sum_of_products(const Communicator& comm, const Blocks& b, ConstMatrixView<T> x, ConstMatrixView<T> y) {
  const std::int64_t p = x.cols(), q = y.cols();
  const auto v = tree_sum<T>(comm, b.count, b.first, b.end, p * q, [&](std::int64_t g, std::span<T> out) {
    MatrixView<T> c(out.data(), p, q, q);
    linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), block_rows_of(x, b, g), block_rows_of(y, b, g), T(0),
                                 c);
  });
  auto out = Matrix<T>::uninitialized(p, q);
  for (std::int64_t i = 0; i < p; ++i) std::copy(v.begin() + i * q, v.begin() + (i + 1) * q, out.row(i));
  return out;
}

// One CholeskyQR round of the row-distributed Y (in place): G = YᵀY by the tree, G (+ shift) =
// L·Lᵀ on every rank, Y ← Y·L⁻ᵀ row by row. Returns false when G is not positive definite.
template <class T>
bool cholesky_round(const Communicator& comm, const Blocks& b, Matrix<T>& y, std::int64_t total_rows, bool shifted) {
  const std::int64_t l = y.cols();
  Matrix<T> g = sum_of_products<T>(comm, b, y.cview(), y.cview());
  if (shifted) {
    // Shifted CholeskyQR (Fukaya et al. 2020): s = 11·(m·l + l(l + 1))·u·‖Y‖²_F.
    double trace = 0;
    for (std::int64_t i = 0; i < l; ++i) trace += static_cast<double>(g(i, i));
    const double s = 11.0 * (static_cast<double>(total_rows) * l + static_cast<double>(l) * (l + 1)) *
                     std::numeric_limits<T>::epsilon() * trace;
    for (std::int64_t i = 0; i < l; ++i) g(i, i) = static_cast<T>(static_cast<double>(g(i, i)) + s);
  }
  try {
    linalg::cholesky<T>(g.view());
  } catch (const numerical_error&) {
    return false;
  }
  // L⁻¹ (l × l), the same bits on every rank: solve L·X = I.
  Matrix<T> inv(l, l);
  for (std::int64_t i = 0; i < l; ++i) inv(i, i) = T(1);
  linalg::trsm<T>(Side::left, Triangle::lower, Op::none, T(1), g.cview(), inv.view());
  auto out = Matrix<T>::uninitialized(y.rows(), l);
  if (y.rows() > 0) linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), y.cview(), inv.cview(), T(0), out.view());
  y = std::move(out);
  return true;
}

// CholeskyQR2 of the row-distributed Y; shifted CholeskyQR3 when the Gram is numerically singular.
template <class T>
void orthonormalize(const Communicator& comm, const Blocks& b, Matrix<T>& y, std::int64_t total_rows) {
  if (cholesky_round(comm, b, y, total_rows, false)) {
    if (cholesky_round(comm, b, y, total_rows, false)) return;
  } else {
    LOWDIM_CHECK(cholesky_round(comm, b, y, total_rows, true), "mpi::rsvd: the sketch is zero (A·Ω = 0)");
    if (cholesky_round(comm, b, y, total_rows, false) && cholesky_round(comm, b, y, total_rows, false)) return;
  }
  LOWDIM_THROW(numerical_error,
               "mpi::rsvd: CholeskyQR could not orthonormalise the {} x {} sketch (numerically rank-deficient: A has "
               "rank below the sketch width)",
               total_rows, y.cols());
}

}  // namespace

template <class T>
double norm_fro(const Communicator& comm, const LocalRows<T>& a, std::int64_t block_rows) {
  const Blocks b = blocks_of(comm, a, block_rows, "mpi::norm_fro");
  const auto v = tree_sum<double>(comm, b.count, b.first, b.end, 1, [&](std::int64_t g, std::span<double> out) {
    const auto block = block_rows_of(a.rows, b, g);
    double s = 0;
    for (std::int64_t i = 0; i < block.rows(); ++i)
      for (std::int64_t j = 0; j < block.cols(); ++j) s += static_cast<double>(block(i, j)) * block(i, j);
    out[0] = s;
  });
  return std::sqrt(v[0]);
}

template <class T>
double projection_error(const Communicator& comm, const LocalRows<T>& a, const SvdResult<T>& r,
                        std::int64_t block_rows) {
  const Blocks b = blocks_of(comm, a, block_rows, "mpi::projection_error");
  const std::int64_t k = static_cast<std::int64_t>(r.s.size()), n = a.rows.cols();
  collective(comm, [&] {
    LOWDIM_CHECK_SHAPE(r.u.rows() == a.rows.rows() && r.u.cols() == k && r.vt.rows() == k && r.vt.cols() == n,
                       "mpi::projection_error: U {} x {}, S {}, Vt {} x {} do not fit the local A {} x {}",
                       r.u.rows(), r.u.cols(), k, r.vt.rows(), r.vt.cols(), a.rows.rows(), n);
  });
  // U·diag(S), local rows.
  auto us = Matrix<T>::uninitialized(r.u.rows(), k);
  for (std::int64_t i = 0; i < r.u.rows(); ++i)
    for (std::int64_t j = 0; j < k; ++j) us(i, j) = r.u(i, j) * r.s[static_cast<std::size_t>(j)];
  const auto v = tree_sum<double>(comm, b.count, b.first, b.end, 1, [&](std::int64_t g, std::span<double> out) {
    const auto block = block_rows_of(a.rows, b, g);
    Matrix<T> residual = Matrix<T>::copy_of(block);
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(-1), block_rows_of(us.cview(), b, g), r.vt.cview(), T(1),
                                 residual.view());
    double s = 0;
    for (std::int64_t i = 0; i < residual.rows(); ++i)
      for (std::int64_t j = 0; j < n; ++j) s += static_cast<double>(residual(i, j)) * residual(i, j);
    out[0] = s;
  });
  return std::sqrt(v[0]);
}

template LOWDIM_API double projection_error<float>(const Communicator&, const LocalRows<float>&,
                                                   const SvdResult<float>&, std::int64_t);
template LOWDIM_API double projection_error<double>(const Communicator&, const LocalRows<double>&,
                                                    const SvdResult<double>&, std::int64_t);

template LOWDIM_API double norm_fro<float>(const Communicator&, const LocalRows<float>&, std::int64_t);
template LOWDIM_API double norm_fro<double>(const Communicator&, const LocalRows<double>&, std::int64_t);

template <class T>
SvdResult<T> rsvd(const Communicator& comm, const LocalRows<T>& a, const RsvdOptions& o) {
  const Blocks b = blocks_of(comm, a, o.block_rows, "mpi::rsvd");
  const std::vector<std::int64_t> cols = comm.all_gather(a.rows.cols());
  const std::int64_t m = a.total_rows, n = cols[0];
  collective(comm, [&] {
    for (std::size_t r = 0; r < cols.size(); ++r)
      LOWDIM_CHECK_SHAPE(cols[r] == n, "mpi::rsvd: rank {} has {} columns, rank 0 has {}", r, cols[r], n);
    LOWDIM_CHECK(m >= 1 && n >= 1, "mpi::rsvd: A is empty ({} x {})", m, n);
    LOWDIM_CHECK(o.rank >= 1, "mpi::rsvd: rank must be positive, not {}", o.rank);
    LOWDIM_CHECK(o.rank <= std::min(m, n), "mpi::rsvd: rank {} exceeds min(rows, cols) = {}", o.rank, std::min(m, n));
    LOWDIM_CHECK(o.oversampling >= 0, "mpi::rsvd: oversampling must be non-negative, not {}", o.oversampling);
    LOWDIM_CHECK(o.power_iterations >= 0 || o.power_iterations == automatic,
                 "mpi::rsvd: power_iterations must be non-negative, not {}", o.power_iterations);
    if (auto bad = find_non_finite<T>(a.rows))
      LOWDIM_THROW(invalid_argument, "mpi::rsvd: non-finite value {} at row {}, column {}", bad->value,
                   a.first_row + bad->row, bad->col);
  });
  const linalg::SequentialBlas sequential;  // LAPACK on the small matrices: the same bits on every rank
  const std::int64_t k = o.rank, l = std::min(k + o.oversampling, std::min(m, n));
  const int q = o.power_iterations == automatic ? (10 * k < std::min(m, n) ? 7 : 4) : o.power_iterations;
  SvdResult<T> result;
  // Y = A·Ω: every rank regenerates the same n × l test matrix from the seed (no communication).
  // gaussian and rademacher draw it exactly as lowdim::rsvd does (element (r, c) is number r·l + c
  // of RandomStream(seed, rsvd_range)); the other kinds apply SketchOperator(kind, n, l, seed).
  Matrix<T> y;
  collective(comm, [&] {
    y = Matrix<T>(a.rows.rows(), l);
    if (o.sketch == SketchKind::gaussian || o.sketch == SketchKind::rademacher) {
      auto omega = Matrix<T>::uninitialized(n, l);
      if (o.sketch == SketchKind::gaussian)
        fill_normal<T>(omega.view(), RandomStream(o.seed, StreamId::rsvd_range));
      else
        fill_rademacher<T>(omega.view(), RandomStream(o.seed, StreamId::rsvd_range));
      if (a.rows.rows() > 0)
        linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), a.rows, omega.cview(), T(0), y.view());
    } else {
      const SketchOperator omega(o.sketch, n, l, o.seed, SketchOptions{.jl_scaling = false});
      if (a.rows.rows() > 0) omega.apply<T>(a.rows, y.view());
    }
  });
  result.passes = 1;
  if (o.orthonormalize_iterations || q == 0) orthonormalize(comm, b, y, m);
  for (int it = 0; it < q; ++it) {
    // Z = AᵀQ (n × l, on every rank), orthonormalised locally (the same bits everywhere).
    Matrix<T> z = sum_of_products<T>(comm, b, a.rows, y.cview());
    if (o.orthonormalize_iterations) linalg::cholesky_qr<T>(z.view());
    auto next = Matrix<T>::uninitialized(a.rows.rows(), l);
    if (a.rows.rows() > 0)
      linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), a.rows, z.cview(), T(0), next.view());
    y = std::move(next);
    if (o.orthonormalize_iterations || it + 1 == q) orthonormalize(comm, b, y, m);
    result.passes += 2;
  }
  // B = QᵀA (l × n) by the tree, its SVD on every rank.
  Matrix<T> bt = sum_of_products<T>(comm, b, y.cview(), a.rows);
  ++result.passes;
  auto ub = Matrix<T>::uninitialized(l, l);
  std::vector<T> s(static_cast<std::size_t>(l));
  auto vt = Matrix<T>::uninitialized(l, n);
  linalg::svd<T>(bt.view(), ub.view(), std::span<T>(s), vt.view());
  result.u = Matrix<T>::uninitialized(a.rows.rows(), k);
  if (a.rows.rows() > 0)
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), y.cview(), ub.block(0, 0, l, k), T(0), result.u.view());
  result.s.assign(s.begin(), s.begin() + k);
  result.vt = Matrix<T>(k, n);
  for (std::int64_t i = 0; i < k; ++i) std::copy(vt.row(i), vt.row(i) + n, result.vt.row(i));
  // Sign convention: in each column of U the entry of largest magnitude over all ranks (the first
  // on a tie) is positive. Each rank offers (|u|, sign) of its own first maximum; rank order
  // breaks ties, so the earliest global row wins.
  std::vector<double> mine(static_cast<std::size_t>(2 * k), -1.0);
  for (std::int64_t j = 0; j < k; ++j) {
    for (std::int64_t i = 0; i < result.u.rows(); ++i) {
      const double v = std::abs(static_cast<double>(result.u(i, j)));
      if (v > mine[static_cast<std::size_t>(2 * j)]) {
        mine[static_cast<std::size_t>(2 * j)] = v;
        mine[static_cast<std::size_t>(2 * j + 1)] = result.u(i, j) < 0 ? -1.0 : 1.0;
      }
    }
  }
  std::vector<double> all(static_cast<std::size_t>(2 * k * comm.size()));
  MPI_Allgather(mine.data(), static_cast<int>(2 * k), MPI_DOUBLE, all.data(), static_cast<int>(2 * k), MPI_DOUBLE,
                comm.comm());
  comm.record(static_cast<std::int64_t>(mine.size() * sizeof(double)) * (comm.size() - 1));
  for (std::int64_t j = 0; j < k; ++j) {
    double best = -1, sign = 1;
    for (int r = 0; r < comm.size(); ++r) {
      const auto at = static_cast<std::size_t>(r) * static_cast<std::size_t>(2 * k) + static_cast<std::size_t>(2 * j);
      if (all[at] > best) best = all[at], sign = all[at + 1];
    }
    if (sign < 0) {
      for (std::int64_t i = 0; i < result.u.rows(); ++i) result.u(i, j) = -result.u(i, j);
      for (std::int64_t c = 0; c < n; ++c) result.vt(j, c) = -result.vt(j, c);
    }
  }
  result.iterations = q;
  return result;
}

template LOWDIM_API SvdResult<float> rsvd<float>(const Communicator&, const LocalRows<float>&, const RsvdOptions&);
template LOWDIM_API SvdResult<double> rsvd<double>(const Communicator&, const LocalRows<double>&, const RsvdOptions&);

}  // namespace lowdim::mpi
