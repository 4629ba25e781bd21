// C API of random features, attention and RoPE, behind the exception barrier.

#include "c_api/c_api_common.hpp"

#include <lowdim/attention.hpp>
#include <lowdim/c/attention.h>
#include <lowdim/rope.hpp>

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <variant>

struct lowdim_features {
  lowdim::RandomFeatures features;
};

struct lowdim_recurrent {
  std::variant<lowdim::RecurrentAttention<float>, lowdim::RecurrentAttention<double>> state;
};

using lowdim::c_api::guarded;
using lowdim::c_api::in_view;
using lowdim::c_api::out_view;
using lowdim::c_api::require;

namespace {

lowdim::AttentionOptions convert(const lowdim_attention_options* o, const char* function) {
  lowdim::AttentionOptions a;
  if (!o) return a;
  a.causal = o->causal != 0;
  a.block = o->block;
  a.scale = o->scale;
  LOWDIM_CHECK(o->key_mask_size >= 0 && o->rotation_size >= 0, "{}: negative key_mask_size {} or rotation_size {}",
               function, o->key_mask_size, o->rotation_size);
  if (o->key_mask_size > 0) {
    require(o->key_mask, function, "options->key_mask");
    a.key_mask = std::span<const std::uint8_t>(o->key_mask, static_cast<std::size_t>(o->key_mask_size));
  }
  if (o->rotation_size > 0) {
    require(o->rotation, function, "options->rotation");
    a.feature_rotation.frequencies.assign(o->rotation, o->rotation + o->rotation_size);
    a.feature_rotation.offset = o->rotation_offset;
  }
  return a;
}

lowdim::RopeOptions convert(const lowdim_rope_options* o) {
  lowdim::RopeOptions r;
  if (!o) return r;
  r.base = o->base;
  r.scaling = o->scaling ? lowdim::parse_rope_scaling(o->scaling) : lowdim::RopeScaling::none;
  r.factor = o->factor;
  r.original_length = o->original_length;
  r.beta_fast = o->beta_fast;
  r.beta_slow = o->beta_slow;
  r.attention_factor = o->attention_factor;
  r.low_freq_factor = o->low_freq_factor;
  r.high_freq_factor = o->high_freq_factor;
  return r;
}

template <class T>
int softmax(const T* q, const T* k, const T* v, int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv, T* out,
            const lowdim_attention_options* options, const char* f) {
  return guarded([&] {
    LOWDIM_CHECK(heads >= 1 && lq >= 0 && lk >= 0, "{}: heads {} must be >= 1 and lengths {}, {} >= 0", f, heads, lq, lk);
    lowdim::softmax_attention<T>(in_view(q, heads * lq, d, d, f, "q"), in_view(k, heads * lk, d, d, f, "k"),
                                 in_view(v, heads * lk, dv, dv, f, "v"), heads, out_view(out, heads * lq, dv, dv, f, "out"),
                                 convert(options, f));
  });
}

template <class T>
int linear(const lowdim_features* features, const T* q, const T* k, const T* v, int64_t heads, int64_t lq, int64_t lk,
           int64_t d, int64_t dv, T* out, const lowdim_attention_options* options, const char* f) {
  return guarded([&] {
    require(features, f, "features");
    LOWDIM_CHECK(heads >= 1 && lq >= 0 && lk >= 0, "{}: heads {} must be >= 1 and lengths {}, {} >= 0", f, heads, lq, lk);
    lowdim::linear_attention<T>(features->features, in_view(q, heads * lq, d, d, f, "q"),
                                in_view(k, heads * lk, d, d, f, "k"), in_view(v, heads * lk, dv, dv, f, "v"), heads,
                                out_view(out, heads * lq, dv, dv, f, "out"), convert(options, f));
  });
}

template <class T>
int features_apply(const lowdim_features* features, const T* x, int64_t n, int64_t ldx, double scale, T* phi,
                   int64_t ldphi, T* log_scale, const char* f) {
  return guarded([&] {
    require(features, f, "features");
    require(log_scale, f, "log_scale");
    const auto& map = features->features;
    map.apply<T>(in_view(x, n, map.dim(), ldx, f, "x"), out_view(phi, n, map.features(), ldphi, f, "phi"),
                 std::span<T>(log_scale, static_cast<std::size_t>(n)), scale);
  });
}

template <class T>
int step(lowdim_recurrent* state, const T* q, const T* k, const T* v, int key_valid, T* out, const char* f) {
  return guarded([&] {
    require(state, f, "state");
    auto* s = std::get_if<lowdim::RecurrentAttention<T>>(&state->state);
    LOWDIM_CHECK(s != nullptr, "{}: the state was created with double_precision = {}; use the {} step", f,
                 std::is_same_v<T, float> ? 1 : 0, std::is_same_v<T, float> ? "_f64" : "_f32");
    require(q, f, "q");
    require(k, f, "k");
    require(v, f, "v");
    require(out, f, "out");
    const auto d = static_cast<std::size_t>(s->features().dim()), dv = static_cast<std::size_t>(s->value_dim());
    s->step(std::span<const T>(q, d), std::span<const T>(k, d), std::span<const T>(v, dv), std::span<T>(out, dv),
            key_valid != 0);
  });
}

template <class T>
int rope(T* x, int64_t heads, int64_t length, int64_t d, const char* layout, const lowdim_rope_options* options,
         const int64_t* positions, const char* f) {
  return guarded([&] {
    require(layout, f, "layout");
    LOWDIM_CHECK(heads >= 1 && length >= 0, "{}: heads {} must be >= 1 and length {} >= 0", f, heads, length);
    std::span<const std::int64_t> pos;
    if (positions) pos = std::span<const std::int64_t>(positions, static_cast<std::size_t>(length));
    lowdim::apply_rope<T>(out_view(x, heads * length, d, d, f, "x"), heads, lowdim::parse_rope_layout(layout),
                          convert(options), pos);
  });
}

}  // namespace

extern "C" {

const char* lowdim_feature_map_names(void) {
  static const std::string names = lowdim::feature_map_names();
  return names.c_str();
}
const char* lowdim_feature_projection_names(void) {
  static const std::string names = lowdim::feature_projection_names();
  return names.c_str();
}

int lowdim_features_create(const char* map, const char* projection, int64_t d, int64_t m, uint64_t seed,
                           double optimal_a, lowdim_features** out) {
  return guarded([&] {
    require(out, "lowdim_features_create", "out");
    *out = nullptr;
    require(map, "lowdim_features_create", "map");
    require(projection, "lowdim_features_create", "projection");
    lowdim::FeatureMapOptions o;
    const auto kind = lowdim::parse_feature_map(map);
    LOWDIM_CHECK(std::isnan(optimal_a) || kind == lowdim::FeatureMapKind::optimal,
                 "lowdim_features_create: optimal_a = {} is for the optimal map only (pass NaN)", optimal_a);
    o.optimal_a = optimal_a;
    *out = new lowdim_features{lowdim::RandomFeatures(kind, lowdim::parse_feature_projection(projection), d, m, seed, o)};
  });
}
void lowdim_features_destroy(lowdim_features* features) { delete features; }
int64_t lowdim_features_count(const lowdim_features* features) { return features ? features->features.features() : -1; }
int lowdim_features_apply_f32(const lowdim_features* features, const float* x, int64_t n, int64_t ldx, double scale,
                              float* phi, int64_t ldphi, float* log_scale) {
  return features_apply(features, x, n, ldx, scale, phi, ldphi, log_scale, "lowdim_features_apply_f32");
}
int lowdim_features_apply_f64(const lowdim_features* features, const double* x, int64_t n, int64_t ldx, double scale,
                              double* phi, int64_t ldphi, double* log_scale) {
  return features_apply(features, x, n, ldx, scale, phi, ldphi, log_scale, "lowdim_features_apply_f64");
}

void lowdim_attention_options_init(lowdim_attention_options* options) {
  if (!options) return;
  *options = lowdim_attention_options{0, 128, 0.0, nullptr, 0, nullptr, 0, 0};
}

int lowdim_softmax_attention_f32(const float* q, const float* k, const float* v, int64_t heads, int64_t lq, int64_t lk,
                                 int64_t d, int64_t dv, float* out, const lowdim_attention_options* options) {
  return softmax(q, k, v, heads, lq, lk, d, dv, out, options, "lowdim_softmax_attention_f32");
}
int lowdim_softmax_attention_f64(const double* q, const double* k, const double* v, int64_t heads, int64_t lq,
                                 int64_t lk, int64_t d, int64_t dv, double* out, const lowdim_attention_options* options) {
  return softmax(q, k, v, heads, lq, lk, d, dv, out, options, "lowdim_softmax_attention_f64");
}
int lowdim_linear_attention_f32(const lowdim_features* features, const float* q, const float* k, const float* v,
                                int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv, float* out,
                                const lowdim_attention_options* options) {
  return linear(features, q, k, v, heads, lq, lk, d, dv, out, options, "lowdim_linear_attention_f32");
}
int lowdim_linear_attention_f64(const lowdim_features* features, const double* q, const double* k, const double* v,
                                int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv, double* out,
                                const lowdim_attention_options* options) {
  return linear(features, q, k, v, heads, lq, lk, d, dv, out, options, "lowdim_linear_attention_f64");
}

int lowdim_recurrent_create(const lowdim_features* features, int64_t dv, double scale, int double_precision,
                            lowdim_recurrent** out) {
  return guarded([&] {
    require(out, "lowdim_recurrent_create", "out");
    *out = nullptr;
    require(features, "lowdim_recurrent_create", "features");
    if (double_precision)
      *out = new lowdim_recurrent{lowdim::RecurrentAttention<double>(features->features, dv, scale)};
    else
      *out = new lowdim_recurrent{lowdim::RecurrentAttention<float>(features->features, dv, scale)};
  });
}
void lowdim_recurrent_destroy(lowdim_recurrent* state) { delete state; }
int lowdim_recurrent_step_f32(lowdim_recurrent* state, const float* q, const float* k, const float* v, int key_valid,
                              float* out) {
  return step(state, q, k, v, key_valid, out, "lowdim_recurrent_step_f32");
}
int lowdim_recurrent_step_f64(lowdim_recurrent* state, const double* q, const double* k, const double* v,
                              int key_valid, double* out) {
  return step(state, q, k, v, key_valid, out, "lowdim_recurrent_step_f64");
}
int lowdim_recurrent_reset(lowdim_recurrent* state) {
  return guarded([&] {
    require(state, "lowdim_recurrent_reset", "state");
    std::visit([](auto& s) { s.reset(); }, state->state);
  });
}

void lowdim_rope_options_init(lowdim_rope_options* options) {
  if (!options) return;
  const lowdim::RopeOptions d;
  *options = lowdim_rope_options{d.base,      "none",          d.factor,          d.original_length, d.beta_fast,
                                 d.beta_slow, d.attention_factor, d.low_freq_factor, d.high_freq_factor};
}
int lowdim_rope_frequencies(int64_t dim, const lowdim_rope_options* options, int64_t length, double* theta) {
  return guarded([&] {
    require(theta, "lowdim_rope_frequencies", "theta");
    const auto t = lowdim::rope_frequencies(dim, convert(options), length);
    std::copy(t.begin(), t.end(), theta);
  });
}
int lowdim_apply_rope_f32(float* x, int64_t heads, int64_t length, int64_t d, const char* layout,
                          const lowdim_rope_options* options, const int64_t* positions) {
  return rope(x, heads, length, d, layout, options, positions, "lowdim_apply_rope_f32");
}
int lowdim_apply_rope_f64(double* x, int64_t heads, int64_t length, int64_t d, const char* layout,
                          const lowdim_rope_options* options, const int64_t* positions) {
  return rope(x, heads, length, d, layout, options, positions, "lowdim_apply_rope_f64");
}
int lowdim_permute_rope_columns_f32(const float* x, int64_t rows, int64_t cols, int64_t head_dim, const char* from,
                                    const char* to, float* y) {
  return guarded([&] {
    require(from, "lowdim_permute_rope_columns_f32", "from");
    require(to, "lowdim_permute_rope_columns_f32", "to");
    lowdim::permute_rope_columns<float>(in_view(x, rows, cols, cols, "lowdim_permute_rope_columns_f32", "x"),
                                        out_view(y, rows, cols, cols, "lowdim_permute_rope_columns_f32", "y"), head_dim,
                                        lowdim::parse_rope_layout(from), lowdim::parse_rope_layout(to));
  });
}

}  // extern "C"
