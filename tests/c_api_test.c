/* The C API from plain C99: results, status codes and messages. Prints
 * "N passed, M failed" and exits non-zero on any failure. */
#include <lowdim/c/lowdim.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (cond) {                                                       \
      ++passed;                                                       \
    } else {                                                          \
      ++failed;                                                       \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond, \
              lowdim_last_error());                                   \
    }                                                                 \
  } while (0)

/* A deterministic pseudo-random fill (an LCG) so the test owns its data. */
static double next_value(unsigned long long* state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*state >> 11) / 9007199254740992.0 - 0.5;
}

static void test_version_and_errors(void) {
  CHECK(strlen(lowdim_version()) >= 5);
  lowdim_sketch* sketch = (lowdim_sketch*)1;
  CHECK(lowdim_sketch_create("nonsense", 10, 5, 1, 0, 1, &sketch) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(sketch == NULL);
  CHECK(strstr(lowdim_last_error(), "nonsense") != NULL);
  CHECK(lowdim_sketch_create("gaussian", 10, 0, 1, 0, 1, &sketch) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(lowdim_sketch_create(NULL, 10, 5, 1, 0, 1, &sketch) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "kind is NULL") != NULL);
  CHECK(lowdim_sketch_apply_f32(NULL, NULL, 0, 0, NULL, 0) == LOWDIM_ERROR_INVALID_ARGUMENT);
}

static void test_sketch(void) {
  enum { n = 200, d = 300, k = 100 };
  lowdim_sketch* sketch = NULL;
  CHECK(lowdim_sketch_create("gaussian", d, k, 7, 0, 1, &sketch) == LOWDIM_OK);
  CHECK(lowdim_sketch_input_dim(sketch) == d && lowdim_sketch_output_dim(sketch) == k);
  double* x = malloc(sizeof(double) * n * d);
  double* y = malloc(sizeof(double) * n * k);
  float* xf = malloc(sizeof(float) * n * d);
  float* yf = malloc(sizeof(float) * n * k);
  unsigned long long state = 1;
  for (int i = 0; i < n * d; ++i) xf[i] = (float)(x[i] = next_value(&state));
  CHECK(lowdim_sketch_apply_f64(sketch, x, n, d, y, k) == LOWDIM_OK);
  CHECK(lowdim_sketch_apply_f32(sketch, xf, n, d, yf, k) == LOWDIM_OK);
  /* JL scaling: the mean of |Sx|²/|x|² over n rows is 1 within ~5 standard errors (var 2/k each). */
  double mean_ratio = 0, max_diff = 0;
  for (int i = 0; i < n; ++i) {
    double nx = 0, ny = 0;
    for (int j = 0; j < d; ++j) nx += x[i * d + j] * x[i * d + j];
    for (int j = 0; j < k; ++j) {
      ny += y[i * k + j] * y[i * k + j];
      double diff = fabs(y[i * k + j] - (double)yf[i * k + j]);
      if (diff > max_diff) max_diff = diff;
    }
    mean_ratio += ny / nx / n;
  }
  CHECK(fabs(mean_ratio - 1) < 5 * sqrt(2.0 / k / n));
  CHECK(max_diff < 1e-4); /* float and double apply the same operator */
  /* Shape errors name the function. */
  CHECK(lowdim_sketch_apply_f64(sketch, x, n, d - 1, y, k) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "row stride of x") != NULL);
  free(x), free(y), free(xf), free(yf);
  lowdim_sketch_destroy(sketch);
}

/* The orthogonal kinds, their row norms and the cached form through the C API. */
static void test_sketch_kinds(void) {
  enum { d = 64, k = 16 };
  CHECK(strstr(lowdim_sketch_kind_names(), "hadamard_rotation") != NULL);
  lowdim_sketch* orf = NULL;
  lowdim_sketch* cached = NULL;
  CHECK(lowdim_sketch_create_with_norms("orthogonal", d, k, 3, 0, 1, "sqrt_d", &orf) == LOWDIM_OK);
  CHECK(fabs(lowdim_sketch_gram_scale(orf) - (double)d / k) < 1e-12);
  CHECK(lowdim_sketch_materialized(orf, &cached) == LOWDIM_OK);
  double x[3 * d], a[3 * k], b[3 * k];
  unsigned long long state = 5;
  for (int i = 0; i < 3 * d; ++i) x[i] = next_value(&state);
  CHECK(lowdim_sketch_apply_f64(orf, x, 3, d, a, k) == LOWDIM_OK);
  CHECK(lowdim_sketch_apply_f64(cached, x, 3, d, b, k) == LOWDIM_OK);
  CHECK(memcmp(a, b, sizeof a) == 0);
  lowdim_sketch_destroy(cached);
  lowdim_sketch_destroy(orf);
  lowdim_sketch* bad = (lowdim_sketch*)1;
  CHECK(lowdim_sketch_create_with_norms("gaussian", d, k, 3, 0, 1, "sqrt_d", &bad) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  CHECK(strstr(lowdim_last_error(), "no row-norm option") != NULL);
  CHECK(lowdim_sketch_create_with_norms("orthogonal", d, k, 3, 0, 1, "cubic", &bad) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "unknown row norms 'cubic'") != NULL);
  CHECK(lowdim_sketch_gram_scale(NULL) == -1.0);
}

static void test_jl(const char* dir) {
  int64_t k = 0;
  CHECK(lowdim_min_dim(1000000, 0.5, 0, &k) == LOWDIM_OK);
  CHECK(k == 664); /* rounded up; scikit-learn truncates to 663 */
  CHECK(lowdim_min_dim(1000, 1.5, 0, &k) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "1.5") != NULL);
  double eps = 0;
  CHECK(lowdim_guaranteed_eps(664, 1000000, 0, &eps) == LOWDIM_OK);
  CHECK(eps <= 0.5 && eps > 0.49);

  enum { n = 300, d = 128, kk = 64 };
  float* x = malloc(sizeof(float) * n * d);
  unsigned long long state = 11;
  for (int i = 0; i < n * d; ++i) x[i] = (float)next_value(&state);
  lowdim_projection* p = NULL;
  CHECK(lowdim_projection_create("srht", d, kk, 0.1, 0, 4, &p) == LOWDIM_OK);
  CHECK(lowdim_projection_output_dim(p) == kk);
  float* y = malloc(sizeof(float) * n * kk);
  float* y2 = malloc(sizeof(float) * n * kk);
  CHECK(lowdim_projection_transform_f32(p, x, n, d, y, kk) == LOWDIM_OK);
  char path[4096];
  snprintf(path, sizeof path, "%s/c_api_projection.ldm", dir);
  CHECK(lowdim_projection_save(p, path) == LOWDIM_OK);
  lowdim_projection* loaded = NULL;
  CHECK(lowdim_projection_load(path, &loaded) == LOWDIM_OK);
  CHECK(lowdim_projection_transform_f32(loaded, x, n, d, y2, kk) == LOWDIM_OK);
  CHECK(memcmp(y, y2, sizeof(float) * n * kk) == 0);
  remove(path);
  /* For srht, f⁻¹(f(x)) is the orthogonal projection of x onto the k-dimensional row space of S:
   * applying f again reproduces y. */
  float* back = malloc(sizeof(float) * n * d);
  CHECK(lowdim_projection_inverse_transform_f32(p, y, n, kk, back, d) == LOWDIM_OK);
  CHECK(lowdim_projection_transform_f32(p, back, n, d, y2, kk) == LOWDIM_OK);
  double max_diff = 0;
  for (int i = 0; i < n * kk; ++i) max_diff = fmax(max_diff, fabs(y[i] - y2[i]));
  CHECK(max_diff < 1e-4);

  lowdim_distortion stats;
  CHECK(lowdim_distortion_f32(x, n, d, d, "gaussian", kk, 0.5, 2000, 1, &stats) == LOWDIM_OK);
  CHECK(stats.pairs == 2000);
  CHECK(fabs(stats.mean - 1) < 5 * sqrt(2.0 / kk / 2000) + 0.02); /* pairs share points: allow a little */
  CHECK(stats.q01 <= stats.q50 && stats.q50 <= stats.q99 && stats.min <= stats.q01 && stats.q99 <= stats.max);
  CHECK(stats.within_eps > 0.9);
  free(x), free(y), free(y2), free(back);
  lowdim_projection_destroy(p);
  lowdim_projection_destroy(loaded);
}

static void test_svd(void) {
  /* A = diag(5, 4, 3, 2, 1) padded to 8 × 6: rank-3 SVD recovers 5, 4, 3 exactly. */
  enum { m = 8, n = 6, k = 3 };
  double a[m * n] = {0};
  for (int i = 0; i < 5; ++i) a[i * n + i] = 5 - i;
  double u[m * k], s[k], vt[k * n];
  CHECK(lowdim_svd_f64(a, m, n, n, k, "rsvd", 3, u, s, vt) == LOWDIM_OK);
  for (int i = 0; i < k; ++i) CHECK(fabs(s[i] - (5 - i)) < 1e-12);
  CHECK(fabs(fabs(u[0 * k + 0]) - 1) < 1e-12 && fabs(fabs(vt[0 * n + 0]) - 1) < 1e-12);
  CHECK(lowdim_svd_f64(a, m, n, n, 7, NULL, 3, u, s, vt) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "7") != NULL);
  a[3] = NAN;
  CHECK(lowdim_svd_f64(a, m, n, n, k, NULL, 3, u, s, vt) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "row 0, column 3") != NULL);

  /* Extreme but finite float input: diag(5, 4, 3, 2, 1)·1e37 is factored exactly (the singular
   * values fit a float); every entry 3e38 gives σ_1 = 3e38·√48 > FLT_MAX: a numerical error. */
  float af[m * n], uf[m * k], sf[k], vtf[k * n];
  for (int i = 0; i < m * n; ++i) af[i] = 0;
  for (int i = 0; i < 5; ++i) af[i * n + i] = (5 - i) * 1e37f;
  const char* methods[] = {"krylov", "rsvd", "single-pass"};
  for (int t = 0; t < 3; ++t) {
    CHECK(lowdim_svd_f32(af, m, n, n, k, methods[t], 3, uf, sf, vtf) == LOWDIM_OK);
    for (int i = 0; i < k; ++i) CHECK(fabs(sf[i] / 1e37 - (5 - i)) < 1e-5);
    CHECK(fabs(fabsf(uf[0 * k + 0]) - 1) < 1e-5 && fabs(fabsf(vtf[0 * n + 0]) - 1) < 1e-5);
  }
  for (int i = 0; i < m * n; ++i) af[i] = 3e38f;
  CHECK(lowdim_svd_f32(af, m, n, n, k, NULL, 3, uf, sf, vtf) == LOWDIM_ERROR_NUMERICAL);
  CHECK(strstr(lowdim_last_error(), "exceeds the largest float") != NULL);
}

/* Largest |cov(y) − I| of the n × d rows of y (ddof 1). */
static double covariance_error(const double* y, int n, int d) {
  double max_err = 0;
  for (int a = 0; a < d; ++a)
    for (int b = 0; b < d; ++b) {
      double ma = 0, mb = 0, c = 0;
      for (int i = 0; i < n; ++i) ma += y[i * d + a] / n, mb += y[i * d + b] / n;
      for (int i = 0; i < n; ++i) c += (y[i * d + a] - ma) * (y[i * d + b] - mb) / (n - 1);
      double e = fabs(c - (a == b));
      if (e > max_err) max_err = e;
    }
  return max_err;
}

static void test_whitening(const char* dir) {
  enum { n = 500, d = 4 };
  double x[n * d];
  unsigned long long state = 5;
  for (int i = 0; i < n; ++i) {
    double z0 = next_value(&state), z1 = next_value(&state), z2 = next_value(&state), z3 = next_value(&state);
    x[i * d + 0] = 3 * z0 + 10;
    x[i * d + 1] = z0 + z1;
    x[i * d + 2] = 0.1 * z2 - z0;
    x[i * d + 3] = z3 + 2 * z1;
  }
  lowdim_whitening* w = NULL;
  CHECK(lowdim_whitening_fit_f64(x, n, d, d, "zca", 0, 0, 0, &w) == LOWDIM_OK);
  CHECK(lowdim_whitening_output_dim(w) == d);
  double y[n * d];
  CHECK(lowdim_whitening_transform_f64(w, x, n, d, y, d) == LOWDIM_OK);
  /* Whitened covariance (ddof 1) is the identity. */
  CHECK(covariance_error(y, n, d) < 1e-10);
  /* Data far from the origin (offset 1e6, as measurements with a large mean are): x − μ is
   * formed in double, so the output stays white to ~1e-10 (float centring: ~1e-2). */
  {
    double* far = malloc(sizeof(double) * n * d);
    double* yf = malloc(sizeof(double) * n * d);
    for (int i = 0; i < n * d; ++i) far[i] = x[i] + 1e6;
    lowdim_whitening* wf = NULL;
    CHECK(lowdim_whitening_fit_f64(far, n, d, d, "zca", 0, 0, 0, &wf) == LOWDIM_OK);
    CHECK(lowdim_whitening_transform_f64(wf, far, n, d, yf, d) == LOWDIM_OK);
    CHECK(covariance_error(yf, n, d) < 1e-6);
    lowdim_whitening_destroy(wf);
    free(far), free(yf);
  }
  /* Save, load, same transform. */
  char path[4096];
  snprintf(path, sizeof path, "%s/c_api_whitening.ldm", dir);
  CHECK(lowdim_whitening_save(w, path) == LOWDIM_OK);
  lowdim_whitening* loaded = NULL;
  CHECK(lowdim_whitening_load(path, &loaded) == LOWDIM_OK);
  double y2[n * d];
  CHECK(lowdim_whitening_transform_f64(loaded, x, n, d, y2, d) == LOWDIM_OK);
  CHECK(memcmp(y, y2, sizeof y) == 0);
  lowdim_whitening_destroy(loaded); /* the failed load below sets loaded to NULL */
  remove(path);
  CHECK(lowdim_whitening_load(path, &loaded) == LOWDIM_ERROR_IO);
  CHECK(loaded == NULL);
  CHECK(lowdim_whitening_fit_f64(x, n, d, d, "pca", 7, 0, 0, &loaded) != LOWDIM_OK);
  CHECK(lowdim_whitening_fit_f64(x, n, d, d, "sphering", 0, 0, 0, &loaded) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "sphering") != NULL);
  /* BERT-whitening with the scatter's precision: float panels of double input act (they differ
   * from the double scatter, by ~1e-6 here) and "half" is refused by name. */
  {
    lowdim_whitening *exact = NULL, *fast = NULL;
    double ye[n * 2], yq[n * 2];
    CHECK(lowdim_bert_whitening_fit_scatter_f64(x, n, d, d, 2, 0, "double", &exact) == LOWDIM_OK);
    CHECK(lowdim_bert_whitening_fit_scatter_f64(x, n, d, d, 2, 0, "float", &fast) == LOWDIM_OK);
    CHECK(lowdim_whitening_transform_f64(exact, x, n, d, ye, 2) == LOWDIM_OK);
    CHECK(lowdim_whitening_transform_f64(fast, x, n, d, yq, 2) == LOWDIM_OK);
    double diff = 0;
    for (int j = 0; j < 2; ++j) { /* each component up to sign */
      double same = 0, flipped = 0;
      for (int i = 0; i < n; ++i) {
        same = fmax(same, fabs(ye[i * 2 + j] - yq[i * 2 + j]));
        flipped = fmax(flipped, fabs(ye[i * 2 + j] + yq[i * 2 + j]));
      }
      diff = fmax(diff, fmin(same, flipped));
    }
    CHECK(diff > 0 && diff < 1e-3);
    lowdim_whitening_destroy(exact);
    lowdim_whitening_destroy(fast);
    CHECK(lowdim_bert_whitening_fit_scatter_f64(x, n, d, d, 2, 0, "half", &exact) == LOWDIM_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(lowdim_last_error(), "scatter must be \"double\" or \"float\", not \"half\"") != NULL);
    CHECK(exact == NULL);
  }
  lowdim_whitening_destroy(w);
  lowdim_whitening_destroy(NULL);
}

int main(int argc, char** argv) {
  test_version_and_errors();
  test_sketch();
  test_sketch_kinds();
  test_jl(argc > 1 ? argv[1] : ".");
  test_svd();
  test_whitening(argc > 1 ? argv[1] : ".");
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
