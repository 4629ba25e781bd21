// The C front end: every call catches, maps the exception to a status code and
// keeps its message in a thread-local buffer. No exception crosses this file.

#include "c_api/c_api_common.hpp"

#include <lowdim/c/lowdim.h>
#include <lowdim/jl.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/sketch.hpp>
#include <lowdim/version.hpp>
#include <lowdim/whitening.hpp>

#include <algorithm>
#include <memory>
#include <new>
#include <string>
#include <string_view>

struct lowdim_sketch {
  lowdim::SketchOperator op;
};
struct lowdim_whitening {
  lowdim::Whitening model;
};
struct lowdim_projection {
  lowdim::RandomProjection model;
};

using namespace lowdim::c_api;

namespace {

template <class T>
int sketch_apply(const lowdim_sketch* sketch, const T* x, int64_t n, int64_t ldx, T* y, int64_t ldy) {
  return guarded([&] {
    require(sketch, "lowdim_sketch_apply", "sketch");
    const auto& op = sketch->op;
    op.apply<T>(in_view(x, n, op.input_dim(), ldx, "lowdim_sketch_apply", "x"),
                out_view(y, n, op.output_dim(), ldy, "lowdim_sketch_apply", "y"));
  });
}
template <class T>
int sketch_apply_transpose(const lowdim_sketch* sketch, const T* y, int64_t n, int64_t ldy, T* x, int64_t ldx) {
  return guarded([&] {
    require(sketch, "lowdim_sketch_apply_transpose", "sketch");
    const auto& op = sketch->op;
    op.apply_transpose<T>(in_view(y, n, op.output_dim(), ldy, "lowdim_sketch_apply_transpose", "y"),
                          out_view(x, n, op.input_dim(), ldx, "lowdim_sketch_apply_transpose", "x"));
  });
}

template <class T>
int svd(const T* a, int64_t m, int64_t n, int64_t lda, int64_t rank, const char* method, uint64_t seed, T* u, T* s,
        T* vt) {
  return guarded([&] {
    const auto view = in_view(a, m, n, lda, "lowdim_svd", "a");
    require(u, "lowdim_svd", "u");
    require(s, "lowdim_svd", "s");
    require(vt, "lowdim_svd", "vt");
    lowdim::SvdOptions options;
    options.method = method == nullptr ? lowdim::SvdMethod::krylov : lowdim::parse_svd_method(method);
    LOWDIM_CHECK(options.method != lowdim::SvdMethod::qb,
                 "lowdim_svd: method qb is fixed-accuracy; the C API takes a fixed rank");
    options.rank = rank;
    options.seed = seed;
    const auto result = lowdim::svd<T>(view, options);
    const std::int64_t k = static_cast<std::int64_t>(result.s.size());
    LOWDIM_ASSERT(k == rank);
    lowdim::MatrixView<T>(u, m, k).copy_from(result.u.cview());
    lowdim::MatrixView<T>(vt, k, n).copy_from(result.vt.cview());
    std::copy(result.s.begin(), result.s.end(), s);
  });
}

template <class T>
int whitening_fit(const T* x, int64_t n, int64_t d, int64_t ldx, const char* kind, int64_t k, double epsilon,
                  int normalize, lowdim_whitening** out) {
  return guarded([&] {
    require(out, "lowdim_whitening_fit", "out");
    *out = nullptr;
    require(kind, "lowdim_whitening_fit", "kind");
    lowdim::WhiteningOptions options;
    options.kind = lowdim::parse_whitening_kind(kind);
    options.components = k;
    options.epsilon = epsilon;
    options.normalize = normalize != 0;
    auto model = lowdim::Whitening::fit<T>(in_view(x, n, d, ldx, "lowdim_whitening_fit", "x"), options);
    *out = new lowdim_whitening{std::move(model)};
  });
}

template <class T>
int bert_whitening_fit(const T* x, int64_t n, int64_t d, int64_t ldx, int64_t k, int normalize, const char* scatter,
                       lowdim_whitening** out) {
  return guarded([&] {
    require(out, "lowdim_bert_whitening_fit", "out");
    *out = nullptr;
    require(scatter, "lowdim_bert_whitening_fit", "scatter");
    const std::string_view precision = scatter;
    LOWDIM_CHECK(precision == "double" || precision == "float",
                 "lowdim_bert_whitening_fit: scatter must be \"double\" or \"float\", not \"{}\"", precision);
    lowdim::BertWhiteningOptions options;
    options.components = k;
    options.normalize = normalize != 0;
    options.precision =
        precision == "float" ? lowdim::ScatterPrecision::block_float : lowdim::ScatterPrecision::double_precision;
    auto model = lowdim::fit_bert_whitening<T>(in_view(x, n, d, ldx, "lowdim_bert_whitening_fit", "x"), options);
    *out = new lowdim_whitening{std::move(model)};
  });
}

template <class T>
int whitening_transform(const lowdim_whitening* w, const T* x, int64_t n, int64_t ldx, T* y, int64_t ldy) {
  return guarded([&] {
    require(w, "lowdim_whitening_transform", "whitening");
    w->model.transform<T>(in_view(x, n, w->model.dim(), ldx, "lowdim_whitening_transform", "x"),
                          out_view(y, n, w->model.output_dim(), ldy, "lowdim_whitening_transform", "y"));
  });
}

// Save/load of a handle whose `model` has save(path) and a static load(path).
template <class Handle>
int save_model(const Handle* handle, const char* path, const char* function, const char* name) {
  return guarded([&] {
    require(handle, function, name);
    require(path, function, "path");
    handle->model.save(path);
  });
}
template <class Handle>
int load_model(const char* path, Handle** out, const char* function) {
  return guarded([&] {
    require(out, function, "out");
    *out = nullptr;
    require(path, function, "path");
    *out = new Handle{decltype(Handle::model)::load(path)};
  });
}

}  // namespace

extern "C" {

const char* lowdim_last_error(void) { return last_error.c_str(); }
const char* lowdim_version(void) { return lowdim::version(); }
void lowdim_set_num_threads(int threads) { lowdim::linalg::set_num_threads(threads); }

const char* lowdim_sketch_kind_names(void) {
  static const std::string names = lowdim::sketch_kind_names();
  return names.c_str();
}
int lowdim_sketch_create(const char* kind, int64_t input_dim, int64_t output_dim, uint64_t seed, double density,
                         int jl_scaling, lowdim_sketch** out) {
  return lowdim_sketch_create_with_norms(kind, input_dim, output_dim, seed, density, jl_scaling, nullptr, out);
}
int lowdim_sketch_create_with_norms(const char* kind, int64_t input_dim, int64_t output_dim, uint64_t seed,
                                    double density, int jl_scaling, const char* row_norms, lowdim_sketch** out) {
  return guarded([&] {
    require(out, "lowdim_sketch_create", "out");
    *out = nullptr;
    require(kind, "lowdim_sketch_create", "kind");
    lowdim::SketchOptions options;
    options.density = density;
    options.jl_scaling = jl_scaling != 0;
    if (row_norms != nullptr) options.row_norms = lowdim::parse_row_norms(row_norms);
    lowdim::SketchOperator op(lowdim::parse_sketch_kind(kind), input_dim, output_dim, seed, options);
    *out = new lowdim_sketch{std::move(op)};
  });
}
int lowdim_sketch_materialized(const lowdim_sketch* sketch, lowdim_sketch** out) {
  return guarded([&] {
    require(out, "lowdim_sketch_materialized", "out");
    *out = nullptr;
    require(sketch, "lowdim_sketch_materialized", "sketch");
    *out = new lowdim_sketch{sketch->op.materialized()};
  });
}
double lowdim_sketch_gram_scale(const lowdim_sketch* sketch) { return sketch ? sketch->op.gram_scale() : -1.0; }
void lowdim_sketch_destroy(lowdim_sketch* sketch) { delete sketch; }
int64_t lowdim_sketch_input_dim(const lowdim_sketch* sketch) { return sketch ? sketch->op.input_dim() : -1; }
int64_t lowdim_sketch_output_dim(const lowdim_sketch* sketch) { return sketch ? sketch->op.output_dim() : -1; }
int lowdim_sketch_apply_f32(const lowdim_sketch* s, const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy) {
  return sketch_apply(s, x, n, ldx, y, ldy);
}
int lowdim_sketch_apply_f64(const lowdim_sketch* s, const double* x, int64_t n, int64_t ldx, double* y,
                            int64_t ldy) {
  return sketch_apply(s, x, n, ldx, y, ldy);
}
int lowdim_sketch_apply_transpose_f32(const lowdim_sketch* s, const float* y, int64_t n, int64_t ldy, float* x,
                                      int64_t ldx) {
  return sketch_apply_transpose(s, y, n, ldy, x, ldx);
}
int lowdim_sketch_apply_transpose_f64(const lowdim_sketch* s, const double* y, int64_t n, int64_t ldy, double* x,
                                      int64_t ldx) {
  return sketch_apply_transpose(s, y, n, ldy, x, ldx);
}

int lowdim_min_dim(int64_t n_points, double eps, double delta, int64_t* out) {
  return guarded([&] {
    require(out, "lowdim_min_dim", "out");
    *out = delta > 0 ? lowdim::min_dim(n_points, eps, delta) : lowdim::min_dim(n_points, eps);
  });
}
int lowdim_guaranteed_eps(int64_t k, int64_t n_points, double delta, double* out) {
  return guarded([&] {
    require(out, "lowdim_guaranteed_eps", "out");
    *out = delta > 0 ? lowdim::guaranteed_eps(k, n_points, delta) : lowdim::guaranteed_eps(k, n_points);
  });
}

int lowdim_projection_create(const char* kind, int64_t input_dim, int64_t k, double eps, int64_t n_points,
                             uint64_t seed, lowdim_projection** out) {
  return guarded([&] {
    require(out, "lowdim_projection_create", "out");
    *out = nullptr;
    require(kind, "lowdim_projection_create", "kind");
    lowdim::RandomProjectionOptions options;
    options.kind = lowdim::parse_sketch_kind(kind);
    options.k = k;
    options.eps = eps;
    options.n_points = n_points;
    options.seed = seed;
    auto projection = std::make_unique<lowdim_projection>();
    projection->model.fit(input_dim, options);
    *out = projection.release();
  });
}
void lowdim_projection_destroy(lowdim_projection* p) { delete p; }
int64_t lowdim_projection_output_dim(const lowdim_projection* p) {
  return p && p->model.fitted() ? p->model.output_dim() : -1;
}
int lowdim_projection_transform_f32(const lowdim_projection* p, const float* x, int64_t n, int64_t ldx, float* y,
                                    int64_t ldy) {
  return guarded([&] {
    require(p, "lowdim_projection_transform", "projection");
    p->model.transform<float>(in_view(x, n, p->model.input_dim(), ldx, "lowdim_projection_transform", "x"),
                              out_view(y, n, p->model.output_dim(), ldy, "lowdim_projection_transform", "y"));
  });
}
int lowdim_projection_inverse_transform_f32(const lowdim_projection* p, const float* y, int64_t n, int64_t ldy,
                                            float* x, int64_t ldx) {
  return guarded([&] {
    require(p, "lowdim_projection_inverse_transform", "projection");
    p->model.inverse_transform<float>(
        in_view(y, n, p->model.output_dim(), ldy, "lowdim_projection_inverse_transform", "y"),
        out_view(x, n, p->model.input_dim(), ldx, "lowdim_projection_inverse_transform", "x"));
  });
}
int lowdim_projection_save(const lowdim_projection* p, const char* path) {
  return save_model(p, path, "lowdim_projection_save", "projection");
}
int lowdim_projection_load(const char* path, lowdim_projection** out) {
  return load_model(path, out, "lowdim_projection_load");
}

int lowdim_distortion_f32(const float* x, int64_t n, int64_t d, int64_t ldx, const char* kind, int64_t k,
                          double eps, int64_t pairs, uint64_t seed, lowdim_distortion* out) {
  return guarded([&] {
    require(out, "lowdim_distortion", "out");
    require(kind, "lowdim_distortion", "kind");
    lowdim::DistortionOptions options;
    options.kinds = {lowdim::parse_sketch_kind(kind)};
    options.dims = {k};
    options.eps = eps;
    options.pairs = pairs;
    options.seed = seed;
    const auto report = lowdim::measure_distortion<float>(in_view(x, n, d, ldx, "lowdim_distortion", "x"), options);
    LOWDIM_CHECK(!report.results.empty(), "lowdim_distortion: kind {} does not accept k = {} for d = {}", kind, k, d);
    const auto& r = report.results.front();
    *out = lowdim_distortion{report.pairs, report.zero_distance_pairs, report.min_dim_bound, r.mean, r.std, r.min,
                             r.max, r.q01, r.q05, r.q50, r.q95, r.q99, r.within_eps};
  });
}

int lowdim_svd_f32(const float* a, int64_t m, int64_t n, int64_t lda, int64_t rank, const char* method,
                   uint64_t seed, float* u, float* s, float* vt) {
  return svd(a, m, n, lda, rank, method, seed, u, s, vt);
}
int lowdim_svd_f64(const double* a, int64_t m, int64_t n, int64_t lda, int64_t rank, const char* method,
                   uint64_t seed, double* u, double* s, double* vt) {
  return svd(a, m, n, lda, rank, method, seed, u, s, vt);
}

int lowdim_whitening_fit_f32(const float* x, int64_t n, int64_t d, int64_t ldx, const char* kind, int64_t k,
                             double epsilon, int normalize, lowdim_whitening** out) {
  return whitening_fit(x, n, d, ldx, kind, k, epsilon, normalize, out);
}
int lowdim_whitening_fit_f64(const double* x, int64_t n, int64_t d, int64_t ldx, const char* kind, int64_t k,
                             double epsilon, int normalize, lowdim_whitening** out) {
  return whitening_fit(x, n, d, ldx, kind, k, epsilon, normalize, out);
}

int lowdim_bert_whitening_fit_f32(const float* x, int64_t n, int64_t d, int64_t ldx, int64_t k, int normalize,
                                  lowdim_whitening** out) {
  return bert_whitening_fit(x, n, d, ldx, k, normalize, "double", out);
}
int lowdim_bert_whitening_fit_scatter_f32(const float* x, int64_t n, int64_t d, int64_t ldx, int64_t k, int normalize,
                                          const char* scatter, lowdim_whitening** out) {
  return bert_whitening_fit(x, n, d, ldx, k, normalize, scatter, out);
}
int lowdim_bert_whitening_fit_scatter_f64(const double* x, int64_t n, int64_t d, int64_t ldx, int64_t k, int normalize,
                                          const char* scatter, lowdim_whitening** out) {
  return bert_whitening_fit(x, n, d, ldx, k, normalize, scatter, out);
}
void lowdim_whitening_destroy(lowdim_whitening* w) { delete w; }
int64_t lowdim_whitening_input_dim(const lowdim_whitening* w) { return w ? w->model.dim() : -1; }
int64_t lowdim_whitening_output_dim(const lowdim_whitening* w) { return w ? w->model.output_dim() : -1; }
int lowdim_whitening_transform_f32(const lowdim_whitening* w, const float* x, int64_t n, int64_t ldx, float* y,
                                   int64_t ldy) {
  return whitening_transform(w, x, n, ldx, y, ldy);
}
int lowdim_whitening_transform_f64(const lowdim_whitening* w, const double* x, int64_t n, int64_t ldx, double* y,
                                   int64_t ldy) {
  return whitening_transform(w, x, n, ldx, y, ldy);
}
int lowdim_whitening_save(const lowdim_whitening* w, const char* path) {
  return save_model(w, path, "lowdim_whitening_save", "whitening");
}
int lowdim_whitening_load(const char* path, lowdim_whitening** out) {
  return load_model(path, out, "lowdim_whitening_load");
}

}  // extern "C"
