// Python names of random features, attention and RoPE (random_features.hpp, attention.hpp,
// rope.hpp). Tensors are L × d or heads × L × d NumPy arrays; outputs have the input's rank.
// float32 input runs in float32, anything else in float64; the GIL is released during work.

#include <lowdim/attention.hpp>
#include <lowdim/random_features.hpp>
#include <lowdim/rope.hpp>

#include "common.hpp"

#include <cmath>
#include <optional>
#include <string>
#include <variant>
#include <vector>

using namespace lowdim;
using namespace lowdim::python;

namespace {

// A 2-D (L × d) or 3-D (heads × L × d) array as a contiguous (heads·L) × d matrix.
template <class T>
struct Tensor {
  py::array_t<T, py::array::c_style> keep;
  std::int64_t heads = 1, length = 0, dim = 0;
  bool three_d = false;
  ConstMatrixView<T> view() const { return ConstMatrixView<T>(keep.data(), heads * length, dim); }
};

template <class T>
Tensor<T> as_tensor(const py::array& a, const char* name) {
  LOWDIM_CHECK(a.ndim() == 2 || a.ndim() == 3, "{}: expected L x d or heads x L x d, got {} dimensions", name, a.ndim());
  Tensor<T> t;
  t.keep = py::array_t<T, py::array::c_style>::ensure(a);
  LOWDIM_CHECK(t.keep, "{}: cannot convert the array to {}", name, sizeof(T) == 4 ? "float32" : "float64");
  t.three_d = a.ndim() == 3;
  t.heads = t.three_d ? t.keep.shape(0) : 1;
  t.length = t.keep.shape(t.three_d ? 1 : 0);
  t.dim = t.keep.shape(t.three_d ? 2 : 1);
  return t;
}

template <class T>
py::array_t<T> new_tensor(const Tensor<T>& like, std::int64_t cols) {
  if (like.three_d)
    return py::array_t<T>({static_cast<py::ssize_t>(like.heads), static_cast<py::ssize_t>(like.length),
                           static_cast<py::ssize_t>(cols)});
  return py::array_t<T>({static_cast<py::ssize_t>(like.length), static_cast<py::ssize_t>(cols)});
}

template <class T>
MatrixView<T> tensor_out(py::array_t<T>& a, std::int64_t rows, std::int64_t cols) {
  return MatrixView<T>(a.mutable_data(), rows, cols);
}

std::vector<std::uint8_t> mask_of(const std::optional<py::array>& mask) {
  std::vector<std::uint8_t> m;
  if (!mask) return m;
  auto b = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(*mask);
  LOWDIM_CHECK(b, "attention: key_mask must be an array of booleans or 0/1");
  m.assign(b.data(), b.data() + b.size());
  return m;
}

AttentionOptions options_of(bool causal, std::int64_t block, double scale, const std::vector<std::uint8_t>& mask) {
  AttentionOptions o;
  o.causal = causal;
  o.block = block;
  o.scale = scale;
  o.key_mask = mask;
  return o;
}

RopeOptions rope_options(double base, const std::string& scaling, double factor, std::int64_t original_length,
                         double beta_fast, double beta_slow, double attention_factor, double low_freq_factor,
                         double high_freq_factor) {
  RopeOptions o;
  o.base = base;
  o.scaling = parse_rope_scaling(scaling);
  o.factor = factor;
  o.original_length = original_length;
  o.beta_fast = beta_fast;
  o.beta_slow = beta_slow;
  o.attention_factor = attention_factor;
  o.low_freq_factor = low_freq_factor;
  o.high_freq_factor = high_freq_factor;
  return o;
}

#define LOWDIM_ROPE_ARGS                                                                                      \
  py::arg("base") = 10000.0, py::arg("scaling") = "none", py::arg("factor") = 1.0,                            \
      py::arg("original_length") = 0, py::arg("beta_fast") = 32.0, py::arg("beta_slow") = 1.0,               \
      py::arg("attention_factor") = 0.0, py::arg("low_freq_factor") = 1.0, py::arg("high_freq_factor") = 4.0

std::vector<std::int64_t> positions_of(const std::optional<py::array>& p) {
  std::vector<std::int64_t> v;
  if (!p) return v;
  auto b = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(*p);
  LOWDIM_CHECK(b, "rope: positions must be integers");
  v.assign(b.data(), b.data() + b.size());
  return v;
}

// A struct, not the variant itself: pybind11/stl.h casts std::variant by value.
struct Recurrent {
  std::variant<RecurrentAttention<float>, RecurrentAttention<double>> state;
};

void bind(py::module_& m) {
  py::class_<RandomFeatures>(m, "RandomFeatures",
                             "A random-feature map phi: R^d -> R^features (FAVOR+, FAVOR++, trigonometric, hyperbolic, "
                             "relu/elu/exp), its projection W (m x d) drawn from a seed by iid, orf, sorf or simplex.")
      .def(py::init([](const std::string& map, const std::string& projection, std::int64_t dim,
                       std::int64_t directions, std::uint64_t seed, const std::string& row_norms,
                       std::optional<double> epsilon, std::optional<double> sigma, std::optional<double> optimal_a) {
             FeatureMapOptions o;
             o.row_norms = parse_row_norms(row_norms);
             if (epsilon) o.epsilon = *epsilon;
             if (sigma) o.sigma = *sigma;
             if (optimal_a) o.optimal_a = *optimal_a;
             return RandomFeatures(parse_feature_map(map), parse_feature_projection(projection), dim, directions, seed,
                                   o);
           }),
           py::arg("map") = "positive", py::arg("projection") = "orf", py::arg("dim") = 64,
           py::arg("directions") = 256, py::arg("seed") = 0, py::arg("row_norms") = "chi",
           py::arg("epsilon") = py::none(), py::arg("sigma") = py::none(), py::arg("optimal_a") = py::none(),
           "A feature map. map: positive (favor), optimal (favor++), trig_softmax, trig_gaussian, hyperbolic, relu, "
           "elu, exp; projection: iid, orf, sorf, simplex; dim d; directions m; epsilon (relu/elu/exp), sigma "
           "(trig_gaussian) and optimal_a (optimal; None: fitted from q and k) only where the map reads them.")
      .def_property_readonly("map", [](const RandomFeatures& f) { return std::string(to_string(f.kind())); },
                             "The feature map's name.")
      .def_property_readonly("projection",
                             [](const RandomFeatures& f) { return std::string(to_string(f.projection())); },
                             "The projection's name.")
      .def_property_readonly("dim", &RandomFeatures::dim, "d, the input dimension.")
      .def_property_readonly("directions", &RandomFeatures::directions, "m, the rows of W.")
      .def_property_readonly("features", &RandomFeatures::features, "Columns of phi (2m for the paired maps).")
      .def_property_readonly("seed", &RandomFeatures::seed, "The seed W is drawn from.")
      .def_property_readonly(
          "optimal_a",
          [](const RandomFeatures& f) -> std::optional<double> {
            if (std::isnan(f.options().optimal_a)) return std::nullopt;
            return f.options().optimal_a;
          },
          "A of the optimal map (None: unset, fitted from the data by the attention functions).")
      .def("redrawn", &RandomFeatures::redrawn, py::arg("seed"), "The same map with W drawn from another seed.")
      .def("with_optimal_a", &RandomFeatures::with_optimal_a, py::arg("a"), "The same map and W with A set (A < 1/8).")
      .def(
          "fitted",
          [](const RandomFeatures& f, const py::array& q, const py::array& k, double scale) {
            auto qi = as_input<double>(q, "RandomFeatures.fitted"), ki = as_input<double>(k, "RandomFeatures.fitted");
            return f.fitted<double>(qi.view, ki.view, scale);
          },
          py::arg("queries"), py::arg("keys"), py::arg("scale") = 1.0,
          "The map with the optimal map's A fitted to the mean ||scale (q_i + k_j)||^2 (a copy otherwise).")
      .def(
          "projection_matrix", [](const RandomFeatures& f) { return to_numpy(f.projection_operator().materialize<double>()); },
          "W, the m x d projection (float64).")
      .def(
          "apply",
          [](const RandomFeatures& f, const py::array& x, double scale) {
            return by_dtype(x, [&]<class T>() -> py::object {
              auto in = as_input<T>(x, "RandomFeatures.apply");
              auto phi = new_array<T>(in.view.rows(), f.features());
              py::array_t<T> s(static_cast<py::ssize_t>(in.view.rows()));
              auto view = as_output(phi);
              {
                py::gil_scoped_release release;
                f.apply<T>(in.view, view, std::span<T>(s.mutable_data(), static_cast<std::size_t>(in.view.rows())),
                           scale);
              }
              return py::make_tuple(phi, s);
            });
          },
          py::arg("x"), py::arg("scale") = 1.0,
          "(phi, log_scale) of the rows of scale*x (n x d): the feature of row i is exp(log_scale[i]) * phi[i].")
      .def(
          "transform",
          [](const RandomFeatures& f, const py::array& x, double scale, bool gaussian) {
            LOWDIM_CHECK(!gaussian || estimates_softmax_kernel(f.kind()),
                         "RandomFeatures.transform: gaussian=True needs a map that estimates exp(x.y) (positive, "
                         "optimal, trig_softmax, hyperbolic), not '{}'",
                         to_string(f.kind()));
            return by_dtype(x, [&]<class T>() -> py::object {
              auto in = as_input<T>(x, "RandomFeatures.transform");
              const std::int64_t n = in.view.rows(), d = in.view.cols(), m = f.features();
              auto phi = new_array<T>(n, m);
              auto view = as_output(phi);
              {
                py::gil_scoped_release release;
                std::vector<T> s(static_cast<std::size_t>(n));
                f.apply<T>(in.view, view, std::span<T>(s), scale);
                for (std::int64_t i = 0; i < n; ++i) {
                  double log_factor = static_cast<double>(s[static_cast<std::size_t>(i)]);
                  if (gaussian) {
                    double u = 0.0;
                    for (std::int64_t j = 0; j < d; ++j) {
                      const double v = scale * static_cast<double>(in.view(i, j));
                      u += v * v;
                    }
                    log_factor -= u / 2.0;
                  }
                  if (log_factor == 0.0) continue;
                  const T factor = static_cast<T>(std::exp(log_factor));
                  for (std::int64_t j = 0; j < m; ++j) view(i, j) *= factor;
                }
              }
              return phi;
            });
          },
          py::arg("x"), py::arg("scale") = 1.0, py::arg("gaussian") = false,
          "The features exp(log_scale[i]) * phi[i] of the rows of scale*x (n x features), so that "
          "transform(x) @ transform(y).T estimates the map's kernel of scale*x, scale*y. gaussian=True (maps "
          "estimating exp(x.y)) also multiplies row i by exp(-||scale*x_i||^2/2): the product then estimates "
          "the Gaussian kernel exp(-||scale*(x_i - y_j)||^2/2), with positive features for the positive maps.");

  m.def("optimal_positive_parameter", &optimal_positive_parameter, py::arg("u"), py::arg("dim"),
        "FAVOR++'s optimal A for mean ||x + y||^2 = u in d dimensions (Likhosherstov et al. 2022).");
  m.def(
      "exact_kernel",
      [](const py::array& x, const py::array& y, const std::string& kind, double sigma) {
        LOWDIM_CHECK(kind == "softmax" || kind == "gaussian", "exact_kernel: kind must be softmax or gaussian, not '{}'",
                     kind);
        return by_dtype(x, [&]<class T>() -> py::object {
          auto xi = as_input<T>(x, "exact_kernel"), yi = as_input<T>(y, "exact_kernel");
          auto out = new_array<T>(xi.view.rows(), yi.view.rows());
          auto view = as_output(out);
          {
            py::gil_scoped_release release;
            exact_kernel<T>(kind == "softmax" ? KernelKind::softmax : KernelKind::gaussian, xi.view, yi.view, view,
                            sigma);
          }
          return out;
        });
      },
      py::arg("x"), py::arg("y"), py::arg("kind") = "softmax", py::arg("sigma") = 1.0,
      "The exact kernel matrix: exp(x_i . y_j) (softmax) or exp(-||x_i - y_j||^2 / (2 sigma^2)) (gaussian).");
  m.def(
      "estimate_kernel",
      [](const RandomFeatures& f, const py::array& x, const py::array& y) {
        return by_dtype(x, [&]<class T>() -> py::object {
          auto xi = as_input<T>(x, "estimate_kernel"), yi = as_input<T>(y, "estimate_kernel");
          auto out = new_array<T>(xi.view.rows(), yi.view.rows());
          auto view = as_output(out);
          {
            py::gil_scoped_release release;
            estimate_kernel<T>(f, xi.view, yi.view, view);
          }
          return out;
        });
      },
      py::arg("features"), py::arg("x"), py::arg("y"), "The random-feature estimate phi(x_i) . phi(y_j) of the kernel.");

  m.def(
      "softmax_attention",
      [](const py::array& q, const py::array& k, const py::array& v, bool causal, std::int64_t block, double scale,
         const std::optional<py::array>& key_mask) {
        return by_dtype(q, [&]<class T>() -> py::object {
          auto qt = as_tensor<T>(q, "softmax_attention"), kt = as_tensor<T>(k, "softmax_attention"),
               vt = as_tensor<T>(v, "softmax_attention");
          LOWDIM_CHECK_SHAPE(qt.heads == kt.heads && kt.heads == vt.heads && qt.three_d == kt.three_d,
                             "softmax_attention: q, k and v must have the same heads");
          auto out = new_tensor<T>(qt, vt.dim);
          const auto mask = mask_of(key_mask);
          {
            py::gil_scoped_release release;
            softmax_attention<T>(qt.view(), kt.view(), vt.view(), qt.heads, tensor_out(out, qt.heads * qt.length, vt.dim),
                                 options_of(causal, block, scale, mask));
          }
          return out;
        });
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal") = false, py::arg("block") = 128,
      py::arg("scale") = 0.0, py::arg("key_mask") = py::none(),
      "Exact softmax attention (blocked, online softmax): q, k, v are L x d or heads x L x d; scale 0 is "
      "1/sqrt(d); key_mask (L_k or heads x L_k booleans) drops keys.");
  m.def(
      "linear_attention",
      [](const RandomFeatures& f, const py::array& q, const py::array& k, const py::array& v, bool causal,
         std::int64_t block, double scale, const std::optional<py::array>& key_mask,
         const std::optional<std::vector<double>>& feature_rope, std::int64_t rope_offset) {
        return by_dtype(q, [&]<class T>() -> py::object {
          auto qt = as_tensor<T>(q, "linear_attention"), kt = as_tensor<T>(k, "linear_attention"),
               vt = as_tensor<T>(v, "linear_attention");
          LOWDIM_CHECK_SHAPE(qt.heads == kt.heads && kt.heads == vt.heads && qt.three_d == kt.three_d,
                             "linear_attention: q, k and v must have the same heads");
          auto out = new_tensor<T>(qt, vt.dim);
          const auto mask = mask_of(key_mask);
          AttentionOptions o = options_of(causal, block, scale, mask);
          if (feature_rope) o.feature_rotation.frequencies = *feature_rope;
          o.feature_rotation.offset = rope_offset;
          {
            py::gil_scoped_release release;
            linear_attention<T>(f, qt.view(), kt.view(), vt.view(), qt.heads,
                                tensor_out(out, qt.heads * qt.length, vt.dim), o);
          }
          return out;
        });
      },
      py::arg("features"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal") = false,
      py::arg("block") = 128, py::arg("scale") = 0.0, py::arg("key_mask") = py::none(),
      py::arg("feature_rope") = py::none(), py::arg("rope_offset") = 0,
      "Linear (random-feature) attention, bidirectional or causal (chunked scan, memory independent of L). "
      "feature_rope: features/2 frequencies (rope_frequencies(features.features)) to rotate the features as "
      "RoFormer does (rotated numerator, unrotated denominator).");

  py::class_<Recurrent>(m, "RecurrentAttention",
                        "The causal linear-attention state of one head, fed one token at a time; outputs equal "
                        "linear_attention(..., causal=True) row by row.")
      .def(py::init([](const RandomFeatures& f, std::int64_t value_dim, double scale, const std::string& dtype,
                       const std::optional<std::vector<double>>& feature_rope) {
             LOWDIM_CHECK(dtype == "float32" || dtype == "float64",
                          "RecurrentAttention: dtype must be float32 or float64, not '{}'", dtype);
             Recurrent r = dtype == "float32" ? Recurrent{RecurrentAttention<float>(f, value_dim, scale)}
                                              : Recurrent{RecurrentAttention<double>(f, value_dim, scale)};
             if (feature_rope) std::visit([&](auto& s) { s.set_feature_rotation(*feature_rope); }, r.state);
             return r;
           }),
           py::arg("features"), py::arg("value_dim"), py::arg("scale") = 0.0, py::arg("dtype") = "float32",
           py::arg("feature_rope") = py::none(),
           "A state with no token yet: the feature map, d_v, the score scale (0: 1/sqrt(d)), float32 or float64, "
           "and optionally the feature rotation frequencies.")
      .def(
          "step",
          [](Recurrent& r, const py::array& q, const py::array& k, const py::array& v, bool key_valid) {
            return std::visit(
                [&]<class T>(RecurrentAttention<T>& s) -> py::object {
                  auto a = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(q);
                  auto b = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(k);
                  auto c = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(v);
                  LOWDIM_CHECK(a && b && c, "RecurrentAttention.step: q, k, v must be numeric arrays");
                  py::array_t<T> out(static_cast<py::ssize_t>(s.value_dim()));
                  {
                    py::gil_scoped_release release;
                    s.step(std::span<const T>(a.data(), static_cast<std::size_t>(a.size())),
                           std::span<const T>(b.data(), static_cast<std::size_t>(b.size())),
                           std::span<const T>(c.data(), static_cast<std::size_t>(c.size())),
                           std::span<T>(out.mutable_data(), static_cast<std::size_t>(s.value_dim())), key_valid);
                  }
                  return out;
                },
                r.state);
          },
          py::arg("q"), py::arg("k"), py::arg("v"), py::arg("key_valid") = true,
          "Feed one token (q, k: d values; v: d_v) and return its output (d_v values).")
      .def("reset", [](Recurrent& r) { std::visit([](auto& s) { s.reset(); }, r.state); }, "Back to no token.")
      .def_property_readonly("position", [](const Recurrent& r) { return std::visit([](const auto& s) { return s.position(); }, r.state); },
                             "Tokens fed since the last reset.");

  m.def(
      "rope_frequencies",
      [](std::int64_t dim, std::int64_t length, double base, const std::string& scaling, double factor,
         std::int64_t original_length, double beta_fast, double beta_slow, double attention_factor,
         double low_freq_factor, double high_freq_factor) {
        return to_numpy(rope_frequencies(dim,
                                         rope_options(base, scaling, factor, original_length, beta_fast, beta_slow,
                                                      attention_factor, low_freq_factor, high_freq_factor),
                                         length));
      },
      py::arg("dim"), py::arg("length") = 0, LOWDIM_ROPE_ARGS,
      "RoPE frequencies theta_t (dim/2) after a long-context scaling: none, linear, ntk, dynamic_ntk (reads "
      "length), yarn, llama3 (as Hugging Face's rope_utils).");
  m.def(
      "rope_attention_factor",
      [](double base, const std::string& scaling, double factor, std::int64_t original_length, double beta_fast,
         double beta_slow, double attention_factor, double low_freq_factor, double high_freq_factor) {
        return rope_attention_factor(rope_options(base, scaling, factor, original_length, beta_fast, beta_slow,
                                                  attention_factor, low_freq_factor, high_freq_factor));
      },
      LOWDIM_ROPE_ARGS, "The factor on cos and sin: YaRN's 0.1 ln s + 1, 1 for the other scalings.");
  m.def(
      "apply_rope",
      [](const py::array& x, const std::string& layout, const std::optional<py::array>& positions, double base,
         const std::string& scaling, double factor, std::int64_t original_length, double beta_fast, double beta_slow,
         double attention_factor, double low_freq_factor, double high_freq_factor) {
        const RopeOptions o = rope_options(base, scaling, factor, original_length, beta_fast, beta_slow,
                                           attention_factor, low_freq_factor, high_freq_factor);
        const auto pos = positions_of(positions);
        return by_dtype(x, [&]<class T>() -> py::object {
          auto t = as_tensor<T>(x, "apply_rope");
          auto out = new_tensor<T>(t, t.dim);
          auto view = tensor_out(out, t.heads * t.length, t.dim);
          view.copy_from(t.view());
          {
            py::gil_scoped_release release;
            apply_rope<T>(view, t.heads, parse_rope_layout(layout), o, pos);
          }
          return out;
        });
      },
      py::arg("x"), py::arg("layout") = "interleaved", py::arg("positions") = py::none(), LOWDIM_ROPE_ARGS,
      "x (L x d or heads x L x d) rotated by 1D RoPE (a new array): layout interleaved or half_split; positions "
      "(L integers) default to 0 ... L-1.");
  m.def(
      "permute_rope_layout",
      [](const py::array& x, std::int64_t head_dim, const std::string& from, const std::string& to, bool rows) {
        return by_dtype(x, [&]<class T>() -> py::object {
          auto in = as_input<T>(x, "permute_rope_layout");
          auto out = new_array<T>(in.view.rows(), in.view.cols());
          if (rows)
            permute_rope_rows<T>(in.view, as_output(out), head_dim, parse_rope_layout(from), parse_rope_layout(to));
          else
            permute_rope_columns<T>(in.view, as_output(out), head_dim, parse_rope_layout(from), parse_rope_layout(to));
          return out;
        });
      },
      py::arg("x"), py::arg("head_dim"), py::arg("from_layout"), py::arg("to_layout"), py::arg("rows") = false,
      "x with the columns (rows=True: the rows, for PyTorch q/k weights stored out x in) of each head permuted "
      "between the interleaved and half_split layouts.");
  m.def(
      "apply_rope_axial",
      [](const py::array& x, const py::array& px, const py::array& py_, const std::string& layout, double base) {
        RopeOptions o;
        o.base = base;
        const auto a = positions_of(px), b = positions_of(py_);
        return by_dtype(x, [&]<class T>() -> py::object {
          auto t = as_tensor<T>(x, "apply_rope_axial");
          auto out = new_tensor<T>(t, t.dim);
          auto view = tensor_out(out, t.heads * t.length, t.dim);
          view.copy_from(t.view());
          {
            py::gil_scoped_release release;
            apply_rope_axial<T>(view, t.heads, a, b, parse_rope_layout(layout), o);
          }
          return out;
        });
      },
      py::arg("x"), py::arg("px"), py::arg("py"), py::arg("layout") = "interleaved", py::arg("base") = 10000.0,
      "Axial 2D RoPE: the first d/2 columns rotated by the x positions, the last d/2 by the y positions.");
  m.def(
      "apply_rope_mixed",
      [](const py::array& x, const py::array& px, const py::array& py_, const py::array& theta_x,
         const py::array& theta_y) {
        const auto a = positions_of(px), b = positions_of(py_);
        auto tx = as_input<double>(theta_x, "apply_rope_mixed"), ty = as_input<double>(theta_y, "apply_rope_mixed");
        return by_dtype(x, [&]<class T>() -> py::object {
          auto t = as_tensor<T>(x, "apply_rope_mixed");
          auto out = new_tensor<T>(t, t.dim);
          auto view = tensor_out(out, t.heads * t.length, t.dim);
          view.copy_from(t.view());
          {
            py::gil_scoped_release release;
            apply_rope_mixed<T>(view, t.heads, a, b, tx.view, ty.view);
          }
          return out;
        });
      },
      py::arg("x"), py::arg("px"), py::arg("py"), py::arg("theta_x"), py::arg("theta_y"),
      "RoPE-Mixed (Heo et al. 2024): pair t of head h rotated by theta_x[h, t]*px + theta_y[h, t]*py.");
  m.def(
      "grid_positions",
      [](std::int64_t h, std::int64_t w) {
        const GridPositions g = grid_positions(h, w);
        return py::make_tuple(to_numpy(g.x), to_numpy(g.y));
      },
      py::arg("height"), py::arg("width"), "(x, y) positions of the tokens of an h x w grid in row-major order.");
  m.def(
      "sinusoidal_encoding",
      [](std::int64_t length, std::int64_t dim, std::int64_t offset, double base) {
        Matrix<double> pe(length, dim);
        sinusoidal_encoding<double>(pe, offset, base);
        return to_numpy(pe);
      },
      py::arg("length"), py::arg("dim"), py::arg("offset") = 0, py::arg("base") = 10000.0,
      "The sinusoidal absolute encoding (L x d): sin and cos of position * base^(-2t/d).");
  m.def(
      "attention_error_experiment",
      [](std::int64_t dim, std::int64_t length, std::int64_t kernel_rows, const std::vector<std::int64_t>& features,
         std::int64_t repeats, std::uint64_t seed, double input_std, bool causal,
         const std::vector<std::string>& projections, const std::vector<std::string>& maps) {
        AttentionErrorOptions o;
        o.dim = dim;
        o.length = length;
        o.kernel_rows = kernel_rows;
        o.features = features;
        o.repeats = repeats;
        o.seed = seed;
        o.input_std = input_std;
        o.causal = causal;
        o.projections.clear();
        for (const auto& p : projections) o.projections.push_back(parse_feature_projection(p));
        o.maps.clear();
        for (const auto& mp : maps) o.maps.push_back(parse_feature_map(mp));
        std::vector<AttentionErrorResult> r;
        {
          py::gil_scoped_release release;
          r = attention_error_experiment(o);
        }
        py::list out;
        for (const auto& x : r) {
          py::dict d;
          d["method"] = to_string(x.map);
          d["projection"] = to_string(x.projection);
          d["features"] = x.features;
          d["kernel_mse"] = x.kernel_mse;
          d["kernel_mse_median"] = x.kernel_mse_median;
          d["output_mse"] = x.output_mse;
          d["output_mse_median"] = x.output_mse_median;
          out.append(d);
        }
        return out;
      },
      py::arg("dim") = 64, py::arg("length") = 1024, py::arg("kernel_rows") = 256,
      py::arg("features") = std::vector<std::int64_t>{16, 32, 64, 128, 256, 512, 1024}, py::arg("repeats") = 32,
      py::arg("seed") = 0, py::arg("input_std") = 0.5, py::arg("causal") = false,
      py::arg("projections") = std::vector<std::string>{"iid", "orf", "sorf", "simplex"},
      py::arg("maps") = std::vector<std::string>{"positive", "optimal", "trig_softmax"},
      "Kernel and attention-output MSE against exact for every map x projection x m: a list of dicts with "
      "method, projection, features, kernel_mse(_median), output_mse(_median).");
}

const RegisterBinder registered{bind};

}  // namespace
