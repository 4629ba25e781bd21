/** \file
 * lowdim C API: the LSH index (float32 data). Included by lowdim/c/lowdim.h.
 * Conventions as lowdim.h: int status, lowdim_last_error(), row-major caller buffers. */
#ifndef LOWDIM_C_LSH_H
#define LOWDIM_C_LSH_H

#include <lowdim/c/lowdim.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An LSH index (opaque): lowdim_lsh_build or lowdim_lsh_load, then lowdim_lsh_destroy. */
typedef struct lowdim_lsh lowdim_lsh;

/** Per-query statistics of lowdim_lsh_knn (means over the queries of one call). */
typedef struct lowdim_lsh_stats {
  double candidates;        /**< ids read from buckets */
  double unique_candidates; /**< distinct live ids re-ranked */
  double probes;            /**< buckets looked up */
  int64_t extra_probes;     /**< queries that needed more probes to reach k */
  int64_t scanned;          /**< queries answered by a scan of every point */
  double hash_seconds;      /**< hashing and probe generation */
  double lookup_seconds;    /**< bucket lookups and deduplication */
  double rerank_seconds;    /**< distances and top-k */
} lowdim_lsh_stats;

/** "simhash, cross_polytope, pstable". Static storage. */
LOWDIM_C_API const char* lowdim_lsh_family_names(void);
/** Builds an index over x (n × d, stride ldx). family: a name of lowdim_lsh_family_names();
 * metric: "euclidean", "cosine" or "inner_product"; tables L, hashes K per table; width: the
 * pstable bucket width (0: from the data); cp_dim: cross_polytope dimension (0: default);
 * sketch_dim: two-stage re-ranking sketch (0: off). */
LOWDIM_C_API int lowdim_lsh_build(const float* x, int64_t n, int64_t d, int64_t ldx, const char* family,
                                  const char* metric, int64_t tables, int64_t hashes, uint64_t seed, double width,
                                  int64_t cp_dim, int64_t sketch_dim, lowdim_lsh** out);
/** Frees an index (NULL is ignored). */
LOWDIM_C_API void lowdim_lsh_destroy(lowdim_lsh* index);
/** d, the dimension of the rows. */
LOWDIM_C_API int64_t lowdim_lsh_dim(const lowdim_lsh* index);
/** Live (not removed) points. */
LOWDIM_C_API int64_t lowdim_lsh_size(const lowdim_lsh* index);
/** Bytes the index holds (data, tables, sketch). */
LOWDIM_C_API int64_t lowdim_lsh_memory_bytes(const lowdim_lsh* index);
/** ids (q × k, stride ldi) and distances (q × k, stride ldd) of the k nearest neighbours of q
 * queries (stride ldq). probes: buckets in all (0: one per table); candidates: unique
 * candidate budget (0: none); rerank: exact re-ranks after the sketch (0: default). stats may
 * be NULL. */
LOWDIM_C_API int lowdim_lsh_knn(const lowdim_lsh* index, const float* queries, int64_t q, int64_t ldq, int64_t k,
                                int64_t probes, int64_t candidates, int64_t rerank, int64_t* ids, int64_t ldi,
                                float* distances, int64_t ldd, lowdim_lsh_stats* stats);
/** As lowdim_lsh_knn in the adaptive mode: each query probes until the collision model's
 * recall estimate reaches target_recall (in (0, 1)), max_probes at most (0: 64 × tables). */
LOWDIM_C_API int lowdim_lsh_knn_adaptive(const lowdim_lsh* index, const float* queries, int64_t q, int64_t ldq,
                                         int64_t k, double target_recall, int64_t max_probes, int64_t* ids,
                                         int64_t ldi, float* distances, int64_t ldd, lowdim_lsh_stats* stats);

/** What lowdim_lsh_build_tuned chose and measured (see LshTuneResult in lowdim/lsh.hpp). */
typedef struct lowdim_lsh_tune_report {
  int64_t tables;         /**< L chosen */
  int64_t hashes;         /**< K chosen */
  int64_t probes;         /**< probes reaching the target on the held-out rows */
  double model_recall;    /**< the model's recall for that choice */
  double recall;          /**< recall at k measured on the held-out rows */
  double adaptive_recall; /**< recall at k of the adaptive mode on them */
  int64_t memory_bytes;   /**< lowdim_lsh_memory_bytes of the index built */
} lowdim_lsh_tune_report;

/** Tunes K, L and the probes for recall at k >= target_recall on held-out rows of x within
 * memory_bytes (data included; 0: no budget), then builds the index over all of x. report
 * may be NULL. family, metric, sketch_dim and seed as lowdim_lsh_build. */
LOWDIM_C_API int lowdim_lsh_build_tuned(const float* x, int64_t n, int64_t d, int64_t ldx, const char* family,
                                        const char* metric, int64_t k, double target_recall, int64_t memory_bytes,
                                        int64_t sketch_dim, uint64_t seed, lowdim_lsh** out,
                                        lowdim_lsh_tune_report* report);
/** Appends m rows (stride ldx); *first_id receives the id of the first. */
LOWDIM_C_API int lowdim_lsh_insert(lowdim_lsh* index, const float* x, int64_t m, int64_t ldx, int64_t* first_id);
/** Removes count ids (all or nothing). */
LOWDIM_C_API int lowdim_lsh_remove(lowdim_lsh* index, const int64_t* ids, int64_t count);
/** Writes the index atomically. */
LOWDIM_C_API int lowdim_lsh_save(const lowdim_lsh* index, const char* path);
/** Reads an index written by lowdim_lsh_save (LOWDIM_ERROR_IO for a corrupt file). */
LOWDIM_C_API int lowdim_lsh_load(const char* path, lowdim_lsh** out);
/** Exact k-NN by the dense product: ids and distances as lowdim_lsh_knn. */
LOWDIM_C_API int lowdim_exact_knn_f32(const float* base, int64_t n, int64_t d, int64_t ldb, const float* queries,
                                      int64_t q, int64_t ldq, int64_t k, const char* metric, int64_t* ids,
                                      int64_t ldi, float* distances, int64_t ldd);

#ifdef __cplusplus
}
#endif

#endif
