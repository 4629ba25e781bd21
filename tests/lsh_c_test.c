/* The LSH part of the C API, compiled as C99: build, knn, insert, remove, save/load, errors. */
#include <lowdim/c/lowdim.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: %s\n", __FILE__, __LINE__, #cond, lowdim_last_error()); \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

int main(int argc, char** argv) {
  enum { n = 400, d = 8, q = 5, k = 3 };
  static float x[n * d], extra[2 * d];
  int64_t ids[q * k], truth[q * k], first = -1, gone[2];
  float dist[q * k], tdist[q * k];
  lowdim_lsh *index = NULL, *loaded = NULL;
  lowdim_lsh_stats stats;
  char path[4096];
  unsigned seed = 12345;
  int i, j;
  for (i = 0; i < n * d; ++i) {
    seed = seed * 1103515245u + 12345u;
    x[i] = (float)((seed >> 8) % 1000) / 100.0f;
  }
  for (i = 0; i < 2 * d; ++i) extra[i] = 100.0f + (float)i;
  CHECK(strstr(lowdim_lsh_family_names(), "cross_polytope") != NULL);
  CHECK(lowdim_lsh_build(x, n, d, d, "simhash", "euclidean", 6, 8, 1, 0, 0, 0, &index) == LOWDIM_OK);
  CHECK(lowdim_lsh_size(index) == n && lowdim_lsh_dim(index) == d && lowdim_lsh_memory_bytes(index) > n * d * 4);
  CHECK(lowdim_lsh_knn(index, x, q, d, k, 200, 0, 0, ids, k, dist, k, &stats) == LOWDIM_OK);
  CHECK(lowdim_exact_knn_f32(x, n, d, d, x, q, d, k, "euclidean", truth, k, tdist, k) == LOWDIM_OK);
  for (i = 0; i < q; ++i) CHECK(ids[i * k] == i && dist[i * k] == 0 && truth[i * k] == i);
  CHECK(stats.probes >= 200 && stats.unique_candidates >= k);
  CHECK(lowdim_lsh_insert(index, extra, 2, d, &first) == LOWDIM_OK && first == n);
  CHECK(lowdim_lsh_knn(index, extra, 2, d, 1, 0, 0, 0, ids, 1, dist, 1, NULL) == LOWDIM_OK);
  CHECK(ids[0] == n && ids[1] == n + 1);
  gone[0] = n;
  gone[1] = 0;
  CHECK(lowdim_lsh_remove(index, gone, 2) == LOWDIM_OK && lowdim_lsh_size(index) == n);
  CHECK(lowdim_lsh_remove(index, gone, 1) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "already removed") != NULL);
  snprintf(path, sizeof path, "%s/c_api_lsh.lsh", argc > 1 ? argv[1] : ".");
  CHECK(lowdim_lsh_save(index, path) == LOWDIM_OK);
  CHECK(lowdim_lsh_load(path, &loaded) == LOWDIM_OK);
  {
    int64_t a[q * k], b[q * k];
    float da[q * k], db[q * k];
    CHECK(lowdim_lsh_knn(index, x, q, d, k, 50, 0, 0, a, k, da, k, NULL) == LOWDIM_OK);
    CHECK(lowdim_lsh_knn(loaded, x, q, d, k, 50, 0, 0, b, k, db, k, NULL) == LOWDIM_OK);
    for (i = 0; i < q * k; ++i) CHECK(a[i] == b[i] && da[i] == db[i] && a[i] != 0);
  }
  CHECK(lowdim_lsh_knn(index, x, q, d, n + 5, 0, 0, 0, ids, k, dist, k, NULL) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "row stride of distances is 3, smaller than its 405 columns") != NULL);
  {
    /* The adaptive mode and the tuner: the query rows are points of the data. */
    lowdim_lsh* tuned = NULL;
    lowdim_lsh_tune_report report;
    CHECK(lowdim_lsh_knn_adaptive(index, x, q, d, k, 0.95, 0, ids, k, dist, k, &stats) == LOWDIM_OK);
    for (i = 1; i < q; ++i) CHECK(dist[i * k] == 0 && ids[i * k] == i); /* id 0 was removed */
    CHECK(stats.probes >= 6);
    CHECK(lowdim_lsh_knn_adaptive(index, x, q, d, k, 1.5, 0, ids, k, dist, k, NULL) == LOWDIM_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(lowdim_last_error(), "target_recall must be in (0, 1), got 1.5") != NULL);
    CHECK(lowdim_lsh_build_tuned(x, n, d, d, "simhash", "euclidean", k, 0.9, (int64_t)n * d * 4 + n * 100, 0, 3,
                                 &tuned, &report) == LOWDIM_OK);
    CHECK(report.recall >= 0.9 && report.tables >= 1 && report.probes >= report.tables);
    CHECK(report.memory_bytes == lowdim_lsh_memory_bytes(tuned) && report.memory_bytes <= (int64_t)n * d * 4 + n * 100);
    lowdim_lsh_destroy(tuned);
    tuned = NULL;
    CHECK(lowdim_lsh_build_tuned(x, n, d, d, "simhash", "euclidean", k, 0.9, 1000, 0, 3, &tuned, NULL) ==
          LOWDIM_ERROR_INVALID_ARGUMENT);
    CHECK(tuned == NULL && strstr(lowdim_last_error(), "memory budget of 1000 bytes") != NULL);
  }
  x[3] = NAN;
  CHECK(lowdim_lsh_knn(index, x, q, d, k, 0, 0, 0, ids, k, dist, k, NULL) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(lowdim_last_error(), "non-finite") != NULL);
  lowdim_lsh_destroy(loaded);
  loaded = NULL;
  CHECK(lowdim_lsh_load(argv[0], &loaded) == LOWDIM_ERROR_IO && loaded == NULL);
  CHECK(strstr(lowdim_last_error(), "not a lowdim archive") != NULL);
  lowdim_lsh_destroy(index);
  index = NULL;
  CHECK(lowdim_lsh_build(x, n, d, d, "minhash", "euclidean", 6, 8, 1, 0, 0, 0, &index) == LOWDIM_ERROR_INVALID_ARGUMENT);
  CHECK(index == NULL && strstr(lowdim_last_error(), "unknown LSH family 'minhash'") != NULL);
  (void)j;
  printf("lsh C API ok\n");
  return 0;
}
