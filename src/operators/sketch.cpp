// Sketch operators. S is k × d; every kind is applied without forming S when it
// can be:
//   gaussian, dense rademacher  Sᵀ (d × k) is generated in blocks of rows
//       [d0, d0 + b) from the seed — element (j, i) of Sᵀ is random number
//       j·k + i of the kind's stream — and each block is one GEMM,
//       y += scale · x[:, d0:d0+b] · Sᵀ[d0:d0+b, :]. The block size depends on
//       (d, k) only, so every output element is summed in the same order
//       whatever n, the chunking of the rows or the thread count.
//   sparse, sparse rademacher, countsketch  row j of Sᵀ (the non-zeros of
//       column j of S) is a pure function of (seed, j): positions by geometric
//       skipping, signs from the same random word. A block of rows of Sᵀ is
//       built as a small CSR; rows of x are processed in tiles of 16, transposed
//       so that each non-zero becomes a 16-wide vector add/subtract.
//   srht  random signs D (d numbers) and k distinct sampled rows R of the
//       d'-point Hadamard transform (d' = 2^⌈log₂ d⌉) are drawn per call; each
//       row is padded, signed, transformed in place and gathered.

#include <lowdim/fwht.hpp>
#include <lowdim/random.hpp>
#include <lowdim/sketch.hpp>

#include "detail/fwht_kernel.hpp"
#include "detail/dense_kernel.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lowdim {
namespace {

// Stream ids: one per kind (and purpose), so kinds sharing a seed are independent.
constexpr std::uint64_t kStreamGaussian = 0x5301;
constexpr std::uint64_t kStreamRademacher = 0x5302;
constexpr std::uint64_t kStreamSparse = 0x5303;
constexpr std::uint64_t kStreamSrhtSigns = 0x5304;
constexpr std::uint64_t kStreamSrhtRows = 0x5305;
constexpr std::uint64_t kStreamCountSketch = 0x5306;

// Generated elements of Sᵀ per block (dense) or expected non-zeros per block (sparse).
constexpr std::int64_t kBlockElements = std::int64_t{1} << 20;
// Rows of x per tile in the sparse kernel.
constexpr int kTile = 16;

constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;

// Sparse family: the non-zeros of S, column by column (row j of Sᵀ), positives
// first: column j has positives index[start[j], middle[j]) and negatives
// index[middle[j], start[j + 1]).
struct SparseColumns {
  std::vector<std::int64_t> start, middle;
  std::vector<std::int32_t> index;
};

// True when some element of a shares memory with some element of b (strided
// views of one buffer may interleave without overlapping). O(a.rows()).
template <class T>
bool overlaps(ConstMatrixView<T> a, MatrixView<T> b) {
  if (a.empty() || b.empty()) return false;
  const auto address = [](const T* p) { return static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(p)); };
  const std::int64_t size = sizeof(T);
  const std::int64_t b0 = address(b.data()), b_stride = b.stride() * size, b_len = b.cols() * size;
  const std::int64_t a_len = a.cols() * size;
  const std::int64_t b_end = address(b.row(b.rows() - 1)) + b_len;
  for (std::int64_t i = 0; i < a.rows(); ++i) {
    const std::int64_t p = address(a.row(i));
    if (p + a_len <= b0 || p >= b_end) continue;
    // First row r of b that ends after p: b0 + r·stride + b_len > p.
    const std::int64_t r = b_stride == 0 ? 0 : std::max<std::int64_t>(0, (p - b_len - b0) / b_stride + 1);
    for (std::int64_t q = std::max<std::int64_t>(0, r - 1); q <= r + 1 && q < b.rows(); ++q) {
      const std::int64_t start = b0 + q * b_stride;
      if (start < p + a_len && start + b_len > p) return true;
    }
  }
  return false;
}

// m ← s·m (nothing when s = 1).
template <class T>
void scale_rows(MatrixView<T> m, T s) {
  if (s == T(1)) return;
#pragma omp parallel for schedule(static) if (m.size() > 100000)
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    T* row = m.row(r);
    for (std::int64_t i = 0; i < m.cols(); ++i) row[i] *= s;
  }
}

// ---- the sparse tile kernel ----
// yt (k × 16) += ± xt (columns × 16) row by row of the CSR: each non-zero adds
// or subtracts one 16-wide row. Per output element the additions come in
// column order j, the same for every tile, chunking and thread count.

template <class T>
void sparse_tile_plain(const SparseColumns& s, std::int64_t columns, const T* xt, T* yt) noexcept {
  for (std::int64_t j = 0; j < columns; ++j) {
    const T* xv = xt + j * kTile;
    const auto js = static_cast<std::size_t>(j);
    for (std::int64_t e = s.start[js]; e < s.middle[js]; ++e) {
      T* yv = yt + static_cast<std::int64_t>(s.index[static_cast<std::size_t>(e)]) * kTile;
      for (int t = 0; t < kTile; ++t) yv[t] += xv[t];
    }
    for (std::int64_t e = s.middle[js]; e < s.start[js + 1]; ++e) {
      T* yv = yt + static_cast<std::int64_t>(s.index[static_cast<std::size_t>(e)]) * kTile;
      for (int t = 0; t < kTile; ++t) yv[t] -= xv[t];
    }
  }
}

[[gnu::target("avx2")]] void sparse_tile_avx2(const SparseColumns& s, std::int64_t columns, const float* xt,
                                              float* yt) noexcept {
  static_assert(kTile == 16);
  const std::int64_t* start = s.start.data();
  const std::int64_t* middle = s.middle.data();
  const std::int32_t* index = s.index.data();
  for (std::int64_t j = 0; j < columns; ++j) {
    const __m256 x0 = _mm256_loadu_ps(xt + j * 16), x1 = _mm256_loadu_ps(xt + j * 16 + 8);
    const std::int64_t mid = middle[j], end = start[j + 1];
    for (std::int64_t e = start[j]; e < mid; ++e) {
      float* yv = yt + static_cast<std::int64_t>(index[e]) * 16;
      _mm256_storeu_ps(yv, _mm256_add_ps(_mm256_loadu_ps(yv), x0));
      _mm256_storeu_ps(yv + 8, _mm256_add_ps(_mm256_loadu_ps(yv + 8), x1));
    }
    for (std::int64_t e = mid; e < end; ++e) {
      float* yv = yt + static_cast<std::int64_t>(index[e]) * 16;
      _mm256_storeu_ps(yv, _mm256_sub_ps(_mm256_loadu_ps(yv), x0));
      _mm256_storeu_ps(yv + 8, _mm256_sub_ps(_mm256_loadu_ps(yv + 8), x1));
    }
  }
}

[[gnu::target("avx2")]] void sparse_tile_avx2(const SparseColumns& s, std::int64_t columns, const double* xt,
                                              double* yt) noexcept {
  const std::int64_t* start = s.start.data();
  const std::int64_t* middle = s.middle.data();
  const std::int32_t* index = s.index.data();
  for (std::int64_t j = 0; j < columns; ++j) {
    __m256d x[4];
    for (int q = 0; q < 4; ++q) x[q] = _mm256_loadu_pd(xt + j * 16 + 4 * q);
    const std::int64_t mid = middle[j], end = start[j + 1];
    for (std::int64_t e = start[j]; e < end; ++e) {
      double* yv = yt + static_cast<std::int64_t>(index[e]) * 16;
      if (e < mid)
        for (int q = 0; q < 4; ++q) _mm256_storeu_pd(yv + 4 * q, _mm256_add_pd(_mm256_loadu_pd(yv + 4 * q), x[q]));
      else
        for (int q = 0; q < 4; ++q) _mm256_storeu_pd(yv + 4 * q, _mm256_sub_pd(_mm256_loadu_pd(yv + 4 * q), x[q]));
    }
  }
}

// Additions and subtractions are exact IEEE operations lane by lane, so the
// AVX2 and the plain kernels give identical bits.
template <class T>
void sparse_tile(const SparseColumns& s, std::int64_t columns, const T* xt, T* yt) noexcept {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2)
    sparse_tile_avx2(s, columns, xt, yt);
  else
    sparse_tile_plain(s, columns, xt, yt);
}

}  // namespace

const char* to_string(SketchKind kind) noexcept {
  switch (kind) {
    case SketchKind::gaussian: return "gaussian";
    case SketchKind::rademacher: return "rademacher";
    case SketchKind::sparse: return "sparse";
    case SketchKind::srht: return "srht";
    case SketchKind::countsketch: return "countsketch";
  }
  return "unknown";
}

SketchKind parse_sketch_kind(std::string_view name) {
  for (auto kind : {SketchKind::gaussian, SketchKind::rademacher, SketchKind::sparse, SketchKind::srht,
                    SketchKind::countsketch})
    if (name == to_string(kind)) return kind;
  LOWDIM_THROW(invalid_argument, "sketch: unknown kind '{}' (valid: gaussian, rademacher, sparse, srht, countsketch)",
               name);
}

SketchOperator::SketchOperator(SketchKind kind, std::int64_t input_dim, std::int64_t output_dim, std::uint64_t seed,
                               SketchOptions options)
    : kind_(kind), input_dim_(input_dim), output_dim_(output_dim), seed_(seed), options_(options) {
  const char* name = to_string(kind);
  LOWDIM_CHECK(input_dim >= 1, "sketch {}: input dimension d = {} must be positive", name, input_dim);
  LOWDIM_CHECK(output_dim >= 1, "sketch {}: output dimension k = {} must be positive", name, output_dim);
  LOWDIM_CHECK(output_dim <= INT_MAX, "sketch {}: output dimension k = {} exceeds {}", name, output_dim, INT_MAX);
  // Random-number indices run up to d·(k + 1); they must not wrap around 2^64.
  LOWDIM_CHECK(input_dim <= (std::int64_t{1} << 62) / (output_dim + 1),
               "sketch {}: d x k = {} x {} is too large for the random-number index space", name, input_dim,
               output_dim);
  LOWDIM_CHECK(options.density == 0 || (options.density > 0 && options.density <= 1),
               "sketch {}: density {} is outside (0, 1] (0 selects the default)", name, options.density);
  LOWDIM_CHECK(kind != SketchKind::srht || output_dim <= input_dim,
               "sketch srht: output dimension k = {} exceeds the input dimension d = {}", output_dim, input_dim);
}

double SketchOperator::density() const noexcept {
  switch (kind_) {
    case SketchKind::rademacher: return options_.density == 0 ? 1.0 : options_.density;
    case SketchKind::sparse:
      return options_.density == 0 ? 1.0 / std::sqrt(static_cast<double>(input_dim_)) : options_.density;
    case SketchKind::countsketch: return 1.0 / static_cast<double>(output_dim_);
    default: return 1.0;
  }
}

double SketchOperator::scale() const noexcept {
  if (!options_.jl_scaling || kind_ == SketchKind::countsketch) return 1.0;
  const double k = static_cast<double>(output_dim_);
  if (kind_ == SketchKind::rademacher || kind_ == SketchKind::sparse) return 1.0 / std::sqrt(k * density());
  return 1.0 / std::sqrt(k);
}

std::int64_t SketchOperator::padded_dim() const noexcept {
  if (kind_ != SketchKind::srht) return input_dim_;
  std::int64_t p = 1;
  while (p < input_dim_) p *= 2;
  return p;
}

// ---------------------------------------------------------------------------
// The implementation, one helper object per call (private to this file).

namespace {

struct Plan {
  const SketchOperator& op;
  std::int64_t d, k;
  double scale;

  explicit Plan(const SketchOperator& o)
      : op(o), d(o.input_dim()), k(o.output_dim()), scale(o.scale()) {}

  bool dense() const {
    return op.kind() == SketchKind::gaussian || (op.kind() == SketchKind::rademacher && op.density() == 1.0);
  }
  bool sparse_family() const {
    return op.kind() == SketchKind::sparse || op.kind() == SketchKind::countsketch ||
           (op.kind() == SketchKind::rademacher && op.density() < 1.0);
  }

  // ---- dense ----
  std::int64_t dense_block() const { return std::min(d, std::max<std::int64_t>(kBlockElements / k, 16)); }

  // Rows [j0, j0 + out.rows()) of the raw (unscaled) Sᵀ into out (rows × k).
  template <class T>
  void generate_dense(MatrixView<T> out, std::int64_t j0) const {
    const auto first = static_cast<std::uint64_t>(j0) * static_cast<std::uint64_t>(k);
    if (op.kind() == SketchKind::gaussian)
      fill_normal<T>(out, RandomStream(op.seed(), kStreamGaussian), first);
    else
      fill_rademacher<T>(out, RandomStream(op.seed(), kStreamRademacher), first);
  }

  // ---- sparse family ----
  std::int64_t sparse_block() const {
    const double per_column = std::max(1.0, static_cast<double>(k) * op.density());
    return std::min(d, std::max<std::int64_t>(static_cast<std::int64_t>(static_cast<double>(kBlockElements) / per_column), 64));
  }

  // Non-zeros of column j of S (row j of Sᵀ), appended to pos / neg.
  void sparse_column(std::int64_t j, std::vector<std::int32_t>& pos, std::vector<std::int32_t>& neg) const {
    if (op.kind() == SketchKind::countsketch) {
      const auto r = RandomStream(op.seed(), kStreamCountSketch).bits(static_cast<std::uint64_t>(j));
      const std::uint64_t word = static_cast<std::uint64_t>(r[0]) | (static_cast<std::uint64_t>(r[1]) << 32);
      __extension__ using u128 = unsigned __int128;
      const auto i = static_cast<std::int32_t>((static_cast<u128>(word) * static_cast<std::uint64_t>(k)) >> 64);
      ((r[2] & 1U) ? pos : neg).push_back(i);
      return;
    }
    // Bernoulli(s) per entry by geometric skipping: the gap before the next
    // non-zero is ⌊ln(1 − u) / ln(1 − s)⌋. Draw t of column j is random word
    // j·(k + 1) + t: its top 53 bits give u, its lowest bit the sign.
    const RandomStream stream(op.seed(), kStreamSparse);
    const double log_skip = std::log1p(-op.density());
    const std::uint64_t base = static_cast<std::uint64_t>(j) * static_cast<std::uint64_t>(k + 1);
    double position = -1;
    for (std::uint64_t t = 0;; ++t) {
      const std::uint64_t word = stream.bits64(base + t);
      const double u = static_cast<double>(word >> 11) * kTwoPow53Inv;
      position += 1 + std::floor(std::log1p(-u) / log_skip);
      if (!(position < static_cast<double>(k))) break;
      ((word & 1U) ? pos : neg).push_back(static_cast<std::int32_t>(position));
    }
  }

  // Columns [j0, j0 + count) of S as CSR (entries sorted by position within
  // each sign). Built in parallel over fixed groups of columns.
  SparseColumns build_sparse(std::int64_t j0, std::int64_t count) const {
    constexpr std::int64_t kGroup = 256;
    const std::int64_t groups = (count + kGroup - 1) / kGroup;
    std::vector<std::vector<std::int32_t>> group_index(static_cast<std::size_t>(groups));
    std::vector<std::vector<std::int64_t>> group_sizes(static_cast<std::size_t>(groups));  // pos, neg per column
#pragma omp parallel for schedule(dynamic, 1) if (groups > 1 && count * k * op.density() > 20000)
    for (std::int64_t g = 0; g < groups; ++g) {
      std::vector<std::int32_t> pos, neg;
      auto& idx = group_index[static_cast<std::size_t>(g)];
      auto& sizes = group_sizes[static_cast<std::size_t>(g)];
      const std::int64_t end = std::min(count, (g + 1) * kGroup);
      for (std::int64_t j = g * kGroup; j < end; ++j) {
        pos.clear();
        neg.clear();
        sparse_column(j0 + j, pos, neg);
        idx.insert(idx.end(), pos.begin(), pos.end());
        idx.insert(idx.end(), neg.begin(), neg.end());
        sizes.push_back(static_cast<std::int64_t>(pos.size()));
        sizes.push_back(static_cast<std::int64_t>(neg.size()));
      }
    }
    SparseColumns s;
    s.start.reserve(static_cast<std::size_t>(count + 1));
    s.middle.reserve(static_cast<std::size_t>(count));
    std::int64_t offset = 0;
    for (std::int64_t g = 0; g < groups; ++g) {
      const auto& sizes = group_sizes[static_cast<std::size_t>(g)];
      for (std::size_t c = 0; c < sizes.size(); c += 2) {
        s.start.push_back(offset);
        s.middle.push_back(offset + sizes[c]);
        offset += sizes[c] + sizes[c + 1];
      }
      const auto& idx = group_index[static_cast<std::size_t>(g)];
      s.index.insert(s.index.end(), idx.begin(), idx.end());
    }
    s.start.push_back(offset);
    return s;
  }

  // ---- srht ----
  template <class T>
  std::vector<T> srht_signs() const {
    Matrix<T> signs(1, d);
    fill_rademacher<T>(signs.view(), RandomStream(op.seed(), kStreamSrhtSigns));
    return std::vector<T>(signs.data(), signs.data() + d);
  }
  std::vector<std::int64_t> srht_rows() const {
    return sample_without_replacement(op.padded_dim(), k, RandomStream(op.seed(), kStreamSrhtRows));
  }

  // ---- apply: y = x Sᵀ ----
  // Returns false when the input may hold a non-finite value: the sparse and
  // srht paths detect it while they read x (saving a pass over the input);
  // the dense path checks x first.
  template <class T>
  bool apply(ConstMatrixView<T> x, MatrixView<T> y, const char* name) const {
    const std::int64_t n = x.rows();
    if (dense()) {
      check_finite(x, fmt::format("sketch {} apply: input", name));
      // y = scale · Σ_blocks x[:, block] · Sᵀ[block, :], each element one fma chain over j.
      const std::int64_t block = dense_block();
      auto st = Matrix<T>::uninitialized(std::min(block, d), k);
      std::vector<T> packed(static_cast<std::size_t>(detail::packed_size<T>(std::min(block, d), k)));
      for (std::int64_t d0 = 0; d0 < d; d0 += block) {
        const std::int64_t nb = std::min(block, d - d0);
        auto s_block = st.view().row_block(0, nb);
        generate_dense(s_block, d0);
        detail::pack_panels(s_block.data(), nb, k, k, 1, packed.data());
        detail::multiply_packed<T>({.a = x.row(0) + d0, .lda = x.stride(), .m = n, .inner = nb,
                                    .packed = packed.data(), .n = k, .c = y.data(), .ldc = y.stride(),
                                    .accumulate = d0 > 0});
      }
      scale_rows(y, static_cast<T>(scale));
      return true;
    }
    return sparse_family() ? apply_sparse(x, y) : apply_srht(x, y);
  }

  template <class T>
  bool apply_sparse(ConstMatrixView<T> x, MatrixView<T> y) const {
    const std::int64_t n = x.rows(), block = sparse_block();
    const std::int64_t tiles = (n + kTile - 1) / kTile;
    const int threads = omp_get_max_threads();
    const std::int64_t xt_size = std::min(block, d) * kTile, yt_size = k * kTile;
    std::vector<T> buffers(static_cast<std::size_t>(threads) * static_cast<std::size_t>(xt_size + yt_size));
    int bad = 0;
    for (std::int64_t d0 = 0; d0 < d; d0 += block) {
      const std::int64_t nb = std::min(block, d - d0);
      const SparseColumns columns = build_sparse(d0, nb);
      const bool first = d0 == 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (tiles > 1 && n * nb > 50000)
      for (std::int64_t tile = 0; tile < tiles; ++tile) {
        T* xt = buffers.data() + static_cast<std::size_t>(omp_get_thread_num()) * static_cast<std::size_t>(xt_size + yt_size);
        T* yt = xt + xt_size;
        const std::int64_t r0 = tile * kTile, rows = std::min<std::int64_t>(kTile, n - r0);
        // Transpose the tile of x (unused lanes zero) and load the partial sums of y.
        if (rows < kTile) std::fill_n(xt, nb * kTile, T(0));
        T probe = 0;  // becomes NaN if any input is NaN or ±Inf (v·0)
        for (std::int64_t t = 0; t < rows; ++t) {
          const T* xr = x.row(r0 + t) + d0;
          for (std::int64_t j = 0; j < nb; ++j) {
            xt[j * kTile + t] = xr[j];
            probe += xr[j] * T(0);
          }
        }
        bad |= probe != probe;
        if (first || rows < kTile) std::fill_n(yt, k * kTile, T(0));
        if (!first)
          for (std::int64_t t = 0; t < rows; ++t) {
            const T* yr = y.row(r0 + t);
            for (std::int64_t i = 0; i < k; ++i) yt[i * kTile + t] = yr[i];
          }
        sparse_tile(columns, nb, xt, yt);
        for (std::int64_t t = 0; t < rows; ++t) {
          T* yr = y.row(r0 + t);
          for (std::int64_t i = 0; i < k; ++i) yr[i] = yt[i * kTile + t];
        }
      }
    }
    scale_rows(y, static_cast<T>(scale));
    return bad == 0;
  }

  template <class T>
  bool apply_srht(ConstMatrixView<T> x, MatrixView<T> y) const {
    const std::int64_t n = x.rows(), padded = op.padded_dim();
    const std::vector<T> signs = srht_signs<T>();
    const std::vector<std::int64_t> rows = srht_rows();
    const int threads = omp_get_max_threads();
    auto buffers = Matrix<T>::uninitialized(threads, padded);
    const T s = static_cast<T>(scale);
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (n > 1 && n * padded > 20000)
    for (std::int64_t r = 0; r < n; ++r) {
      T* __restrict buf = buffers.row(omp_get_thread_num());
      const T* __restrict xr = x.row(r);
      for (std::int64_t j = 0; j < d; ++j) buf[j] = xr[j] * signs[static_cast<std::size_t>(j)];
      std::fill(buf + d, buf + padded, T(0));
      detail::fwht_row(buf, padded);
      T* __restrict yr = y.row(r);
      // Every output of the transform sums every input, so a NaN or ±Inf in
      // the row reaches every output (an overflow may too: then the recheck
      // of the input finds nothing and the call succeeds).
      T probe = 0;
      for (std::int64_t t = 0; t < k; ++t) {
        yr[t] = buf[rows[static_cast<std::size_t>(t)]] * s;
        probe += yr[t] * T(0);
      }
      bad |= probe != probe;
    }
    return bad == 0;
  }

  // ---- apply_transpose: x = y S ----
  template <class T>
  void apply_transpose(ConstMatrixView<T> y, MatrixView<T> x) const {
    const std::int64_t n = y.rows();
    if (dense()) {
      // x[:, block] = scale · y · Sᵀ[block, :]ᵀ, each element one fma chain over the k outputs.
      const std::int64_t block = dense_block();
      auto st = Matrix<T>::uninitialized(std::min(block, d), k);
      std::vector<T> packed(static_cast<std::size_t>(detail::packed_size<T>(k, std::min(block, d))));
      for (std::int64_t d0 = 0; d0 < d; d0 += block) {
        const std::int64_t nb = std::min(block, d - d0);
        auto s_block = st.view().row_block(0, nb);
        generate_dense(s_block, d0);
        detail::pack_panels(s_block.data(), k, nb, 1, k, packed.data());
        detail::multiply_packed<T>({.a = y.row(0), .lda = y.stride(), .m = n, .inner = k, .packed = packed.data(),
                                    .n = nb, .c = x.row(0) + d0, .ldc = x.stride()});
      }
      scale_rows(x, static_cast<T>(scale));
    } else if (sparse_family()) {
      const std::int64_t block = sparse_block();
      const T s = static_cast<T>(scale);
      for (std::int64_t d0 = 0; d0 < d; d0 += block) {
        const std::int64_t nb = std::min(block, d - d0);
        const SparseColumns c = build_sparse(d0, nb);
#pragma omp parallel for schedule(static) if (n > 1 && n * nb > 50000)
        for (std::int64_t r = 0; r < n; ++r) {
          const T* yr = y.row(r);
          T* xr = x.row(r) + d0;
          for (std::int64_t j = 0; j < nb; ++j) {
            const auto js = static_cast<std::size_t>(j);
            T sum = 0;
            for (std::int64_t e = c.start[js]; e < c.middle[js]; ++e) sum += yr[c.index[static_cast<std::size_t>(e)]];
            for (std::int64_t e = c.middle[js]; e < c.start[js + 1]; ++e) sum -= yr[c.index[static_cast<std::size_t>(e)]];
            xr[j] = sum * s;
          }
        }
      }
    } else {
      const std::int64_t padded = op.padded_dim();
      const std::vector<T> signs = srht_signs<T>();
      const std::vector<std::int64_t> rows = srht_rows();
      const int threads = omp_get_max_threads();
      auto buffers = Matrix<T>::uninitialized(threads, padded);
      const T s = static_cast<T>(scale);
#pragma omp parallel for schedule(static) if (n > 1 && n * padded > 20000)
      for (std::int64_t r = 0; r < n; ++r) {
        T* __restrict buf = buffers.row(omp_get_thread_num());
        std::fill(buf, buf + padded, T(0));
        const T* __restrict yr = y.row(r);
        for (std::int64_t t = 0; t < k; ++t) buf[rows[static_cast<std::size_t>(t)]] = yr[t];
        detail::fwht_row(buf, padded);
        T* __restrict xr = x.row(r);
        for (std::int64_t j = 0; j < d; ++j) xr[j] = buf[j] * signs[static_cast<std::size_t>(j)] * s;
      }
    }
  }

  // ---- S[:, first : first + count] ----
  template <class T>
  Matrix<T> columns(std::int64_t first, std::int64_t count) const {
    Matrix<T> out(k, count);
    if (count == 0) return out;
    const T s = static_cast<T>(scale);
    if (dense()) {
      auto st = Matrix<T>::uninitialized(count, k);
      generate_dense(st.view(), first);
      for (std::int64_t j = 0; j < count; ++j)
        for (std::int64_t i = 0; i < k; ++i) out(i, j) = st(j, i) * s;
    } else if (sparse_family()) {
      const SparseColumns c = build_sparse(first, count);
      for (std::int64_t j = 0; j < count; ++j) {
        const auto js = static_cast<std::size_t>(j);
        for (std::int64_t e = c.start[js]; e < c.start[js + 1]; ++e)
          out(c.index[static_cast<std::size_t>(e)], j) = e < c.middle[js] ? s : -s;
      }
    } else {
      const std::vector<T> signs = srht_signs<T>();
      const std::vector<std::int64_t> rows = srht_rows();
      for (std::int64_t i = 0; i < k; ++i) {
        const auto row = static_cast<std::uint64_t>(rows[static_cast<std::size_t>(i)]);
        for (std::int64_t j = 0; j < count; ++j) {
          const bool negative = std::popcount(row & static_cast<std::uint64_t>(first + j)) & 1;
          const T v = signs[static_cast<std::size_t>(first + j)] * s;
          out(i, j) = negative ? -v : v;
        }
      }
    }
    return out;
  }
};

}  // namespace

template <class T>
void SketchOperator::apply(In<T> x, MatrixView<T> y) const {
  const char* name = to_string(kind_);
  LOWDIM_CHECK_SHAPE(x.cols() == input_dim_, "sketch {} apply: input has {} columns, the input dimension d is {}",
                     name, x.cols(), input_dim_);
  LOWDIM_CHECK_SHAPE(y.rows() == x.rows() && y.cols() == output_dim_,
                     "sketch {} apply: output is {} x {}, expected {} x {} (n x k)", name, y.rows(), y.cols(),
                     x.rows(), output_dim_);
  LOWDIM_CHECK(!overlaps(x, y), "sketch {} apply: input and output overlap", name);
  if (x.rows() == 0) return;
  if (!Plan(*this).apply(x, y, name)) check_finite(x, fmt::format("sketch {} apply: input", name));
}

template <class T>
void SketchOperator::apply_transpose(In<T> y, MatrixView<T> x) const {
  const char* name = to_string(kind_);
  LOWDIM_CHECK_SHAPE(y.cols() == output_dim_,
                     "sketch {} apply_transpose: input has {} columns, the output dimension k is {}", name, y.cols(),
                     output_dim_);
  LOWDIM_CHECK_SHAPE(x.rows() == y.rows() && x.cols() == input_dim_,
                     "sketch {} apply_transpose: output is {} x {}, expected {} x {} (n x d)", name, x.rows(),
                     x.cols(), y.rows(), input_dim_);
  LOWDIM_CHECK(!overlaps(y, x), "sketch {} apply_transpose: input and output overlap", name);
  if (y.rows() == 0) return;
  check_finite(y, fmt::format("sketch {} apply_transpose: input", name));
  Plan(*this).apply_transpose(y, x);
}

template <class T>
Matrix<T> SketchOperator::materialize() const {
  return Plan(*this).columns<T>(0, input_dim_);
}

template <class T>
Matrix<T> SketchOperator::materialize_columns(std::int64_t first, std::int64_t count) const {
  LOWDIM_CHECK(first >= 0 && count >= 0 && first <= input_dim_ - count,
               "sketch {} materialize_columns: columns [{}, {}) are outside [0, {})", to_string(kind_), first,
               first + count, input_dim_);
  return Plan(*this).columns<T>(first, count);
}

#define LOWDIM_INSTANTIATE(T)                                                                      \
  template LOWDIM_API void SketchOperator::apply<T>(In<T>, MatrixView<T>) const;                   \
  template LOWDIM_API void SketchOperator::apply_transpose<T>(In<T>, MatrixView<T>) const;         \
  template LOWDIM_API Matrix<T> SketchOperator::materialize<T>() const;                            \
  template LOWDIM_API Matrix<T> SketchOperator::materialize_columns<T>(std::int64_t, std::int64_t) const;
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
