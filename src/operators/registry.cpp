// The operator registry and what is the same for every kind: the table of kinds,
// name parsing, validation of descriptions, the checks around apply (shapes,
// overlap, non-finite input) and the row-wise rescaling of extreme rows. Each
// kind lives in its own file and only computes (detail/operator_kind.hpp).

#include "detail/operator_kind.hpp"

#include <lowdim/io.hpp>
#include <lowdim/sketch.hpp>

#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <limits>
#include <vector>

namespace lowdim {

// ---- the table: adding a kind is one entry here and one file ----
const SketchKind SketchKind::gaussian{&detail::gaussian_entry};
const SketchKind SketchKind::rademacher{&detail::rademacher_entry};
const SketchKind SketchKind::sparse{&detail::sparse_entry};
const SketchKind SketchKind::srht{&detail::srht_entry};
const SketchKind SketchKind::countsketch{&detail::countsketch_entry};
const SketchKind SketchKind::orthogonal{&detail::orthogonal_entry};
const SketchKind SketchKind::structured_orthogonal{&detail::structured_orthogonal_entry};
const SketchKind SketchKind::hadamard_rotation{&detail::hadamard_rotation_entry};
const SketchKind SketchKind::simplex{&detail::simplex_entry};

namespace {
const std::array<SketchKind, 9> kKinds = {
    SketchKind{&detail::gaussian_entry},    SketchKind{&detail::rademacher_entry},
    SketchKind{&detail::sparse_entry},      SketchKind{&detail::srht_entry},
    SketchKind{&detail::countsketch_entry}, SketchKind{&detail::orthogonal_entry},
    SketchKind{&detail::structured_orthogonal_entry}, SketchKind{&detail::hadamard_rotation_entry},
    SketchKind{&detail::simplex_entry}};

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

std::string normalized(std::string_view name) {
  std::string s(name);
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

// An output row needs the rescaled path when it is not finite (overflow, or a non-finite
// input) or when its largest entry is below 2^(min_exponent + digits): an image that
// small lost bits in the denormals, or its input did.
template <class T>
bool needs_rescale(const T* row, std::int64_t n) {
  constexpr T tiny = std::numeric_limits<T>::min() * static_cast<T>(std::uint64_t{1} << (std::numeric_limits<T>::digits - 1));
  T largest = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = std::abs(row[i]);
    if (!(v <= std::numeric_limits<T>::max())) return true;  // NaN or ±Inf
    largest = std::max(largest, v);
  }
  return largest < tiny;
}

// Recomputes the rows of `out` flagged by needs_rescale, all in one call of f, from copies of
// their inputs scaled by powers of two (each row's largest entry into [1, 2)):
// out_i = 2^−e_i·f(2^e_i·in_i). The scaling is exact, so the result is f(in_i) up to one more
// rounding where it is representable; numerical_error where it is not. A row of zeros is
// left as is (its image is exactly zero). `in` is known to be finite.
template <class T, class Fn>
void rescale_rows(ConstMatrixView<T> in, MatrixView<T> out, const char* what, const char* name, Fn f) {
  std::vector<std::int64_t> rows;
  std::vector<int> exponents;
  for (std::int64_t r = 0; r < out.rows(); ++r) {
    if (!needs_rescale(out.row(r), out.cols())) continue;
    const T* x = in.row(r);
    T largest = 0;
    for (std::int64_t j = 0; j < in.cols(); ++j) largest = std::max(largest, std::abs(x[j]));
    if (largest == T(0)) continue;
    rows.push_back(r);
    exponents.push_back(-std::ilogb(largest));
  }
  if (rows.empty()) return;
  const auto count = static_cast<std::int64_t>(rows.size());
  auto scaled_in = Matrix<T>::uninitialized(count, in.cols());
  auto scaled_out = Matrix<T>::uninitialized(count, out.cols());
  for (std::int64_t i = 0; i < count; ++i) {
    const T* x = in.row(rows[static_cast<std::size_t>(i)]);
    const int e = exponents[static_cast<std::size_t>(i)];
    for (std::int64_t j = 0; j < in.cols(); ++j) scaled_in(i, j) = std::ldexp(x[j], e);
  }
  f(scaled_in.cview(), scaled_out.view());
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t r = rows[static_cast<std::size_t>(i)];
    const int e = exponents[static_cast<std::size_t>(i)];
    T* y = out.row(r);
    for (std::int64_t j = 0; j < out.cols(); ++j) {
      y[j] = std::ldexp(scaled_out(i, j), -e);
      if (!std::isfinite(y[j]))
        LOWDIM_THROW(numerical_error, "sketch {} {}: row {}: the image exceeds the {} range (entry {} is about 2^{})",
                     name, what, r, sizeof(T) == 4 ? "float32" : "float64", j, std::ilogb(scaled_out(i, j)) - e);
    }
  }
}

}  // namespace

SketchKind::SketchKind() noexcept : entry_(&detail::gaussian_entry) {}
const char* SketchKind::name() const noexcept { return entry_->name; }
const char* SketchKind::summary() const noexcept { return entry_->summary; }

bool SketchKind::uses_density() const noexcept { return (entry_->options_used & detail::kUsesDensity) != 0; }
bool SketchKind::uses_row_norms() const noexcept { return (entry_->options_used & detail::kUsesRowNorms) != 0; }

SketchOptions SketchKind::own_options(const SketchOptions& shared) const noexcept {
  SketchOptions own = shared;
  if (!uses_density()) own.density = 0;
  if (!uses_row_norms()) own.row_norms = RowNorms::chi;
  return own;
}

std::string SketchKind::check(std::int64_t input_dim, std::int64_t output_dim, const SketchOptions& options) const {
  const char* kind = name();
  if (input_dim < 1) return fmt::format("sketch {}: input dimension d = {} must be positive", kind, input_dim);
  if (output_dim < 1) return fmt::format("sketch {}: output dimension k = {} must be positive", kind, output_dim);
  if (output_dim > INT_MAX) return fmt::format("sketch {}: output dimension k = {} exceeds {}", kind, output_dim, INT_MAX);
  // Random-number indices run up to about d·(k + 1); they must not wrap around 2^64.
  if (input_dim > (std::int64_t{1} << 62) / (output_dim + 1))
    return fmt::format("sketch {}: d x k = {} x {} is too large for the random-number index space", kind, input_dim,
                       output_dim);
  if (entry_->options_used & detail::kUsesDensity) {
    // Below 1/(d·k), S is zero with high probability and its scale 1/√(k·density) is huge.
    const double least = 1.0 / (static_cast<double>(input_dim) * static_cast<double>(output_dim));
    if (!(options.density == 0 || (options.density >= least && options.density <= 1)))
      return fmt::format("sketch {}: density {} is outside [1/(d k), 1] = [{:.3g}, 1] for d = {}, k = {} (0 selects "
                         "the default)",
                         kind, options.density, least, input_dim, output_dim);
  } else if (options.density != 0) {
    return fmt::format("sketch {}: the kind has no density option (got {}; only rademacher and sparse take one)", kind,
                       options.density);
  }
  if (!(entry_->options_used & detail::kUsesRowNorms) && options.row_norms != RowNorms::chi)
    return fmt::format("sketch {}: the kind has no row-norm option (only orthogonal and simplex take one)", kind);
  return entry_->check(detail::OperatorDescription{*this, input_dim, output_dim, 0, options});
}

std::span<const SketchKind> sketch_kinds() noexcept { return kKinds; }

std::string sketch_kind_names() {
  std::string names;
  for (const auto& kind : kKinds) names += (names.empty() ? "" : ", ") + std::string(kind.name());
  return names;
}

const char* to_string(SketchKind kind) noexcept { return kind.name(); }

const char* to_string(RowNorms norms) noexcept { return norms == RowNorms::sqrt_d ? "sqrt_d" : "chi"; }

RowNorms parse_row_norms(std::string_view name) {
  const std::string wanted = normalized(name);
  if (wanted == "chi") return RowNorms::chi;
  if (wanted == "sqrt_d") return RowNorms::sqrt_d;
  LOWDIM_THROW(invalid_argument, "sketch: unknown row norms '{}' (valid: chi, sqrt_d)", name);
}

SketchKind parse_sketch_kind(std::string_view name) {
  const std::string wanted = normalized(name);
  for (const auto& kind : kKinds)
    if (wanted == kind.name()) return kind;
  LOWDIM_THROW(invalid_argument, "sketch: unknown kind '{}' (valid: {})", name, sketch_kind_names());
}

SketchOperator::SketchOperator(SketchKind kind, std::int64_t input_dim, std::int64_t output_dim, std::uint64_t seed,
                               SketchOptions options)
    : kind_(kind), input_dim_(input_dim), output_dim_(output_dim), seed_(seed), options_(options) {
  const std::string why = kind.check(input_dim, output_dim, options);
  if (!why.empty()) throw invalid_argument(why);
  impl_ = kind.entry().make(detail::OperatorDescription{kind, input_dim, output_dim, seed, options});
}

double SketchOperator::density() const noexcept { return impl_->density(); }
double SketchOperator::scale() const noexcept { return impl_->scale(); }
std::int64_t SketchOperator::padded_dim() const noexcept { return impl_->padded_dim(); }
bool SketchOperator::orthogonal() const noexcept { return impl_->gram_scale() > 0; }
double SketchOperator::gram_scale() const noexcept { return impl_->gram_scale(); }
bool SketchOperator::cached() const noexcept { return impl_->cached(); }
std::int64_t SketchOperator::cached_bytes() const noexcept { return impl_->cached_bytes(); }

SketchOperator SketchOperator::materialized() const {
  SketchOperator copy = *this;
  copy.impl_ = impl_->materialized();
  return copy;
}

template <class T>
void SketchOperator::apply(In<T> x, MatrixView<T> y) const {
  const char* name = kind_.name();
  LOWDIM_CHECK_SHAPE(x.cols() == input_dim_, "sketch {} apply: input has {} columns, the input dimension d is {}",
                     name, x.cols(), input_dim_);
  LOWDIM_CHECK_SHAPE(y.rows() == x.rows() && y.cols() == output_dim_,
                     "sketch {} apply: output is {} x {}, expected {} x {} (n x k)", name, y.rows(), y.cols(),
                     x.rows(), output_dim_);
  LOWDIM_CHECK(!overlaps(x, y), "sketch {} apply: input and output overlap", name);
  if (x.rows() == 0) return;
  const bool clean = impl_->apply(x, y);
  // A non-finite input shows in its output row (every kind but the sparse ones, which report
  // it through `clean`); a non-finite output from finite input is an overflow to rescale.
  bool suspicious = !clean;
  for (std::int64_t r = 0; r < y.rows() && !suspicious; ++r) suspicious = needs_rescale(y.row(r), y.cols());
  if (!suspicious) return;
  check_finite(x, fmt::format("sketch {} apply: input", name));
  rescale_rows<T>(x, y, "apply", name, [&](ConstMatrixView<T> in, MatrixView<T> out) { impl_->apply(in, out); });
}

template <class T>
void SketchOperator::apply_transpose(In<T> y, MatrixView<T> x) const {
  const char* name = kind_.name();
  LOWDIM_CHECK_SHAPE(y.cols() == output_dim_,
                     "sketch {} apply_transpose: input has {} columns, the output dimension k is {}", name, y.cols(),
                     output_dim_);
  LOWDIM_CHECK_SHAPE(x.rows() == y.rows() && x.cols() == input_dim_,
                     "sketch {} apply_transpose: output is {} x {}, expected {} x {} (n x d)", name, x.rows(),
                     x.cols(), y.rows(), input_dim_);
  LOWDIM_CHECK(!overlaps(y, x), "sketch {} apply_transpose: input and output overlap", name);
  if (y.rows() == 0) return;
  check_finite(y, fmt::format("sketch {} apply_transpose: input", name));
  impl_->apply_transpose(y, x);
  rescale_rows<T>(y, x, "apply_transpose", name,
                  [&](ConstMatrixView<T> in, MatrixView<T> out) { impl_->apply_transpose(in, out); });
}

template <class T>
Matrix<T> SketchOperator::materialize() const {
  return materialize_columns<T>(0, input_dim_);
}

template <class T>
Matrix<T> SketchOperator::materialize_columns(std::int64_t first, std::int64_t count) const {
  LOWDIM_CHECK(first >= 0 && count >= 0 && first <= input_dim_ - count,
               "sketch {} materialize_columns: columns [{}, {}) are outside [0, {})", kind_.name(), first,
               first + count, input_dim_);
  Matrix<T> out(output_dim_, count);
  if (count > 0) impl_->columns(first, out.view());
  return out;
}

void SketchOperator::save_description(ArchiveWriter& archive, const std::string& prefix) const {
  archive.put(prefix + "kind", std::string(kind_.name()));
  archive.put(prefix + "input_dim", input_dim_);
  archive.put(prefix + "output_dim", output_dim_);
  archive.put(prefix + "seed", std::bit_cast<std::int64_t>(seed_));
  archive.put(prefix + "density", options_.density);
  archive.put(prefix + "jl_scaling", std::int64_t{options_.jl_scaling ? 1 : 0});
  archive.put(prefix + "row_norms", std::int64_t{options_.row_norms == RowNorms::sqrt_d ? 1 : 0});
}

SketchOperator SketchOperator::load_description(const ArchiveReader& archive, const std::string& prefix,
                                                const std::string& context) {
  const std::string kind_name = archive.get_string(prefix + "kind");
  SketchKind kind;
  try {
    kind = parse_sketch_kind(kind_name);
  } catch (const invalid_argument&) {
    LOWDIM_THROW(io_error, "{}: unknown sketch kind '{}' (valid: {})", context, kind_name, sketch_kind_names());
  }
  const std::int64_t d = archive.get_int(prefix + "input_dim");
  const std::int64_t k = archive.get_int(prefix + "output_dim");
  const auto seed = std::bit_cast<std::uint64_t>(archive.get_int(prefix + "seed"));
  SketchOptions options;
  options.density = archive.get_double(prefix + "density");
  const std::int64_t jl_scaling = archive.get_int(prefix + "jl_scaling");
  // Archives written before the orthogonal kinds have no row_norms (chi, the default).
  const std::int64_t row_norms = archive.has(prefix + "row_norms") ? archive.get_int(prefix + "row_norms") : 0;
  if ((jl_scaling != 0 && jl_scaling != 1) || (row_norms != 0 && row_norms != 1) || !std::isfinite(options.density))
    LOWDIM_THROW(io_error, "{}: invalid sketch description (jl_scaling = {}, row_norms = {}, density = {})", context,
                 jl_scaling, row_norms, options.density);
  options.jl_scaling = jl_scaling == 1;
  options.row_norms = row_norms == 1 ? RowNorms::sqrt_d : RowNorms::chi;
  const std::string why = kind.check(d, k, options);
  if (!why.empty()) LOWDIM_THROW(io_error, "{}: invalid sketch description: {}", context, why);
  return SketchOperator(kind, d, k, seed, options);
}

namespace detail {
template <class T>
void scale_rows(MatrixView<T> m, T s) {
  if (s == T(1)) return;
#pragma omp parallel for schedule(static) if (m.size() > 100000)
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    T* row = m.row(r);
    for (std::int64_t i = 0; i < m.cols(); ++i) row[i] *= s;
  }
}
template void scale_rows<float>(MatrixView<float>, float);
template void scale_rows<double>(MatrixView<double>, double);
}  // namespace detail

#define LOWDIM_INSTANTIATE(T)                                                                      \
  template LOWDIM_API void SketchOperator::apply<T>(In<T>, MatrixView<T>) const;                   \
  template LOWDIM_API void SketchOperator::apply_transpose<T>(In<T>, MatrixView<T>) const;         \
  template LOWDIM_API Matrix<T> SketchOperator::materialize<T>() const;                            \
  template LOWDIM_API Matrix<T> SketchOperator::materialize_columns<T>(std::int64_t, std::int64_t) const;
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
