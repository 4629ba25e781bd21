// The LSH families on the operator layer. Each family is one entry of a table (name,
// summary, angular) plus its branch of LshHasher's three typed steps; the index and the
// front ends reach families only through LshHasher and the table.
//   simhash         p = a·x (a ~ N(0, I): gaussian operator, raw entries), h = [p ≥ 0]
//   pstable         p = (a·x + b)/w, h = ⌊p⌋
//   cross_polytope  x ↦ countsketch to c (d > c) or zero-padded to c (d < c), then m
//                   rotations H·D₁·H·D₂·H·D₃ (hadamard_rotation, c → m·c), h = signed argmax
// The operators are materialized once, so one row costs about a gemv and a batch is one product.

#include "lsh/lsh_internal.hpp"

#include <lowdim/error.hpp>
#include <lowdim/fwht.hpp>
#include <lowdim/random.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>

namespace lowdim {
namespace {

struct FamilyEntry {
  const char* name;
  const char* summary;
  bool angular;
};

constexpr FamilyEntry family_table[] = {
    {"simhash", "sign of a Gaussian projection, one bit per function (angle; 1 - theta/pi)", true},
    {"cross_polytope", "signed argmax of a pseudo-random Hadamard rotation (angle; Andoni et al. 2015)", true},
    {"pstable", "floor((a.x + b)/w), Gaussian a (Euclidean; Datar et al. 2004)", false},
};
constexpr LshFamily family_values[] = {LshFamily(0), LshFamily(1), LshFamily(2)};

std::string normalized(std::string_view name) {
  std::string s(name);
  std::replace(s.begin(), s.end(), '-', '_');
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const LshFamily LshFamily::simhash{0};
const LshFamily LshFamily::cross_polytope{1};
const LshFamily LshFamily::pstable{2};

LshFamily::LshFamily() noexcept : id_(0) {}
const char* LshFamily::name() const noexcept { return family_table[id_].name; }
const char* LshFamily::summary() const noexcept { return family_table[id_].summary; }
bool LshFamily::angular() const noexcept { return family_table[id_].angular; }

std::span<const LshFamily> lsh_families() noexcept { return family_values; }

std::string lsh_family_names() {
  std::string names;
  for (const auto& e : family_table) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

LshFamily parse_lsh_family(std::string_view name) {
  const std::string wanted = normalized(name);
  for (const LshFamily f : family_values)
    if (wanted == f.name()) return f;
  LOWDIM_THROW(invalid_argument, "unknown LSH family '{}' (valid: {})", name, lsh_family_names());
}

const char* to_string(Metric metric) noexcept {
  switch (metric) {
    case Metric::euclidean: return "euclidean";
    case Metric::cosine: return "cosine";
    case Metric::inner_product: return "inner_product";
  }
  return "unknown";
}

Metric parse_metric(std::string_view name) {
  const std::string s = normalized(name);
  if (s == "euclidean" || s == "l2") return Metric::euclidean;
  if (s == "cosine" || s == "angular") return Metric::cosine;
  if (s == "inner_product" || s == "ip" || s == "dot") return Metric::inner_product;
  LOWDIM_THROW(invalid_argument, "unknown metric '{}' (valid: euclidean, cosine, inner_product)", name);
}

namespace detail {

std::uint64_t derived_seed(std::uint64_t seed, StreamId stream) { return RandomStream(seed, stream).bits64(0); }

struct HasherState {
  std::optional<SketchOperator> feature_hash;  // cross_polytope with d > c
  std::optional<SketchOperator> projection;    // gaussian d → m, or hadamard_rotation c → m·c
  std::vector<double> offsets;                 // pstable b_j / w
  double inv_width = 1;
  std::int64_t cp_dim = 0;
};

}  // namespace detail

namespace {
const detail::HasherState& state(const std::shared_ptr<const void>& p) {
  return *static_cast<const detail::HasherState*>(p.get());
}
}  // namespace

LshHasher::LshHasher(LshFamily family, std::int64_t dim, std::int64_t functions, std::uint64_t seed,
                     LshFamilyOptions options)
    : family_(family), dim_(dim), functions_(functions), seed_(seed), options_(options) {
  LOWDIM_CHECK(dim >= 1, "LshHasher: the input dimension must be ≥ 1, got {}", dim);
  LOWDIM_CHECK(functions >= 1, "LshHasher: the number of hash functions must be ≥ 1, got {}", functions);
  auto s = std::make_shared<detail::HasherState>();
  if (family == LshFamily::simhash || family == LshFamily::pstable) {
    LOWDIM_CHECK(options.cp_dim == 0, "LshHasher: cp_dim {} is a cross_polytope option; {} has none", options.cp_dim,
                 family.name());
    SketchOptions raw;
    raw.jl_scaling = false;
    s->projection = SketchOperator(SketchKind::gaussian, dim, functions,
                                   detail::derived_seed(seed, StreamId::lsh_projection), raw)
                        .materialized();
    if (family == LshFamily::pstable) {
      LOWDIM_CHECK(options.width > 0 && std::isfinite(options.width),
                   "LshHasher: the pstable width w must be finite and > 0, got {}", options.width);
      s->inv_width = 1.0 / options.width;
      const RandomStream offsets(seed, StreamId::lsh_offsets);
      s->offsets.resize(static_cast<std::size_t>(functions));
      for (std::int64_t j = 0; j < functions; ++j) s->offsets[static_cast<std::size_t>(j)] = offsets.uniform(static_cast<std::uint64_t>(j));
    } else {
      LOWDIM_CHECK(options.width == 0, "LshHasher: width {} is a pstable option; simhash has none", options.width);
    }
  } else {
    LOWDIM_CHECK(options.width == 0, "LshHasher: width {} is a pstable option; cross_polytope has none", options.width);
    std::int64_t c = options.cp_dim;
    if (c == 0) c = std::min<std::int64_t>(next_power_of_two(dim), 256);
    LOWDIM_CHECK(c >= 2 && is_power_of_two(c), "LshHasher: cp_dim must be a power of two ≥ 2, got {}", c);
    options_.cp_dim = c;
    s->cp_dim = c;
    if (dim > c) {
      s->feature_hash = SketchOperator(SketchKind::countsketch, dim, c,
                                       detail::derived_seed(seed, StreamId::lsh_feature_hash))
                            .materialized();
    }
    SketchOptions raw;
    raw.jl_scaling = false;
    s->projection = SketchOperator(SketchKind::hadamard_rotation, c, functions * c,
                                   detail::derived_seed(seed, StreamId::lsh_rotation), raw)
                        .materialized();
  }
  impl_ = std::move(s);
}

std::int64_t LshHasher::width() const noexcept { return family_ == LshFamily::cross_polytope ? options_.cp_dim : 1; }

std::int64_t LshHasher::values() const noexcept {
  if (family_ == LshFamily::simhash) return 2;
  if (family_ == LshFamily::cross_polytope) return 2 * options_.cp_dim;
  return 0;
}

template <class T>
void LshHasher::project(In<T> x, MatrixView<T> p) const {
  LOWDIM_CHECK(x.cols() == dim_, "LshHasher::project: input has {} columns, the hasher expects d = {}", x.cols(), dim_);
  LOWDIM_CHECK(p.rows() == x.rows() && p.cols() == functions_ * width(),
               "LshHasher::project: output is {} × {}, expected {} × {}", p.rows(), p.cols(), x.rows(),
               functions_ * width());
  if (x.rows() == 0) return;
  const auto& s = state(impl_);
  if (family_ == LshFamily::cross_polytope) {
    const std::int64_t c = s.cp_dim;
    if (s.feature_hash) {
      auto z = Matrix<T>::uninitialized(x.rows(), c);
      s.feature_hash->apply<T>(x, z.view());
      s.projection->apply<T>(z, p);
    } else if (dim_ < c) {
      Matrix<T> z(x.rows(), c);  // zero-padded
      for (std::int64_t i = 0; i < x.rows(); ++i) std::copy(x.row(i), x.row(i) + dim_, z.row(i));
      s.projection->apply<T>(z, p);
    } else {
      s.projection->apply<T>(x, p);
    }
    return;
  }
  s.projection->apply<T>(x, p);
  if (family_ == LshFamily::pstable) {
    const T inv = static_cast<T>(s.inv_width);
    for (std::int64_t i = 0; i < p.rows(); ++i) {
      T* row = p.row(i);
      for (std::int64_t j = 0; j < functions_; ++j) row[j] = row[j] * inv + static_cast<T>(s.offsets[static_cast<std::size_t>(j)]);
    }
  }
}

template <class T>
void LshHasher::hash_projections(In<T> p, MatrixView<std::int64_t> h) const {
  LOWDIM_CHECK(p.cols() == functions_ * width() && h.rows() == p.rows() && h.cols() == functions_,
               "LshHasher::hash_projections: projections {} × {} and hashes {} × {} do not fit {} functions of width {}",
               p.rows(), p.cols(), h.rows(), h.cols(), functions_, width());
  const std::int64_t w = width();
  for (std::int64_t i = 0; i < p.rows(); ++i) {
    const T* row = p.row(i);
    std::int64_t* out = h.row(i);
    for (std::int64_t j = 0; j < functions_; ++j) out[j] = detail::hash_value(family_, row + j * w, w);
  }
}

template <class T>
void LshHasher::hash(In<T> x, MatrixView<std::int64_t> h) const {
  auto p = Matrix<T>::uninitialized(x.rows(), functions_ * width());
  project<T>(x, p.view());
  hash_projections<T>(p, h);
}

template <class T>
void LshHasher::simhash_codes(In<T> x, MatrixView<std::uint64_t> codes) const {
  LOWDIM_CHECK(family_ == LshFamily::simhash, "LshHasher::simhash_codes: the family is {}, not simhash", family_.name());
  const std::int64_t words = (functions_ + 63) / 64;
  LOWDIM_CHECK(codes.rows() == x.rows() && codes.cols() == words,
               "LshHasher::simhash_codes: codes are {} × {}, expected {} × {}", codes.rows(), codes.cols(), x.rows(), words);
  auto p = Matrix<T>::uninitialized(x.rows(), functions_);
  project<T>(x, p.view());
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    std::uint64_t* out = codes.row(i);
    std::fill(out, out + words, 0);
    for (std::int64_t j = 0; j < functions_; ++j)
      out[j / 64] |= static_cast<std::uint64_t>(p(i, j) >= 0) << (j % 64);
  }
}

std::int64_t LshHasher::hamming(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) {
  LOWDIM_CHECK(a.size() == b.size(), "LshHasher::hamming: codes of {} and {} words", a.size(), b.size());
  std::int64_t d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += std::popcount(a[i] ^ b[i]);
  return d;
}

#define LOWDIM_INSTANTIATE(T)                                                                         \
  template LOWDIM_API void LshHasher::project<T>(In<T>, MatrixView<T>) const;                         \
  template LOWDIM_API void LshHasher::hash_projections<T>(In<T>, MatrixView<std::int64_t>) const;     \
  template LOWDIM_API void LshHasher::hash<T>(In<T>, MatrixView<std::int64_t>) const;                 \
  template LOWDIM_API void LshHasher::simhash_codes<T>(In<T>, MatrixView<std::uint64_t>) const;
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
