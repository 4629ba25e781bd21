// The sparse family: sparse (Li, Hastie & Church), countsketch (Clarkson–Woodruff) and
// rademacher with density < 1 (Achlioptas). Row j of Sᵀ (the non-zeros of column j of S) is
// a pure function of (seed, j): positions by geometric skipping, signs from the same random
// word (countsketch: one position and sign per column). A block of rows of Sᵀ is built as a
// small CSR; rows of x are processed in tiles of 16, transposed so that each non-zero
// becomes a 16-wide vector add or subtract. Per output element the additions come in
// column order j, the same for every tile, chunking, thread count and form: the cached form
// keeps every block's CSR (type-independent) instead of rebuilding it per call.

#include "detail/omp_exception.hpp"
#include "detail/sparse_family.hpp"

#include <lowdim/random.hpp>

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <vector>

namespace lowdim::detail {
namespace {

// Expected non-zeros per block of columns.
constexpr std::int64_t kBlockElements = std::int64_t{1} << 20;
// Rows of x per tile in the sparse kernel.
constexpr int kTile = 16;

// The non-zeros of S, column by column (row j of Sᵀ), positives first: column j has
// positives index[start[j], middle[j]) and negatives index[middle[j], start[j + 1]).
struct SparseColumns {
  std::vector<std::int64_t> start, middle;
  std::vector<std::int32_t> index;
  std::int64_t bytes() const {
    return static_cast<std::int64_t>((start.size() + middle.size()) * sizeof(std::int64_t) +
                                     index.size() * sizeof(std::int32_t));
  }
};

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


class SparseFamily final : public Typed<SparseFamily> {
 public:
  SparseFamily(const OperatorDescription& description, bool cached) : Typed(description), cached_(cached) {
    const double k = static_cast<double>(desc.k);
    if (desc.kind == SketchKind::countsketch) {
      density_ = 1.0 / k;
    } else if (desc.kind == SketchKind::sparse) {
      density_ = desc.options.density == 0 ? 1.0 / std::sqrt(static_cast<double>(desc.d)) : desc.options.density;
    } else {
      density_ = desc.options.density;  // rademacher below 1
    }
    scale_ = !desc.options.jl_scaling || desc.kind == SketchKind::countsketch ? 1.0 : 1.0 / std::sqrt(k * density_);
  }

  double density() const noexcept override { return density_; }
  double scale() const noexcept override { return scale_; }
  bool cached() const noexcept override { return cached_; }
  std::shared_ptr<const OperatorImpl> materialized() const override {
    return cached_ ? shared_from_this() : std::make_shared<SparseFamily>(desc, true);
  }
  std::int64_t cached_bytes() const noexcept override { return held_bytes_.load(); }

  template <class T>
  bool apply_t(ConstMatrixView<T> x, MatrixView<T> y) const {
    const std::int64_t n = x.rows(), d = desc.d, k = desc.k, block = block_columns();
    const std::int64_t tiles = (n + kTile - 1) / kTile;
    const int threads = omp_get_max_threads();
    const std::int64_t xt_size = std::min(block, d) * kTile, yt_size = k * kTile;
    std::vector<T> buffers(static_cast<std::size_t>(threads) * static_cast<std::size_t>(xt_size + yt_size));
    int bad = 0;
    SparseColumns scratch;
    for (std::int64_t d0 = 0; d0 < d; d0 += block) {
      const std::int64_t nb = std::min(block, d - d0);
      const SparseColumns& columns = block_at(d0, nb, scratch);
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
    scale_rows(y, static_cast<T>(scale_));
    return bad == 0;
  }

  template <class T>
  void apply_transpose_t(ConstMatrixView<T> y, MatrixView<T> x) const {
    const std::int64_t n = y.rows(), d = desc.d, block = block_columns();
    const T s = static_cast<T>(scale_);
    SparseColumns scratch;
    for (std::int64_t d0 = 0; d0 < d; d0 += block) {
      const std::int64_t nb = std::min(block, d - d0);
      const SparseColumns& c = block_at(d0, nb, scratch);
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
  }

  template <class T>
  void columns_t(std::int64_t first, MatrixView<T> out) const {
    const T s = static_cast<T>(scale_);
    const SparseColumns c = build(first, out.cols());
    for (std::int64_t j = 0; j < out.cols(); ++j) {
      const auto js = static_cast<std::size_t>(j);
      for (std::int64_t e = c.start[js]; e < c.start[js + 1]; ++e)
        out(c.index[static_cast<std::size_t>(e)], j) = e < c.middle[js] ? s : -s;
    }
  }

 private:
  std::int64_t block_columns() const {
    const double per_column = std::max(1.0, static_cast<double>(desc.k) * density_);
    return std::min(desc.d, std::max<std::int64_t>(static_cast<std::int64_t>(static_cast<double>(kBlockElements) / per_column), 64));
  }

  // The CSR of columns [d0, d0 + nb) (one of the fixed blocks): from the cache, or built
  // into scratch.
  const SparseColumns& block_at(std::int64_t d0, std::int64_t nb, SparseColumns& scratch) const {
    if (!cached_) {
      scratch = build(d0, nb);
      return scratch;
    }
    std::call_once(cache_once_, [&] {
      const std::int64_t block = block_columns();
      std::int64_t bytes = 0;
      for (std::int64_t b0 = 0; b0 < desc.d; b0 += block) {
        cache_.push_back(build(b0, std::min(block, desc.d - b0)));
        bytes += cache_.back().bytes();
      }
      held_bytes_ = bytes;
    });
    return cache_[static_cast<std::size_t>(d0 / block_columns())];
  }

  // Non-zeros of column j of S (row j of Sᵀ), appended to pos / neg.
  void column(std::int64_t j, std::vector<std::int32_t>& pos, std::vector<std::int32_t>& neg) const {
    const std::int64_t k = desc.k;
    if (desc.kind == SketchKind::countsketch) {
      const RandomStream stream(desc.seed, StreamId::sketch_countsketch);
      const auto r = stream.bits(static_cast<std::uint64_t>(j));
      const std::uint64_t word = static_cast<std::uint64_t>(r[0]) | (static_cast<std::uint64_t>(r[1]) << 32);
      const auto i = static_cast<std::int32_t>(below_from_bits(word, static_cast<std::uint64_t>(k)));
      ((r[2] & 1U) ? pos : neg).push_back(i);
      return;
    }
    // Bernoulli(s) per entry by geometric skipping: the gap before the next non-zero is
    // ⌊ln(1 − u) / ln(1 − s)⌋. Draw t of column j is random word j·(k + 1) + t: its top 53
    // bits give u, its lowest bit the sign.
    const RandomStream stream(desc.seed, StreamId::sketch_sparse);
    const double log_skip = std::log1p(-density_);
    const std::uint64_t base = static_cast<std::uint64_t>(j) * static_cast<std::uint64_t>(k + 1);
    double position = -1;
    for (std::uint64_t t = 0;; ++t) {
      const std::uint64_t word = stream.bits64(base + t);
      position += 1 + std::floor(std::log1p(-uniform_from_bits(word)) / log_skip);
      if (!(position < static_cast<double>(k))) break;
      ((word & 1U) ? pos : neg).push_back(static_cast<std::int32_t>(position));
    }
  }

  // Columns [j0, j0 + count) of S as CSR (entries sorted by position within each sign).
  // Built in parallel over fixed groups of columns.
  SparseColumns build(std::int64_t j0, std::int64_t count) const {
    constexpr std::int64_t kGroup = 256;
    const std::int64_t groups = (count + kGroup - 1) / kGroup;
    std::vector<std::vector<std::int32_t>> group_index(static_cast<std::size_t>(groups));
    std::vector<std::vector<std::int64_t>> group_sizes(static_cast<std::size_t>(groups));  // pos, neg per column
    detail::OmpExceptions errors;
#pragma omp parallel for schedule(dynamic, 1) if (groups > 1 && static_cast<double>(count * desc.k) * density_ > 20000)
    for (std::int64_t g = 0; g < groups; ++g) {
      errors.run([&] {  // the vectors grow: bad_alloc must not leave the region
        std::vector<std::int32_t> pos, neg;
        auto& idx = group_index[static_cast<std::size_t>(g)];
        auto& sizes = group_sizes[static_cast<std::size_t>(g)];
        const std::int64_t end = std::min(count, (g + 1) * kGroup);
        for (std::int64_t j = g * kGroup; j < end; ++j) {
          pos.clear();
          neg.clear();
          column(j0 + j, pos, neg);
          idx.insert(idx.end(), pos.begin(), pos.end());
          idx.insert(idx.end(), neg.begin(), neg.end());
          sizes.push_back(static_cast<std::int64_t>(pos.size()));
          sizes.push_back(static_cast<std::int64_t>(neg.size()));
        }
      });
    }
    errors.rethrow();
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

  bool cached_;
  double density_ = 1, scale_ = 1;
  mutable std::once_flag cache_once_;
  mutable std::vector<SparseColumns> cache_;
  mutable std::atomic<std::int64_t> held_bytes_{0};
};

std::string check_sparse(const OperatorDescription&) { return {}; }

}  // namespace

std::shared_ptr<const OperatorImpl> make_sparse_family(const OperatorDescription& description) {
  return std::make_shared<SparseFamily>(description, false);
}

const OperatorKindEntry sparse_entry{"sparse", "very sparse ±1 entries, density 1/√d by default (Li, Hastie & Church)",
                                     kUsesDensity, check_sparse, make_sparse_family};
const OperatorKindEntry countsketch_entry{"countsketch", "one ±1 per column of S in a random row (Clarkson–Woodruff)",
                                          0, check_sparse, make_sparse_family};

}  // namespace lowdim::detail
