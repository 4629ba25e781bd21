/** \file
 * lowdim C API: opaque handles, int status codes, caller-allocated buffers.
 *
 * Every function returns LOWDIM_OK (0) or a negative status; on failure
 * lowdim_last_error() gives the message of the last error on this thread
 * ("rsvd: rank 600 exceeds min(rows, cols) = 500"). No exception crosses this
 * interface. Matrices are row-major: element (i, j) of an n × d matrix with
 * row stride ld is data[i * ld + j] (ld ≥ d). Outputs are written to buffers
 * the caller allocates with the documented shape; inputs are never modified.
 */
#ifndef LOWDIM_C_LOWDIM_H
#define LOWDIM_C_LOWDIM_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define LOWDIM_C_API __declspec(dllimport)
#else
/** Marks a function exported from liblowdim. */
#define LOWDIM_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status of every call: LOWDIM_OK or a negative error; lowdim_last_error() says more. */
enum lowdim_status {
  LOWDIM_OK = 0,
  LOWDIM_ERROR_INVALID_ARGUMENT = -1,   /* a value the function cannot accept (incl. NULL) */
  LOWDIM_ERROR_DIMENSION_MISMATCH = -2, /* shapes that do not fit together */
  LOWDIM_ERROR_IO = -3,                 /* a file cannot be read, parsed or written */
  LOWDIM_ERROR_NUMERICAL = -4,          /* a factorization failed */
  LOWDIM_ERROR_OUT_OF_MEMORY = -5,
  LOWDIM_ERROR_INTERNAL = -6
};

/** The message of the last failed call on this thread ("" if none). Valid until the next call. */
LOWDIM_C_API const char* lowdim_last_error(void);
/** "MAJOR.MINOR.PATCH" of the linked library. */
LOWDIM_C_API const char* lowdim_version(void);
/** Threads for lowdim's OpenMP loops and OpenBLAS (≤ 0: unchanged). */
LOWDIM_C_API void lowdim_set_num_threads(int threads);

/* ---- Sketch operators: a random k × d matrix S, applied row by row (y = S x). ---- */
/** A sketch operator S (k × d); created by lowdim_sketch_create, freed by lowdim_sketch_destroy. */
typedef struct lowdim_sketch lowdim_sketch;

/** The registered kind names, comma-separated: "gaussian, rademacher, sparse, srht, countsketch,
 * orthogonal, structured_orthogonal, hadamard_rotation, simplex". Static storage. */
LOWDIM_C_API const char* lowdim_sketch_kind_names(void);
/** kind: one of lowdim_sketch_kind_names(). density: 0 = the kind's default (only rademacher and
 * sparse take another). jl_scaling: nonzero = scaled so that E|Sx|² = |x|². */
LOWDIM_C_API int lowdim_sketch_create(const char* kind, int64_t input_dim, int64_t output_dim, uint64_t seed,
                                      double density, int jl_scaling, lowdim_sketch** out);
/** As lowdim_sketch_create, with the row norms of orthogonal and simplex: "chi" or "sqrt_d"
 * (NULL = "chi"; the other kinds refuse "sqrt_d"). */
LOWDIM_C_API int lowdim_sketch_create_with_norms(const char* kind, int64_t input_dim, int64_t output_dim,
                                                 uint64_t seed, double density, int jl_scaling,
                                                 const char* row_norms, lowdim_sketch** out);
/** The cached form of a sketch (same output bits; S or what is regenerated per call kept in
 * memory, for small batches such as one query): a new handle, destroyed by the caller. */
LOWDIM_C_API int lowdim_sketch_materialized(const lowdim_sketch* sketch, lowdim_sketch** out);
/** c when S·Sᵀ = c·I (orthogonal rows of one norm), else 0; -1 for a NULL handle. */
LOWDIM_C_API double lowdim_sketch_gram_scale(const lowdim_sketch* sketch);
/** Frees a sketch (NULL is allowed). */
LOWDIM_C_API void lowdim_sketch_destroy(lowdim_sketch* sketch);
/** d, the input dimension (-1 for a NULL handle). */
LOWDIM_C_API int64_t lowdim_sketch_input_dim(const lowdim_sketch* sketch);
/** k, the output dimension (-1 for a NULL handle). */
LOWDIM_C_API int64_t lowdim_sketch_output_dim(const lowdim_sketch* sketch);
/** y (n × k, row stride ldy) = x (n × d, row stride ldx) · Sᵀ. */
LOWDIM_C_API int lowdim_sketch_apply_f32(const lowdim_sketch* sketch, const float* x, int64_t n, int64_t ldx,
                                         float* y, int64_t ldy);
/** As lowdim_sketch_apply_f32, for double. */
LOWDIM_C_API int lowdim_sketch_apply_f64(const lowdim_sketch* sketch, const double* x, int64_t n, int64_t ldx,
                                         double* y, int64_t ldy);
/** x (n × d) = y (n × k) · S. */
LOWDIM_C_API int lowdim_sketch_apply_transpose_f32(const lowdim_sketch* sketch, const float* y, int64_t n,
                                                   int64_t ldy, float* x, int64_t ldx);
/** As lowdim_sketch_apply_transpose_f32, for double. */
LOWDIM_C_API int lowdim_sketch_apply_transpose_f64(const lowdim_sketch* sketch, const double* y, int64_t n,
                                                   int64_t ldy, double* x, int64_t ldx);

/* ---- Johnson–Lindenstrauss: bounds, random projection, distortion experiments. ---- */
/** Smallest k with ⌈4 ln n / (ε²/2 − ε³/3)⌉ (rounded up); delta ≤ 0: the plain bound, else with
 * failure probability delta. */
LOWDIM_C_API int lowdim_min_dim(int64_t n_points, double eps, double delta, int64_t* out);
/** The ε guaranteed by k dimensions for n points (delta ≤ 0: the plain bound). */
LOWDIM_C_API int lowdim_guaranteed_eps(int64_t k, int64_t n_points, double delta, double* out);

/** A fitted random projection f(x) = S x; freed by lowdim_projection_destroy. */
typedef struct lowdim_projection lowdim_projection;
/** f(x) = S x with a sketch of the given kind; k = 0 picks min_dim(n_points, eps). */
LOWDIM_C_API int lowdim_projection_create(const char* kind, int64_t input_dim, int64_t k, double eps,
                                          int64_t n_points, uint64_t seed, lowdim_projection** out);
/** Frees a projection (NULL is allowed). */
LOWDIM_C_API void lowdim_projection_destroy(lowdim_projection* projection);
/** k, the output dimension (-1 for a NULL handle). */
LOWDIM_C_API int64_t lowdim_projection_output_dim(const lowdim_projection* projection);
/** y (n × k) = f(x) for x (n × d). */
LOWDIM_C_API int lowdim_projection_transform_f32(const lowdim_projection* projection, const float* x, int64_t n,
                                                 int64_t ldx, float* y, int64_t ldy);
/** x (n × d) ≈ f⁻¹(y): the pseudo-inverse (the scaled transpose for srht). */
LOWDIM_C_API int lowdim_projection_inverse_transform_f32(const lowdim_projection* projection, const float* y,
                                                         int64_t n, int64_t ldy, float* x, int64_t ldx);
/** Writes the projection's description (kind, d, k, seed) to path, atomically. */
LOWDIM_C_API int lowdim_projection_save(const lowdim_projection* projection, const char* path);
/** Reads a projection saved by lowdim_projection_save; LOWDIM_ERROR_IO for a missing or corrupt file. */
LOWDIM_C_API int lowdim_projection_load(const char* path, lowdim_projection** out);

/** The distribution of ‖f(x) − f(y)‖² / ‖x − y‖² over sampled pairs, for one kind and k. */
typedef struct lowdim_distortion {
  int64_t pairs;               /**< pairs measured (distance > 0) */
  int64_t zero_distance_pairs; /**< sampled pairs skipped */
  int64_t min_dim_bound;       /**< min_dim(n, eps) */
  double mean;                 /**< mean ratio */
  double std;                  /**< standard deviation of the ratio */
  double min;                  /**< smallest ratio */
  double max;                  /**< largest ratio */
  double q01;                  /**< 1 % quantile */
  double q05;                  /**< 5 % quantile */
  double q50;                  /**< median */
  double q95;                  /**< 95 % quantile */
  double q99;                  /**< 99 % quantile */
  double within_eps;           /**< fraction of pairs with ratio in [1 − eps, 1 + eps] */
} lowdim_distortion;
/** Measures the distortion of `pairs` random pairs of the rows of x (n × d) under a projection of the given kind to k dimensions; writes *out. */
LOWDIM_C_API int lowdim_distortion_f32(const float* x, int64_t n, int64_t d, int64_t ldx, const char* kind,
                                       int64_t k, double eps, int64_t pairs, uint64_t seed, lowdim_distortion* out);

/* ---- Randomized SVD: A (m × n) ≈ U · diag(s) · Vt with U m × k, s k, Vt k × n. ---- */
/** method: "krylov" (default when NULL: block Krylov, depth chosen by a residual check), "rsvd",
 * "single-pass"; each with its default settings. Deterministic for a seed. Any finite A is
 * accepted (extreme ranges are scaled internally); a singular value that the type cannot hold is
 * LOWDIM_ERROR_NUMERICAL. u, s, vt: caller buffers of m·k, k and k·n elements (contiguous rows). */
LOWDIM_C_API int lowdim_svd_f32(const float* a, int64_t m, int64_t n, int64_t lda, int64_t rank,
                                const char* method, uint64_t seed, float* u, float* s, float* vt);
/** As lowdim_svd_f32, for double. */
LOWDIM_C_API int lowdim_svd_f64(const double* a, int64_t m, int64_t n, int64_t lda, int64_t rank,
                                const char* method, uint64_t seed, double* u, double* s, double* vt);

/* ---- Whitening: y = (x − μ) · W, W d × k. ---- */
/** A fitted whitening model; freed by lowdim_whitening_destroy. */
typedef struct lowdim_whitening lowdim_whitening;

/** kind: "pca", "zca", "cholesky", "zca-cor", "pca-cor"; k: output dimension (0 = d; pca kinds
 * only); epsilon: added to eigenvalues; normalize: nonzero = L2-normalise output rows. */
LOWDIM_C_API int lowdim_whitening_fit_f32(const float* x, int64_t n, int64_t d, int64_t ldx, const char* kind,
                                          int64_t k, double epsilon, int normalize, lowdim_whitening** out);
/** As lowdim_whitening_fit_f32, for double input. */
LOWDIM_C_API int lowdim_whitening_fit_f64(const double* x, int64_t n, int64_t d, int64_t ldx, const char* kind,
                                          int64_t k, double epsilon, int normalize, lowdim_whitening** out);
/** BERT-whitening (Su et al. 2021): PCA whitening keeping k dimensions, optionally normalised. */
LOWDIM_C_API int lowdim_bert_whitening_fit_f32(const float* x, int64_t n, int64_t d, int64_t ldx, int64_t k,
                                               int normalize, lowdim_whitening** out);
/** As lowdim_bert_whitening_fit_f32, with the scatter's precision: scatter "double" (the
 * default of the other functions) or "float" (float32 panels of the data centred in double:
 * about twice as fast, ~1e-5 relative error); float or double input. */
LOWDIM_C_API int lowdim_bert_whitening_fit_scatter_f32(const float* x, int64_t n, int64_t d, int64_t ldx, int64_t k,
                                                       int normalize, const char* scatter, lowdim_whitening** out);
/** As lowdim_bert_whitening_fit_scatter_f32, for double input. */
LOWDIM_C_API int lowdim_bert_whitening_fit_scatter_f64(const double* x, int64_t n, int64_t d, int64_t ldx, int64_t k,
                                                       int normalize, const char* scatter, lowdim_whitening** out);
/** Frees a whitening model (NULL is allowed). */
LOWDIM_C_API void lowdim_whitening_destroy(lowdim_whitening* whitening);
/** d, the input dimension (-1 for a NULL handle). */
LOWDIM_C_API int64_t lowdim_whitening_input_dim(const lowdim_whitening* whitening);
/** k, the output dimension (-1 for a NULL handle). */
LOWDIM_C_API int64_t lowdim_whitening_output_dim(const lowdim_whitening* whitening);
/** y (n × k, stride ldy) = whitened x (n × d, stride ldx). */
LOWDIM_C_API int lowdim_whitening_transform_f32(const lowdim_whitening* whitening, const float* x, int64_t n,
                                                int64_t ldx, float* y, int64_t ldy);
/** As lowdim_whitening_transform_f32, for double. */
LOWDIM_C_API int lowdim_whitening_transform_f64(const lowdim_whitening* whitening, const double* x, int64_t n,
                                                int64_t ldx, double* y, int64_t ldy);
/** Writes the fitted model to path, atomically. */
LOWDIM_C_API int lowdim_whitening_save(const lowdim_whitening* whitening, const char* path);
/** Reads a model saved by lowdim_whitening_save; LOWDIM_ERROR_IO for a missing or corrupt file. */
LOWDIM_C_API int lowdim_whitening_load(const char* path, lowdim_whitening** out);

#ifdef __cplusplus
}
#endif

#endif

#include <lowdim/c/lsh.h>
#include <lowdim/c/attention.h>
