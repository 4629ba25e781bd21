/* The attention part of the C API, compiled as C99: feature maps, exact / linear / causal /
 * recurrent attention, RoPE, and the error statuses. */
#include <lowdim/c/lowdim.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (%s)\n", __FILE__, __LINE__, #cond, lowdim_last_error()); \
      return 1;                                                            \
    }                                                                      \
  } while (0)

static double lcg(unsigned long* s) {
  *s = *s * 6364136223846793005UL + 1442695040888963407UL;
  return ((double)(*s >> 11) / 9007199254740992.0 - 0.5) * 2.0;
}

int main(void) {
  enum { H = 2, L = 40, D = 8, DV = 3, M = 64 };
  static float q[H * L * D], k[H * L * D], v[H * L * DV], exact[H * L * DV], lin[H * L * DV], causal[H * L * DV];
  unsigned long seed = 7;
  for (int i = 0; i < H * L * D; ++i) q[i] = (float)(0.5 * lcg(&seed)), k[i] = (float)(0.5 * lcg(&seed));
  for (int i = 0; i < H * L * DV; ++i) v[i] = (float)lcg(&seed);

  lowdim_features* f = NULL;
  CHECK(lowdim_features_create("favor", "orf", D, M, 3, NAN, &f) == LOWDIM_OK);
  CHECK(lowdim_features_count(f) == M);
  CHECK(strstr(lowdim_feature_map_names(), "optimal") != NULL);

  CHECK(lowdim_softmax_attention_f32(q, k, v, H, L, L, D, DV, exact, NULL) == LOWDIM_OK);
  CHECK(lowdim_linear_attention_f32(f, q, k, v, H, L, L, D, DV, lin, NULL) == LOWDIM_OK);
  double mse = 0;
  for (int i = 0; i < H * L * DV; ++i) mse += (lin[i] - exact[i]) * (lin[i] - exact[i]) / (H * L * DV);
  CHECK(mse < 1e-2);

  lowdim_attention_options o;
  lowdim_attention_options_init(&o);
  o.causal = 1;
  o.block = 16;
  CHECK(lowdim_linear_attention_f32(f, q, k, v, H, L, L, D, DV, causal, &o) == LOWDIM_OK);
  lowdim_recurrent* r = NULL;
  CHECK(lowdim_recurrent_create(f, DV, 0, 0, &r) == LOWDIM_OK);
  double worst = 0;
  for (int i = 0; i < L; ++i) {
    float out[DV];
    CHECK(lowdim_recurrent_step_f32(r, q + i * D, k + i * D, v + i * DV, 1, out) == LOWDIM_OK);
    for (int c = 0; c < DV; ++c) worst = fmax(worst, fabs(out[c] - causal[i * DV + c]));
  }
  CHECK(worst < 1e-4);
  double dout[DV], dq[D] = {0}, dv[DV] = {0};
  CHECK(lowdim_recurrent_step_f64(r, dq, dq, dv, 1, dout) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "double_precision = 0") != NULL);
  CHECK(lowdim_recurrent_reset(r) == LOWDIM_OK);
  lowdim_recurrent_destroy(r);

  /* RoPE: relative scores. */
  lowdim_rope_options ro;
  lowdim_rope_options_init(&ro);
  ro.scaling = "yarn";
  ro.factor = 4;
  ro.original_length = 16;
  double theta[D / 2];
  CHECK(lowdim_rope_frequencies(D, &ro, 0, theta) == LOWDIM_OK);
  CHECK(theta[0] == 1.0);
  float rq[4 * D], rk[4 * D];
  for (int i = 0; i < 4; ++i) memcpy(rq + i * D, q, sizeof(float) * D), memcpy(rk + i * D, k, sizeof(float) * D);
  const int64_t pos[4] = {3, 0, 13, 10};
  CHECK(lowdim_apply_rope_f32(rq, 1, 4, D, "half_split", &ro, pos) == LOWDIM_OK);
  CHECK(lowdim_apply_rope_f32(rk, 1, 4, D, "half_split", &ro, pos) == LOWDIM_OK);
  double s1 = 0, s2 = 0;
  for (int c = 0; c < D; ++c) s1 += rq[c] * rk[D + c], s2 += rq[2 * D + c] * rk[3 * D + c];
  CHECK(fabs(s1 - s2) < 1e-5);

  /* Errors name the values. */
  lowdim_features* bad = NULL;
  CHECK(lowdim_features_create("favor", "orf", D, 0, 1, NAN, &bad) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "m = 0") != NULL && bad == NULL);
  CHECK(lowdim_features_create("softplus", "orf", D, 4, 1, NAN, &bad) == LOWDIM_ERROR_INVALID_ARGUMENT);
  /* q and k of d = D + 1 columns (buffers of that size: the library reads them before it checks d). */
  static float wide_q[H * L * (D + 1)], wide_k[H * L * (D + 1)];
  CHECK(lowdim_linear_attention_f32(f, wide_q, wide_k, v, H, L, L, D + 1, DV, lin, NULL) ==
        LOWDIM_ERROR_DIMENSION_MISMATCH);
  CHECK(strstr(lowdim_last_error(), "takes d = 8") != NULL);
  q[5] = NAN;
  CHECK(lowdim_softmax_attention_f32(q, k, v, H, L, L, D, DV, exact, NULL) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "row 0, column 5") != NULL);
  lowdim_features_destroy(f);
  printf("attention c api ok\n");
  return 0;
}
