// Exact k-NN by blocks of the reproducible dense product, and the distance kernels of the
// re-ranking. Each distance is a function of its query row and base row alone (the dense
// product's guarantee), so blocking and threads do not change a bit.

#include "lsh/lsh_internal.hpp"

#include <lowdim/error.hpp>

#include <omp.h>

#include <algorithm>
#include <exception>
#include <mutex>

namespace lowdim {
namespace detail {
namespace {

// 16 partial sums, lane l holding the elements ≡ l (mod 16), added in order at the end;
// -ffp-contract is off under ISO C++, so every clone computes the same bits.
template <class T, bool Difference>
[[gnu::always_inline]] inline T fixed_order_sum(const T* a, const T* b, std::int64_t n) {
  constexpr int lanes = 16;
  T acc[lanes] = {};
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int l = 0; l < lanes; ++l) {
      if constexpr (Difference) {
        const T d = a[i + l] - b[i + l];
        acc[l] += d * d;
      } else {
        acc[l] += a[i + l] * b[i + l];
      }
    }
  for (int l = 0; i < n; ++i, ++l) {
    if constexpr (Difference) {
      const T d = a[i] - b[i];
      acc[l] += d * d;
    } else {
      acc[l] += a[i] * b[i];
    }
  }
  T s = 0;
  for (int l = 0; l < lanes; ++l) s += acc[l];
  return s;
}

}  // namespace

[[gnu::target_clones("avx512f", "avx2", "default")]] float squared_distance_i8(const float* u, const std::int8_t* c,
                                                                              std::int64_t n) {
  float acc[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) {
      const float d = u[i + l] - static_cast<float>(c[i + l]);
      acc[l] += d * d;
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float d = u[i] - static_cast<float>(c[i]);
    acc[l] += d * d;
  }
  float s = 0;
  for (const float v : acc) s += v;
  return s;
}
[[gnu::target_clones("avx512f", "avx2", "default")]] float dot_i8(const float* u, const std::int8_t* c, std::int64_t n) {
  float acc[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += u[i + l] * static_cast<float>(c[i + l]);
  for (int l = 0; i < n; ++i, ++l) acc[l] += u[i] * static_cast<float>(c[i]);
  float s = 0;
  for (const float v : acc) s += v;
  return s;
}
[[gnu::target_clones("avx512f", "avx2", "default")]] float squared_distance(const float* a, const float* b, std::int64_t n) {
  return fixed_order_sum<float, true>(a, b, n);
}
[[gnu::target_clones("avx512f", "avx2", "default")]] double squared_distance(const double* a, const double* b, std::int64_t n) {
  return fixed_order_sum<double, true>(a, b, n);
}
[[gnu::target_clones("avx512f", "avx2", "default")]] float dot(const float* a, const float* b, std::int64_t n) {
  return fixed_order_sum<float, false>(a, b, n);
}
[[gnu::target_clones("avx512f", "avx2", "default")]] double dot(const double* a, const double* b, std::int64_t n) {
  return fixed_order_sum<double, false>(a, b, n);
}

}  // namespace detail

template <class T>
void exact_knn(In<T> base, In<T> queries, std::int64_t k, Metric metric, MatrixView<std::int64_t> ids,
               MatrixView<T> distances) {
  const std::int64_t n = base.rows(), d = base.cols(), q = queries.rows();
  LOWDIM_CHECK(n >= 1, "exact_knn: the base is empty");
  LOWDIM_CHECK_SHAPE(queries.cols() == d, "exact_knn: queries have {} columns, the base has {}", queries.cols(), d);
  LOWDIM_CHECK(k >= 1 && k <= n, "exact_knn: k = {} must be in [1, {}] (the base size)", k, n);
  LOWDIM_CHECK_SHAPE(ids.rows() == q && ids.cols() == k && distances.rows() == q && distances.cols() == k,
                     "exact_knn: ids {} × {} and distances {} × {}, expected {} × {}", ids.rows(), ids.cols(),
                     distances.rows(), distances.cols(), q, k);
  check_finite<T>(base, "exact_knn: base");
  check_finite<T>(queries, "exact_knn: queries");
  if (q == 0) return;
  // Squared norms (euclidean) or norms (cosine) of the base rows, in a fixed order.
  std::vector<T> base_norm(static_cast<std::size_t>(n), T(0));
  if (metric != Metric::inner_product) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      const T s = detail::dot(base.row(i), base.row(i), d);
      base_norm[static_cast<std::size_t>(i)] = metric == Metric::cosine ? std::sqrt(s) : s;
    }
  }
  const int threads = omp_get_max_threads();
  const std::int64_t base_block = 2048;
  std::int64_t query_block = 256;
  while (query_block > 16 && (q + query_block - 1) / query_block < threads) query_block /= 2;
  const std::int64_t blocks = (q + query_block - 1) / query_block;
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel
  {
    auto g = Matrix<T>::uninitialized(query_block, base_block);
    std::vector<std::vector<detail::Neighbour<T>>> heaps(static_cast<std::size_t>(query_block));
    std::vector<T> qnorm(static_cast<std::size_t>(query_block));
#pragma omp for schedule(dynamic)
    for (std::int64_t b = 0; b < blocks; ++b) {
      try {
        const std::int64_t q0 = b * query_block, qn = std::min(query_block, q - q0);
        for (std::int64_t i = 0; i < qn; ++i) {
          heaps[static_cast<std::size_t>(i)].clear();
          const T s = detail::dot(queries.row(q0 + i), queries.row(q0 + i), d);
          qnorm[static_cast<std::size_t>(i)] = metric == Metric::cosine ? std::sqrt(s) : s;
        }
        for (std::int64_t j0 = 0; j0 < n; j0 += base_block) {
          const std::int64_t jn = std::min(base_block, n - j0);
          auto gv = g.block(0, 0, qn, jn);
          linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), queries.block(q0, 0, qn, d),
                                       base.block(j0, 0, jn, d), T(0), gv);
          for (std::int64_t i = 0; i < qn; ++i) {
            auto& heap = heaps[static_cast<std::size_t>(i)];
            const T* row = gv.row(i);
            const T qn_i = qnorm[static_cast<std::size_t>(i)];
            for (std::int64_t j = 0; j < jn; ++j) {
              const T xn = base_norm[static_cast<std::size_t>(j0 + j)];
              T dist;
              if (metric == Metric::euclidean)
                dist = std::max(T(0), qn_i - 2 * row[j] + xn);
              else if (metric == Metric::cosine)
                dist = (qn_i > 0 && xn > 0) ? T(1) - row[j] / (qn_i * xn) : T(1);
              else
                dist = -row[j];
              const detail::Neighbour<T> cand{dist, j0 + j};
              if (static_cast<std::int64_t>(heap.size()) < k) {
                heap.push_back(cand);
                std::push_heap(heap.begin(), heap.end());
              } else if (cand < heap.front()) {
                std::pop_heap(heap.begin(), heap.end());
                heap.back() = cand;
                std::push_heap(heap.begin(), heap.end());
              }
            }
          }
        }
        for (std::int64_t i = 0; i < qn; ++i) {
          auto& heap = heaps[static_cast<std::size_t>(i)];
          std::sort_heap(heap.begin(), heap.end());
          for (std::int64_t r = 0; r < k; ++r) {
            ids(q0 + i, r) = heap[static_cast<std::size_t>(r)].id;
            const T v = heap[static_cast<std::size_t>(r)].distance;
            distances(q0 + i, r) = metric == Metric::euclidean ? std::sqrt(v) : v;
          }
        }
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
}

template LOWDIM_API void exact_knn<float>(In<float>, In<float>, std::int64_t, Metric, MatrixView<std::int64_t>,
                                          MatrixView<float>);
template LOWDIM_API void exact_knn<double>(In<double>, In<double>, std::int64_t, Metric, MatrixView<std::int64_t>,
                                           MatrixView<double>);

}  // namespace lowdim
