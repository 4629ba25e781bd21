/* lowdim C API: random-feature maps, exact / linear / causal / recurrent attention and RoPE
 * (float32 and float64). Included by lowdim/c/lowdim.h. Conventions as lowdim.h: int status,
 * lowdim_last_error(), caller-allocated row-major buffers. Tensors heads × L × d are contiguous
 * (heads·L) × d arrays. */
#ifndef LOWDIM_C_ATTENTION_H
#define LOWDIM_C_ATTENTION_H

#include <lowdim/c/lowdim.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A feature map with its random projection W. */
typedef struct lowdim_features lowdim_features;
/** The causal linear-attention state of one head, advanced a token at a time. */
typedef struct lowdim_recurrent lowdim_recurrent;

/** "positive, optimal, trig_softmax, ...": the feature map names. Static storage. */
LOWDIM_C_API const char* lowdim_feature_map_names(void);
/** "iid, orf, sorf, simplex". Static storage. */
LOWDIM_C_API const char* lowdim_feature_projection_names(void);
/** A feature map: map and projection by name, d inputs, m random directions, a seed.
 * optimal_a: A of the optimal (FAVOR++) map, NaN to fit it from the data (bidirectional only);
 * other maps need NaN. */
LOWDIM_C_API int lowdim_features_create(const char* map, const char* projection, int64_t d, int64_t m, uint64_t seed,
                                        double optimal_a, lowdim_features** out);
/** Frees a feature map (NULL is fine). */
LOWDIM_C_API void lowdim_features_destroy(lowdim_features* features);
/** Columns of phi (2m for trig_softmax, trig_gaussian, hyperbolic; m otherwise); -1 for NULL. */
LOWDIM_C_API int64_t lowdim_features_count(const lowdim_features* features);
/** phi (n × count, stride ldphi) and log_scale (n) of the rows of scale·x (n × d, stride ldx):
 * the feature of row i is exp(log_scale[i])·phi_i. */
LOWDIM_C_API int lowdim_features_apply_f32(const lowdim_features* features, const float* x, int64_t n, int64_t ldx,
                                           double scale, float* phi, int64_t ldphi, float* log_scale);
/** As lowdim_features_apply_f32, for double. */
LOWDIM_C_API int lowdim_features_apply_f64(const lowdim_features* features, const double* x, int64_t n, int64_t ldx,
                                           double scale, double* phi, int64_t ldphi, double* log_scale);

/** Options of the attention functions (lowdim_attention_options_init sets the defaults). */
typedef struct lowdim_attention_options {
  int causal;                  /**< non-zero: query i sees keys j <= i */
  int64_t block;               /**< block / chunk size (default 128) */
  double scale;                /**< score scale; 0: 1/sqrt(d) */
  const uint8_t* key_mask;     /**< NULL, or key_mask_size entries (L_k or heads·L_k); non-zero = attend */
  int64_t key_mask_size;       /**< entries of key_mask */
  const double* rotation;      /**< linear attention: features/2 RoPE frequencies of the features, or NULL */
  int64_t rotation_size;       /**< entries of rotation */
  int64_t rotation_offset;     /**< position of row 0 of each head */
} lowdim_attention_options;
/** Sets the defaults: bidirectional, block 128, scale 1/sqrt(d), no mask, no rotation. */
LOWDIM_C_API void lowdim_attention_options_init(lowdim_attention_options* options);

/** Exact softmax attention: q (heads·lq × d), k (heads·lk × d), v (heads·lk × dv), out
 * (heads·lq × dv), contiguous. options may be NULL (defaults). */
LOWDIM_C_API int lowdim_softmax_attention_f32(const float* q, const float* k, const float* v, int64_t heads,
                                              int64_t lq, int64_t lk, int64_t d, int64_t dv, float* out,
                                              const lowdim_attention_options* options);
/** As lowdim_softmax_attention_f32, for double. */
LOWDIM_C_API int lowdim_softmax_attention_f64(const double* q, const double* k, const double* v, int64_t heads,
                                              int64_t lq, int64_t lk, int64_t d, int64_t dv, double* out,
                                              const lowdim_attention_options* options);
/** Linear (random-feature) attention, bidirectional or causal; shapes as lowdim_softmax_attention_f32. */
LOWDIM_C_API int lowdim_linear_attention_f32(const lowdim_features* features, const float* q, const float* k,
                                             const float* v, int64_t heads, int64_t lq, int64_t lk, int64_t d,
                                             int64_t dv, float* out, const lowdim_attention_options* options);
/** As lowdim_linear_attention_f32, for double. */
LOWDIM_C_API int lowdim_linear_attention_f64(const lowdim_features* features, const double* q, const double* k,
                                             const double* v, int64_t heads, int64_t lq, int64_t lk, int64_t d,
                                             int64_t dv, double* out, const lowdim_attention_options* options);

/** A recurrent state over the features for values of dv columns (scale 0: 1/sqrt(d));
 * double_precision non-zero: the state and the steps are float64 (use the _f64 step). */
LOWDIM_C_API int lowdim_recurrent_create(const lowdim_features* features, int64_t dv, double scale,
                                         int double_precision, lowdim_recurrent** out);
/** Frees a recurrent state (NULL is fine). */
LOWDIM_C_API void lowdim_recurrent_destroy(lowdim_recurrent* state);
/** Feeds one token (q, k: d values; v: dv values) and writes its output (dv values);
 * key_valid = 0 masks the key. Equals the causal linear attention row by row. */
LOWDIM_C_API int lowdim_recurrent_step_f32(lowdim_recurrent* state, const float* q, const float* k, const float* v,
                                           int key_valid, float* out);
/** As lowdim_recurrent_step_f32, for a float64 state. */
LOWDIM_C_API int lowdim_recurrent_step_f64(lowdim_recurrent* state, const double* q, const double* k,
                                           const double* v, int key_valid, double* out);
/** Back to no token. */
LOWDIM_C_API int lowdim_recurrent_reset(lowdim_recurrent* state);

/** RoPE frequency options (lowdim_rope_options_init sets the defaults). */
typedef struct lowdim_rope_options {
  double base;              /**< 10000 */
  const char* scaling;      /**< "none", "linear", "ntk", "dynamic_ntk", "yarn", "llama3" (NULL: none) */
  double factor;            /**< s (1) */
  int64_t original_length;  /**< L0 (0; needed by dynamic_ntk, yarn, llama3) */
  double beta_fast;         /**< yarn (32) */
  double beta_slow;         /**< yarn (1) */
  double attention_factor;  /**< yarn (0: 0.1 ln s + 1) */
  double low_freq_factor;   /**< llama3 (1) */
  double high_freq_factor;  /**< llama3 (4) */
} lowdim_rope_options;
/** Sets the defaults (base 10000, no scaling). */
LOWDIM_C_API void lowdim_rope_options_init(lowdim_rope_options* options);
/** theta (dim/2 values) after the scaling; length: the sequence length dynamic_ntk reads. options may be NULL. */
LOWDIM_C_API int lowdim_rope_frequencies(int64_t dim, const lowdim_rope_options* options, int64_t length,
                                         double* theta);
/** Rotates x (heads·L × d, contiguous) in place; layout "interleaved" or "half_split";
 * positions: L values or NULL (0 … L − 1). */
LOWDIM_C_API int lowdim_apply_rope_f32(float* x, int64_t heads, int64_t length, int64_t d, const char* layout,
                                       const lowdim_rope_options* options, const int64_t* positions);
/** As lowdim_apply_rope_f32, for double. */
LOWDIM_C_API int lowdim_apply_rope_f64(double* x, int64_t heads, int64_t length, int64_t d, const char* layout,
                                       const lowdim_rope_options* options, const int64_t* positions);
/** y = x (rows × cols, contiguous) with the columns of each head of head_dim permuted between layouts. */
LOWDIM_C_API int lowdim_permute_rope_columns_f32(const float* x, int64_t rows, int64_t cols, int64_t head_dim,
                                                 const char* from, const char* to, float* y);

#ifdef __cplusplus
}
#endif

#endif
