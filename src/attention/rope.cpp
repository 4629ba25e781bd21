// Rotary position embeddings (docs/rope.md). The frequency rules follow Hugging Face
// transformers' modeling_rope_utils (_compute_default / linear / dynamic_ntk / yarn / llama3
// parameters); each scaling is one entry of the table and one branch of rope_frequencies.

#include <lowdim/rope.hpp>

#include <lowdim/error.hpp>

#include "detail/omp_exception.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>

namespace lowdim {
namespace {

std::string normalized(std::string_view name) {
  std::string s(name);
  std::replace(s.begin(), s.end(), '-', '_');
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct ScalingEntry {
  RopeScaling value;
  const char* name;
  const char* alias;
  bool factor, original_length, yarn, llama3;  // the options it reads
};
constexpr ScalingEntry scaling_table[] = {
    {RopeScaling::none, "none", "default", false, false, false, false},
    {RopeScaling::linear, "linear", "pi", true, false, false, false},
    {RopeScaling::ntk, "ntk", "ntk_aware", true, false, false, false},
    {RopeScaling::dynamic_ntk, "dynamic_ntk", "dynamic", true, true, false, false},
    {RopeScaling::yarn, "yarn", "yarn", true, true, true, false},
    {RopeScaling::llama3, "llama3", "llama3.1", true, true, false, true},
};

const ScalingEntry& entry(RopeScaling s) { return scaling_table[static_cast<int>(s)]; }

void check_options(std::int64_t dim, const RopeOptions& o) {
  LOWDIM_CHECK(dim >= 2 && dim % 2 == 0, "rope: dimension {} must be even and >= 2", dim);
  LOWDIM_CHECK(static_cast<int>(o.scaling) >= 0 && static_cast<std::size_t>(o.scaling) < std::size(scaling_table),
               "rope: invalid scaling {}", static_cast<int>(o.scaling));
  LOWDIM_CHECK(std::isfinite(o.base) && o.base > 1, "rope: base {} must be finite and > 1", o.base);
  const ScalingEntry& e = entry(o.scaling);
  const RopeOptions defaults;
  if (e.factor)
    LOWDIM_CHECK(std::isfinite(o.factor) && o.factor >= 1, "rope: {} scaling factor {} must be finite and >= 1", e.name,
                 o.factor);
  else
    LOWDIM_CHECK(o.factor == 1, "rope: scaling none takes no factor (given {}); choose a scaling", o.factor);
  if (e.original_length)
    LOWDIM_CHECK(o.original_length >= 1, "rope: {} scaling needs the original length L0 >= 1 (given {})", e.name,
                 o.original_length);
  else
    LOWDIM_CHECK(o.original_length == 0, "rope: {} scaling does not read an original length (given {})", e.name,
                 o.original_length);
  if (e.yarn) {
    LOWDIM_CHECK(std::isfinite(o.beta_fast) && std::isfinite(o.beta_slow) && o.beta_slow > 0 && o.beta_fast > o.beta_slow,
                 "rope: yarn needs beta_fast > beta_slow > 0 (given {} and {})", o.beta_fast, o.beta_slow);
    LOWDIM_CHECK(std::isfinite(o.attention_factor) && o.attention_factor >= 0,
                 "rope: yarn attention factor {} must be finite and >= 0 (0: 0.1 ln s + 1)", o.attention_factor);
  } else {
    LOWDIM_CHECK(o.beta_fast == defaults.beta_fast && o.beta_slow == defaults.beta_slow &&
                     o.attention_factor == defaults.attention_factor,
                 "rope: beta_fast, beta_slow and attention_factor are yarn's (scaling is {})", e.name);
  }
  if (e.llama3)
    LOWDIM_CHECK(std::isfinite(o.low_freq_factor) && std::isfinite(o.high_freq_factor) && o.low_freq_factor > 0 &&
                     o.high_freq_factor > o.low_freq_factor,
                 "rope: llama3 needs high_freq_factor > low_freq_factor > 0 (given {} and {})", o.high_freq_factor,
                 o.low_freq_factor);
  else
    LOWDIM_CHECK(o.low_freq_factor == defaults.low_freq_factor && o.high_freq_factor == defaults.high_freq_factor,
                 "rope: low_freq_factor and high_freq_factor are llama3's (scaling is {})", e.name);
}

std::vector<std::int64_t> default_positions(std::span<const std::int64_t> positions, std::int64_t length,
                                            const char* who) {
  std::vector<std::int64_t> p;
  if (positions.empty()) {
    p.resize(static_cast<std::size_t>(length));
    for (std::int64_t i = 0; i < length; ++i) p[static_cast<std::size_t>(i)] = i;
    return p;
  }
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(positions.size()) == length, "{}: {} positions for L = {} rows per head",
                     who, positions.size(), length);
  for (std::size_t i = 0; i < positions.size(); ++i)
    LOWDIM_CHECK(positions[i] >= 0, "{}: negative position {} at row {}", who, positions[i], i);
  return {positions.begin(), positions.end()};
}

// Rotates the pairs (first[t], second[t]) of every row of x (one head of L rows) by p_r·θ_t·factor.
template <class T>
void rotate_pairs(MatrixView<T> x, std::int64_t heads, std::int64_t col0, std::int64_t dim, RopeLayout layout,
                  std::span<const double> theta, std::span<const std::int64_t> positions, double factor) {
  const std::int64_t length = x.rows() / heads, half = dim / 2;
#pragma omp parallel for schedule(static) if (x.rows() * dim > (1 << 15))
  for (std::int64_t r = 0; r < x.rows(); ++r) {
    const double p = static_cast<double>(positions[static_cast<std::size_t>(r % length)]);
    T* row = x.row(r) + col0;
    for (std::int64_t t = 0; t < half; ++t) {
      const double angle = p * theta[static_cast<std::size_t>(t)];
      const double c = std::cos(angle) * factor, s = std::sin(angle) * factor;
      const std::int64_t i = layout == RopeLayout::interleaved ? 2 * t : t;
      const std::int64_t j = layout == RopeLayout::interleaved ? 2 * t + 1 : t + half;
      const double a = row[i], b = row[j];
      row[i] = static_cast<T>(a * c - b * s);
      row[j] = static_cast<T>(b * c + a * s);
    }
  }
}

}  // namespace

const char* to_string(RopeLayout layout) noexcept {
  return layout == RopeLayout::interleaved ? "interleaved" : "half_split";
}

RopeLayout parse_rope_layout(std::string_view name) {
  const std::string s = normalized(name);
  if (s == "interleaved" || s == "gptj" || s == "roformer") return RopeLayout::interleaved;
  if (s == "half_split" || s == "half" || s == "neox" || s == "rotate_half") return RopeLayout::half_split;
  LOWDIM_THROW(invalid_argument, "rope: unknown layout '{}' (valid: interleaved, half_split)", name);
}

const char* to_string(RopeScaling scaling) noexcept { return entry(scaling).name; }

RopeScaling parse_rope_scaling(std::string_view name) {
  const std::string s = normalized(name);
  for (const auto& e : scaling_table)
    if (s == e.name || s == e.alias) return e.value;
  LOWDIM_THROW(invalid_argument, "rope: unknown scaling '{}' (valid: {})", name, rope_scaling_names());
}

std::string rope_scaling_names() {
  std::string names;
  for (const auto& e : scaling_table) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

std::vector<double> rope_frequencies(std::int64_t dim, const RopeOptions& o, std::int64_t length) {
  check_options(dim, o);
  LOWDIM_CHECK(length >= 0, "rope: sequence length {} must be >= 0", length);
  const std::int64_t half = dim / 2;
  const double d = static_cast<double>(dim), s = o.factor;
  double base = o.base;
  if (o.scaling == RopeScaling::ntk) base = o.base * std::pow(s, d / (d - 2));
  if (o.scaling == RopeScaling::dynamic_ntk) {
    const double l = static_cast<double>(std::max(length, o.original_length));
    base = o.base * std::pow(s * l / static_cast<double>(o.original_length) - (s - 1), d / (d - 2));
  }
  std::vector<double> theta(static_cast<std::size_t>(half));
  for (std::int64_t t = 0; t < half; ++t) theta[static_cast<std::size_t>(t)] = std::pow(base, -2.0 * t / d);
  switch (o.scaling) {
    case RopeScaling::linear:
      for (double& x : theta) x /= s;
      break;
    case RopeScaling::yarn: {
      // Dimension index at which a wavelength fits `rotations` turns into L₀.
      const auto correction_dim = [&](double rotations) {
        return d * std::log(static_cast<double>(o.original_length) / (rotations * 2 * std::numbers::pi)) /
               (2 * std::log(o.base));
      };
      const double low = std::max(std::floor(correction_dim(o.beta_fast)), 0.0);
      const double high = std::min(std::ceil(correction_dim(o.beta_slow)), d - 1);
      const double span = low == high ? 0.001 : high - low;
      for (std::int64_t t = 0; t < half; ++t) {
        const double ramp = std::clamp((static_cast<double>(t) - low) / span, 0.0, 1.0);
        const double extrapolation = 1 - ramp;  // 1: keep θ_t (high frequencies), 0: θ_t / s
        double& x = theta[static_cast<std::size_t>(t)];
        x = x / s * (1 - extrapolation) + x * extrapolation;
      }
      break;
    }
    case RopeScaling::llama3: {
      const double l0 = static_cast<double>(o.original_length);
      const double low_wavelength = l0 / o.low_freq_factor, high_wavelength = l0 / o.high_freq_factor;
      for (double& x : theta) {
        const double wavelength = 2 * std::numbers::pi / x;
        if (wavelength > low_wavelength) {
          x /= s;
        } else if (wavelength >= high_wavelength) {
          const double smooth = (l0 / wavelength - o.low_freq_factor) / (o.high_freq_factor - o.low_freq_factor);
          x = (1 - smooth) * x / s + smooth * x;
        }
      }
      break;
    }
    default: break;
  }
  return theta;
}

double rope_attention_factor(const RopeOptions& o) {
  if (o.scaling != RopeScaling::yarn) return 1;
  if (o.attention_factor > 0) return o.attention_factor;
  return o.factor <= 1 ? 1.0 : 0.1 * std::log(o.factor) + 1;
}

template <class T>
void apply_rope(MatrixView<T> x, std::int64_t heads, RopeLayout layout, const RopeOptions& options,
                std::span<const std::int64_t> positions) {
  LOWDIM_CHECK(heads >= 1, "apply_rope: heads = {} must be >= 1", heads);
  LOWDIM_CHECK_SHAPE(x.rows() % heads == 0, "apply_rope: {} rows are not a multiple of heads = {}", x.rows(), heads);
  const auto pos = default_positions(positions, x.rows() / heads, "apply_rope");
  const std::int64_t max_pos = pos.empty() ? 0 : *std::max_element(pos.begin(), pos.end());
  const auto theta = rope_frequencies(x.cols(), options, max_pos + 1);
  rotate_pairs<T>(x, heads, 0, x.cols(), layout, theta, pos, rope_attention_factor(options));
}

std::vector<std::int64_t> rope_layout_permutation(std::int64_t head_dim, RopeLayout from, RopeLayout to) {
  LOWDIM_CHECK(head_dim >= 2 && head_dim % 2 == 0, "rope_layout_permutation: head dimension {} must be even and >= 2",
               head_dim);
  std::vector<std::int64_t> p(static_cast<std::size_t>(head_dim));
  const std::int64_t half = head_dim / 2;
  for (std::int64_t c = 0; c < head_dim; ++c) p[static_cast<std::size_t>(c)] = c;
  if (from == to) return p;
  for (std::int64_t t = 0; t < half; ++t) {
    if (to == RopeLayout::half_split) {  // y[t] = x[2t], y[t + d/2] = x[2t + 1]
      p[static_cast<std::size_t>(t)] = 2 * t;
      p[static_cast<std::size_t>(t + half)] = 2 * t + 1;
    } else {  // y[2t] = x[t], y[2t + 1] = x[t + d/2]
      p[static_cast<std::size_t>(2 * t)] = t;
      p[static_cast<std::size_t>(2 * t + 1)] = t + half;
    }
  }
  return p;
}

template <class T>
void permute_rope_columns(In<T> x, MatrixView<T> y, std::int64_t head_dim, RopeLayout from, RopeLayout to) {
  const auto p = rope_layout_permutation(head_dim, from, to);
  LOWDIM_CHECK_SHAPE(x.cols() % head_dim == 0, "permute_rope_columns: {} columns are not a multiple of head_dim = {}",
                     x.cols(), head_dim);
  LOWDIM_CHECK_SHAPE(y.rows() == x.rows() && y.cols() == x.cols(), "permute_rope_columns: output is {} x {}, expected {} x {}",
                     y.rows(), y.cols(), x.rows(), x.cols());
  for (std::int64_t r = 0; r < x.rows(); ++r)
    for (std::int64_t h = 0; h < x.cols(); h += head_dim)
      for (std::int64_t c = 0; c < head_dim; ++c) y(r, h + c) = x(r, h + p[static_cast<std::size_t>(c)]);
}

template <class T>
void permute_rope_rows(In<T> x, MatrixView<T> y, std::int64_t head_dim, RopeLayout from, RopeLayout to) {
  const auto p = rope_layout_permutation(head_dim, from, to);
  LOWDIM_CHECK_SHAPE(x.rows() % head_dim == 0, "permute_rope_rows: {} rows are not a multiple of head_dim = {}",
                     x.rows(), head_dim);
  LOWDIM_CHECK_SHAPE(y.rows() == x.rows() && y.cols() == x.cols(), "permute_rope_rows: output is {} x {}, expected {} x {}",
                     y.rows(), y.cols(), x.rows(), x.cols());
  for (std::int64_t h = 0; h < x.rows(); h += head_dim)
    for (std::int64_t r = 0; r < head_dim; ++r) {
      const T* src = x.row(h + p[static_cast<std::size_t>(r)]);
      std::copy(src, src + x.cols(), y.row(h + r));
    }
}

GridPositions grid_positions(std::int64_t height, std::int64_t width) {
  LOWDIM_CHECK(height >= 1 && width >= 1, "grid_positions: grid {} x {} must have positive sides", height, width);
  GridPositions g;
  for (std::int64_t r = 0; r < height; ++r)
    for (std::int64_t c = 0; c < width; ++c) {
      g.x.push_back(c);
      g.y.push_back(r);
    }
  return g;
}

template <class T>
void apply_rope_axial(MatrixView<T> x, std::int64_t heads, std::span<const std::int64_t> px,
                      std::span<const std::int64_t> py, RopeLayout layout, const RopeOptions& options) {
  LOWDIM_CHECK(heads >= 1, "apply_rope_axial: heads = {} must be >= 1", heads);
  LOWDIM_CHECK_SHAPE(x.rows() % heads == 0, "apply_rope_axial: {} rows are not a multiple of heads = {}", x.rows(),
                     heads);
  LOWDIM_CHECK(x.cols() % 4 == 0 && x.cols() >= 4, "apply_rope_axial: dimension {} must be a multiple of 4", x.cols());
  const std::int64_t length = x.rows() / heads, half = x.cols() / 2;
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(px.size()) == length && static_cast<std::int64_t>(py.size()) == length,
                     "apply_rope_axial: {} x and {} y positions for L = {} rows per head", px.size(), py.size(), length);
  const auto ppx = default_positions(px, length, "apply_rope_axial");
  const auto ppy = default_positions(py, length, "apply_rope_axial");
  const std::int64_t max_pos = length == 0 ? 0
                                           : std::max(*std::max_element(ppx.begin(), ppx.end()),
                                                      *std::max_element(ppy.begin(), ppy.end()));
  const auto theta = rope_frequencies(half, options, max_pos + 1);
  const double factor = rope_attention_factor(options);
  rotate_pairs<T>(x, heads, 0, half, layout, theta, ppx, factor);
  rotate_pairs<T>(x, heads, half, half, layout, theta, ppy, factor);
}

template <class T>
void apply_rope_mixed(MatrixView<T> x, std::int64_t heads, std::span<const std::int64_t> px,
                      std::span<const std::int64_t> py, ConstMatrixView<double> theta_x, ConstMatrixView<double> theta_y) {
  LOWDIM_CHECK(heads >= 1, "apply_rope_mixed: heads = {} must be >= 1", heads);
  LOWDIM_CHECK_SHAPE(x.rows() % heads == 0, "apply_rope_mixed: {} rows are not a multiple of heads = {}", x.rows(),
                     heads);
  LOWDIM_CHECK(x.cols() % 2 == 0 && x.cols() >= 2, "apply_rope_mixed: dimension {} must be even", x.cols());
  const std::int64_t length = x.rows() / heads, half = x.cols() / 2;
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(px.size()) == length && static_cast<std::int64_t>(py.size()) == length,
                     "apply_rope_mixed: {} x and {} y positions for L = {} rows per head", px.size(), py.size(), length);
  LOWDIM_CHECK_SHAPE(theta_x.rows() == heads && theta_x.cols() == half && theta_y.rows() == heads &&
                         theta_y.cols() == half,
                     "apply_rope_mixed: frequencies are {} x {} and {} x {}, expected heads x d/2 = {} x {}",
                     theta_x.rows(), theta_x.cols(), theta_y.rows(), theta_y.cols(), heads, half);
  check_finite(theta_x, "apply_rope_mixed: theta_x");
  check_finite(theta_y, "apply_rope_mixed: theta_y");
  const auto ppx = default_positions(px, length, "apply_rope_mixed");
  const auto ppy = default_positions(py, length, "apply_rope_mixed");
  for (std::int64_t r = 0; r < x.rows(); ++r) {
    const std::int64_t h = r / length, i = r % length;
    T* row = x.row(r);
    for (std::int64_t t = 0; t < half; ++t) {
      const double angle = theta_x(h, t) * static_cast<double>(ppx[static_cast<std::size_t>(i)]) +
                           theta_y(h, t) * static_cast<double>(ppy[static_cast<std::size_t>(i)]);
      const double c = std::cos(angle), s = std::sin(angle), a = row[2 * t], b = row[2 * t + 1];
      row[2 * t] = static_cast<T>(a * c - b * s);
      row[2 * t + 1] = static_cast<T>(b * c + a * s);
    }
  }
}

template <class T>
void sinusoidal_encoding(MatrixView<T> out, std::int64_t offset, double base) {
  LOWDIM_CHECK(out.cols() % 2 == 0, "sinusoidal_encoding: dimension {} must be even", out.cols());
  LOWDIM_CHECK(offset >= 0, "sinusoidal_encoding: offset {} must be >= 0", offset);
  LOWDIM_CHECK(std::isfinite(base) && base > 1, "sinusoidal_encoding: base {} must be finite and > 1", base);
  const double d = static_cast<double>(out.cols());
  for (std::int64_t p = 0; p < out.rows(); ++p)
    for (std::int64_t t = 0; t < out.cols() / 2; ++t) {
      const double angle = static_cast<double>(offset + p) * std::pow(base, -2.0 * t / d);
      out(p, 2 * t) = static_cast<T>(std::sin(angle));
      out(p, 2 * t + 1) = static_cast<T>(std::cos(angle));
    }
}

#define LOWDIM_INSTANTIATE(T)                                                                                      \
  template LOWDIM_API void apply_rope<T>(MatrixView<T>, std::int64_t, RopeLayout, const RopeOptions&,              \
                                         std::span<const std::int64_t>);                                           \
  template LOWDIM_API void permute_rope_columns<T>(In<T>, MatrixView<T>, std::int64_t, RopeLayout, RopeLayout);    \
  template LOWDIM_API void permute_rope_rows<T>(In<T>, MatrixView<T>, std::int64_t, RopeLayout, RopeLayout);       \
  template LOWDIM_API void apply_rope_axial<T>(MatrixView<T>, std::int64_t, std::span<const std::int64_t>,         \
                                               std::span<const std::int64_t>, RopeLayout, const RopeOptions&);     \
  template LOWDIM_API void apply_rope_mixed<T>(MatrixView<T>, std::int64_t, std::span<const std::int64_t>,         \
                                               std::span<const std::int64_t>, ConstMatrixView<double>,             \
                                               ConstMatrixView<double>);                                           \
  template LOWDIM_API void sinusoidal_encoding<T>(MatrixView<T>, std::int64_t, double);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
