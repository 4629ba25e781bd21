// Exact (blocked, online softmax) and linear (random-feature) attention (docs/attention.md).
//
// Linear attention keeps, per head, a state S = Σ_j e^{s_j − M} φ̃(k_j) [v_j, 1]ᵀ, where
// e^{s_j}·φ̃(k_j) is the feature of key j (RandomFeatures::apply) and M the largest s_j seen so
// far. When a chunk raises M to M', S is multiplied by e^{M − M'} ≤ 1; inside a causal chunk the
// entry (i, j) of the masked product φ̃(q_i)·φ̃(k_j) is multiplied by e^{s_j − M_i} ≤ 1 with M_i
// the running maximum up to i. Every exponent is ≤ 0, nothing overflows, and output i only reads
// keys j ≤ i. The query's own scale cancels between numerator and denominator.

#include <lowdim/attention.hpp>

#include <lowdim/error.hpp>
#include <lowdim/random.hpp>

#include "detail/omp_exception.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

namespace lowdim {
namespace {

constexpr double minus_inf = -std::numeric_limits<double>::infinity();

struct Shapes {
  std::int64_t heads, lq, lk, d, dv;
};

template <class T>
Shapes check_shapes(const char* who, In<T> q, In<T> k, In<T> v, std::int64_t heads, MatrixView<T> out,
                    const AttentionOptions& options) {
  LOWDIM_CHECK(heads >= 1, "{}: heads = {} must be >= 1", who, heads);
  LOWDIM_CHECK(options.block >= 1, "{}: block = {} must be >= 1", who, options.block);
  LOWDIM_CHECK(std::isfinite(options.scale) && options.scale >= 0, "{}: scale = {} must be finite and >= 0 (0: 1/sqrt(d))",
               who, options.scale);
  LOWDIM_CHECK_SHAPE(q.rows() % heads == 0 && k.rows() % heads == 0 && v.rows() % heads == 0,
                     "{}: rows of q ({}), k ({}) and v ({}) must be multiples of heads = {}", who, q.rows(), k.rows(),
                     v.rows(), heads);
  Shapes s{heads, q.rows() / heads, k.rows() / heads, q.cols(), v.cols()};
  LOWDIM_CHECK_SHAPE(k.cols() == s.d, "{}: q has d = {} columns but k has {}", who, s.d, k.cols());
  LOWDIM_CHECK_SHAPE(v.rows() == k.rows(), "{}: k has {} rows but v has {}", who, k.rows(), v.rows());
  LOWDIM_CHECK(s.d >= 1 && s.dv >= 1, "{}: d = {} and d_v = {} must be >= 1", who, s.d, s.dv);
  LOWDIM_CHECK_SHAPE(out.rows() == q.rows() && out.cols() == s.dv, "{}: output is {} x {}, expected {} x {}", who,
                     out.rows(), out.cols(), q.rows(), s.dv);
  LOWDIM_CHECK_SHAPE(!options.causal || s.lq == s.lk, "{}: causal attention needs as many queries as keys ({} vs {})",
                     who, s.lq, s.lk);
  const auto mask = static_cast<std::int64_t>(options.key_mask.size());
  LOWDIM_CHECK_SHAPE(mask == 0 || mask == s.lk || mask == heads * s.lk,
                     "{}: key mask has {} entries, expected 0, L_k = {} or heads * L_k = {}", who, mask, s.lk,
                     heads * s.lk);
  check_finite(q, std::string(who) + ": q");
  check_finite(k, std::string(who) + ": k");
  check_finite(v, std::string(who) + ": v");
  return s;
}

bool key_valid(const AttentionOptions& o, std::int64_t head, std::int64_t lk, std::int64_t j) {
  if (o.key_mask.empty()) return true;
  const auto n = static_cast<std::int64_t>(o.key_mask.size());
  return o.key_mask[static_cast<std::size_t>(n == lk ? j : head * lk + j)] != 0;
}

double score_scale(const AttentionOptions& o, std::int64_t d) {
  return o.scale > 0 ? o.scale : 1 / std::sqrt(static_cast<double>(d));
}

// Rotates consecutive feature pairs of row r (position offset + r) by angle position·θ_t.
template <class T>
void rotate_features(MatrixView<T> phi, std::span<const double> theta, std::int64_t first_position) {
  for (std::int64_t r = 0; r < phi.rows(); ++r) {
    T* row = phi.row(r);
    const double p = static_cast<double>(first_position + r);
    for (std::size_t t = 0; t < theta.size(); ++t) {
      const double c = std::cos(p * theta[t]), s = std::sin(p * theta[t]);
      const double x = row[2 * t], y = row[2 * t + 1];
      row[2 * t] = static_cast<T>(x * c - y * s);
      row[2 * t + 1] = static_cast<T>(x * s + y * c);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- exact softmax attention

template <class T>
void softmax_attention(In<T> q, In<T> k, In<T> v, std::int64_t heads, MatrixView<T> out,
                       const AttentionOptions& options) {
  const Shapes s = check_shapes<T>("softmax_attention", q, k, v, heads, out, options);
  LOWDIM_CHECK(options.feature_rotation.frequencies.empty(),
               "softmax_attention: a feature rotation is for linear attention (apply RoPE to q and k instead)");
  const std::int64_t bs = options.block;
  const std::int64_t qblocks = (s.lq + bs - 1) / bs;
  const double scale = score_scale(options, s.d);
  detail::OmpExceptions errors;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t task = 0; task < heads * qblocks; ++task) {
    errors.run([&] {
      const std::int64_t h = task / qblocks, i0 = (task % qblocks) * bs, bq = std::min(bs, s.lq - i0);
      const ConstMatrixView<T> qb = q.block(h * s.lq + i0, 0, bq, s.d);
      Matrix<T> scores(bq, bs), acc(bq, s.dv);
      std::vector<double> row_max(static_cast<std::size_t>(bq), minus_inf), row_sum(static_cast<std::size_t>(bq), 0);
      const std::int64_t key_end = options.causal ? i0 + bq : s.lk;
      for (std::int64_t j0 = 0; j0 < key_end; j0 += bs) {
        const std::int64_t bk = std::min(bs, key_end - j0);
        MatrixView<T> sc = scores.block(0, 0, bq, bk);
        linalg::gemm_reproducible<T>(Op::none, Op::transpose, static_cast<T>(scale), qb,
                                     k.block(h * s.lk + j0, 0, bk, s.d), T(0), sc);
        for (std::int64_t i = 0; i < bq; ++i) {
          T* row = sc.row(i);
          double mx = row_max[static_cast<std::size_t>(i)];
          for (std::int64_t j = 0; j < bk; ++j) {
            const bool ok = key_valid(options, h, s.lk, j0 + j) && (!options.causal || j0 + j <= i0 + i);
            if (!ok) row[j] = -std::numeric_limits<T>::infinity();
            else mx = std::max(mx, static_cast<double>(row[j]));
          }
          const double old = row_max[static_cast<std::size_t>(i)];
          if (mx == minus_inf) {  // nothing to attend to yet
            for (std::int64_t j = 0; j < bk; ++j) row[j] = T(0);
            continue;
          }
          const double correction = old == minus_inf ? 0.0 : std::exp(old - mx);
          double sum = 0;
          for (std::int64_t j = 0; j < bk; ++j) {
            const double p = std::exp(static_cast<double>(row[j]) - mx);  // exp(-inf) = 0 for masked keys
            row[j] = static_cast<T>(p);
            sum += p;
          }
          row_sum[static_cast<std::size_t>(i)] = row_sum[static_cast<std::size_t>(i)] * correction + sum;
          row_max[static_cast<std::size_t>(i)] = mx;
          T* a = acc.row(i);
          for (std::int64_t c = 0; c < s.dv; ++c) a[c] = static_cast<T>(a[c] * correction);
        }
        linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), sc, v.block(h * s.lk + j0, 0, bk, s.dv), T(1),
                                     acc.view());
      }
      for (std::int64_t i = 0; i < bq; ++i) {
        const double l = row_sum[static_cast<std::size_t>(i)];
        T* o = out.row(h * s.lq + i0 + i);
        for (std::int64_t c = 0; c < s.dv; ++c) o[c] = l > 0 ? static_cast<T>(acc(i, c) / l) : T(0);
      }
    });
  }
  errors.rethrow();
}

// ---------------------------------------------------------------- linear attention

namespace {

// Chunks processed per parallel region. Each chunk's work depends only on its own rows and on
// the state before it, and chunks are combined in order, so the result does not depend on
// this number or on the thread count; it bounds memory at kBatch chunks of buffers.
constexpr std::int64_t kBatch = 16;

// One head of linear attention, in batches of chunks. With a rotation the numerator and the
// denominator use different features, so there are two parts (rotated features with the
// values v; plain features with a column of ones); without one, a single part carries [v, 1].
template <class T>
class LinearHead {
 public:
  LinearHead(const RandomFeatures& map, const Shapes& s, const AttentionOptions& o, double feature_scale)
      : map_(map), s_(s), o_(o), feature_scale_(feature_scale), f_(map.features()),
        rotate_(!o.feature_rotation.frequencies.empty()), bs_(o.block), parts_(rotate_ ? 2 : 1) {
    for (int p = 0; p < parts_; ++p) state_[p] = Matrix<T>(f_, cols(p));
    for (auto& slot : slots_) slot = std::make_unique<Slot>();
  }

  void run(std::int64_t h, In<T> q, In<T> k, In<T> v, MatrixView<T> out) {
    h_ = h;
    if (o_.causal) {
      for (std::int64_t a = 0; a < s_.lq; a += kBatch * bs_) causal_batch(a, q, k, v, out);
    } else {
      for (std::int64_t a = 0; a < s_.lk; a += kBatch * bs_) key_batch(a, k, v);
      for (std::int64_t a = 0; a < s_.lq; a += kBatch * bs_) query_batch(a, q, out);
    }
  }

 private:
  struct Slot {
    Matrix<T> pq, pk, rq, rk, values, weighted, scores, local[2], chunk_state[2], prev_state[2], prefix[2];
    std::vector<T> q_scale, k_scale;
    std::vector<double> local_max;        // running max of the chunk's own keys up to i
    std::vector<std::int64_t> local_valid;
    double chunk_max = minus_inf, prev_max = minus_inf;
    std::int64_t prev_valid = 0;
  };

  std::int64_t cols(int part) const { return rotate_ ? (part == 0 ? s_.dv : 1) : s_.dv + 1; }

  void prepare(Slot& w) const {
    if (w.pk.rows() == bs_) return;
    w.pq = Matrix<T>::uninitialized(bs_, f_);
    w.pk = Matrix<T>::uninitialized(bs_, f_);
    if (rotate_) {
      w.rq = Matrix<T>::uninitialized(bs_, f_);
      w.rk = Matrix<T>::uninitialized(bs_, f_);
    }
    w.values = Matrix<T>::uninitialized(bs_, s_.dv + 1);
    w.weighted = Matrix<T>::uninitialized(bs_, s_.dv + 1);
    if (o_.causal) w.scores = Matrix<T>::uninitialized(bs_, bs_);
    for (int p = 0; p < parts_; ++p) {
      w.local[p] = Matrix<T>::uninitialized(bs_, cols(p));
      w.chunk_state[p] = Matrix<T>(f_, cols(p));
      w.prefix[p] = Matrix<T>::uninitialized(bs_, cols(p));
      if (o_.causal) w.prev_state[p] = Matrix<T>(f_, cols(p));
    }
    w.q_scale.resize(static_cast<std::size_t>(bs_));
    w.k_scale.resize(static_cast<std::size_t>(bs_));
    w.local_max.resize(static_cast<std::size_t>(bs_));
    w.local_valid.resize(static_cast<std::size_t>(bs_));
  }

  // Features of key rows [a, a + n) (k_scale = s_j, −inf when masked) and values [v_j, 1].
  void keys(Slot& w, std::int64_t a, std::int64_t n, In<T> k, In<T> v) const {
    MatrixView<T> pk = w.pk.block(0, 0, n, f_);
    map_.apply<T>(k.block(h_ * s_.lk + a, 0, n, s_.d), pk, std::span<T>(w.k_scale.data(), static_cast<std::size_t>(n)),
                  feature_scale_);
    for (std::int64_t j = 0; j < n; ++j)
      if (!key_valid(o_, h_, s_.lk, a + j)) w.k_scale[static_cast<std::size_t>(j)] = -std::numeric_limits<T>::infinity();
    if (rotate_) {
      MatrixView<T> r = w.rk.block(0, 0, n, f_);
      r.copy_from(pk);
      rotate_features<T>(r, o_.feature_rotation.frequencies, o_.feature_rotation.offset + a);
    }
    for (std::int64_t j = 0; j < n; ++j) {
      const T* src = v.row(h_ * s_.lk + a + j);
      T* dst = w.values.row(j);
      std::copy(src, src + s_.dv, dst);
      dst[s_.dv] = T(1);
    }
    w.chunk_max = minus_inf;
    for (std::int64_t j = 0; j < n; ++j) w.chunk_max = std::max(w.chunk_max, static_cast<double>(w.k_scale[j]));
  }
  void queries(Slot& w, std::int64_t a, std::int64_t n, In<T> q) const {
    MatrixView<T> pq = w.pq.block(0, 0, n, f_);
    map_.apply<T>(q.block(h_ * s_.lq + a, 0, n, s_.d), pq, std::span<T>(w.q_scale.data(), static_cast<std::size_t>(n)),
                  feature_scale_);
    if (rotate_) {
      MatrixView<T> r = w.rq.block(0, 0, n, f_);
      r.copy_from(pq);
      rotate_features<T>(r, o_.feature_rotation.frequencies, o_.feature_rotation.offset + a);
    }
  }
  ConstMatrixView<T> part_values(const Slot& w, int part, std::int64_t n) const {
    if (!rotate_) return w.values.block(0, 0, n, s_.dv + 1);
    return part == 0 ? w.values.block(0, 0, n, s_.dv) : w.values.block(0, s_.dv, n, 1);
  }
  const Matrix<T>& part_q(const Slot& w, int part) const { return rotate_ && part == 0 ? w.rq : w.pq; }
  const Matrix<T>& part_k(const Slot& w, int part) const { return rotate_ && part == 0 ? w.rk : w.pk; }

  // chunk_state = Σ_j e^{s_j − chunk_max} φ̃(k_j)[v_j, 1]ᵀ (zero when no key is valid).
  void chunk_state(Slot& w, std::int64_t n) const {
    for (int p = 0; p < parts_; ++p) {
      MatrixView<T> st = w.chunk_state[p].view();
      if (w.chunk_max == minus_inf) {
        for (T& x : w.chunk_state[p].flat()) x = T(0);
        continue;
      }
      // The weights go on the values (n × (d_v + 1)), not on the features (n × m): fewer products,
      // and φ̃(K)ᵀ is read in place through the transposed product.
      ConstMatrixView<T> values = part_values(w, p, n);
      MatrixView<T> weighted = w.weighted.block(0, 0, n, values.cols());
      for (std::int64_t j = 0; j < n; ++j) {
        const T wt = static_cast<T>(std::exp(static_cast<double>(w.k_scale[static_cast<std::size_t>(j)]) - w.chunk_max));
        const T* src = values.row(j);
        T* dst = weighted.row(j);
        for (std::int64_t c = 0; c < values.cols(); ++c) dst[c] = src[c] * wt;
      }
      linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), part_k(w, p).block(0, 0, n, f_), weighted, T(0), st);
    }
  }
  // state ← e^{M − M'}·state + e^{chunk_max − M'}·chunk_state, M' = max(M, chunk_max).
  void merge(const Slot& w) {
    if (w.chunk_max == minus_inf) return;
    const double new_max = std::max(max_, w.chunk_max);
    const T a = static_cast<T>(max_ == minus_inf ? 0.0 : std::exp(max_ - new_max));
    const T b = static_cast<T>(std::exp(w.chunk_max - new_max));
    for (int p = 0; p < parts_; ++p) {
      auto dst = state_[p].flat();
      auto src = w.chunk_state[p].flat();
      for (std::size_t i = 0; i < dst.size(); ++i) dst[i] = dst[i] * a + src[i] * b;
    }
    max_ = new_max;
  }
  // out row a + i from numerator / denominator values.
  void finish_row(std::int64_t pos, const T* num, double den, bool any_key, MatrixView<T> out) const {
    T* o = out.row(h_ * s_.lq + pos);
    if (!any_key) {
      std::fill(o, o + s_.dv, T(0));
      return;
    }
    const bool ok = std::isfinite(den) && (positive_features(map_.kind()) ? den > 0 : den != 0);
    if (!ok)
      LOWDIM_THROW(numerical_error,
                   "linear_attention: denominator {} at head {}, position {}: the {} features of the query and its "
                   "keys underflowed (inputs too large for this map; try the trig or a generalized map, or smaller "
                   "inputs)",
                   den, h_, pos, to_string(map_.kind()));
    for (std::int64_t c = 0; c < s_.dv; ++c) {
      const double r = static_cast<double>(num[c]) / den;
      LOWDIM_CHECK(std::isfinite(r), "linear_attention: output {} at head {}, position {}, column {} is not finite", r,
                   h_, pos, c);
      o[c] = static_cast<T>(r);
    }
  }
  double denominator(std::int64_t i, const Matrix<T>* const* m) const {
    return rotate_ ? static_cast<double>((*m[1])(i, 0)) : static_cast<double>((*m[0])(i, s_.dv));
  }

  template <class Fn>
  void parallel_chunks(std::int64_t first, std::int64_t length, Fn&& fn) {
    const std::int64_t chunks = std::min(kBatch, (length - first + bs_ - 1) / bs_);
    detail::OmpExceptions errors;
#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
    for (std::int64_t c = 0; c < chunks; ++c) {
      errors.run([&] {
        const std::int64_t a = first + c * bs_;
        Slot& w = *slots_[static_cast<std::size_t>(c)];
        prepare(w);
        fn(w, a, std::min(bs_, length - a));
      });
    }
    errors.rethrow();
  }
  std::int64_t batch_chunks(std::int64_t first, std::int64_t length) const {
    return std::min(kBatch, (length - first + bs_ - 1) / bs_);
  }

  void key_batch(std::int64_t first, In<T> k, In<T> v) {
    parallel_chunks(first, s_.lk, [&](Slot& w, std::int64_t a, std::int64_t n) {
      keys(w, a, n, k, v);
      chunk_state(w, n);
      w.prev_valid = 0;
      for (std::int64_t j = 0; j < n; ++j) w.prev_valid += w.k_scale[static_cast<std::size_t>(j)] > minus_inf;
    });
    for (std::int64_t c = 0; c < batch_chunks(first, s_.lk); ++c) {
      merge(*slots_[static_cast<std::size_t>(c)]);
      valid_ += slots_[static_cast<std::size_t>(c)]->prev_valid;
    }
  }
  void query_batch(std::int64_t first, In<T> q, MatrixView<T> out) {
    parallel_chunks(first, s_.lq, [&](Slot& w, std::int64_t a, std::int64_t n) {
      queries(w, a, n, q);
      const Matrix<T>* results[2] = {&w.local[0], &w.local[1]};
      for (int p = 0; p < parts_; ++p)
        linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), part_q(w, p).block(0, 0, n, f_), state_[p], T(0),
                                     w.local[p].block(0, 0, n, cols(p)));
      for (std::int64_t i = 0; i < n; ++i) finish_row(a + i, w.local[0].row(i), denominator(i, results), valid_ > 0, out);
    });
  }

  void causal_batch(std::int64_t first, In<T> q, In<T> k, In<T> v, MatrixView<T> out) {
    // 1. In parallel: features, the masked product inside the chunk with the chunk's own
    //    running maximum, and the chunk's state.
    parallel_chunks(first, s_.lq, [&](Slot& w, std::int64_t a, std::int64_t n) {
      queries(w, a, n, q);
      keys(w, a, n, k, v);
      double mx = minus_inf;
      std::int64_t cnt = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double sj = w.k_scale[static_cast<std::size_t>(j)];
        mx = std::max(mx, sj);
        cnt += sj > minus_inf;
        w.local_max[static_cast<std::size_t>(j)] = mx;
        w.local_valid[static_cast<std::size_t>(j)] = cnt;
      }
      MatrixView<T> sc = w.scores.block(0, 0, n, n);
      for (int p = 0; p < parts_; ++p) {
        linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), part_q(w, p).block(0, 0, n, f_),
                                     part_k(w, p).block(0, 0, n, f_), T(0), sc);
        for (std::int64_t i = 0; i < n; ++i) {
          T* r = sc.row(i);
          const double mi = w.local_max[static_cast<std::size_t>(i)];
          for (std::int64_t j = 0; j < n; ++j) {
            const double sj = w.k_scale[static_cast<std::size_t>(j)];
            r[j] = j <= i && sj > minus_inf ? static_cast<T>(r[j] * std::exp(sj - mi)) : T(0);
          }
        }
        linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), sc, part_values(w, p, n), T(0),
                                     w.local[p].block(0, 0, n, cols(p)));
      }
      chunk_state(w, n);
    });
    // 2. In order: the state before each chunk, then the merge of the chunk.
    const std::int64_t chunks = batch_chunks(first, s_.lq);
    for (std::int64_t c = 0; c < chunks; ++c) {
      Slot& w = *slots_[static_cast<std::size_t>(c)];
      for (int p = 0; p < parts_; ++p) w.prev_state[p].view().copy_from(state_[p]);
      w.prev_max = max_;
      w.prev_valid = valid_;
      merge(w);
      const std::int64_t n = std::min(bs_, s_.lq - (first + c * bs_));
      valid_ += w.local_valid[static_cast<std::size_t>(n - 1)];
    }
    // 3. In parallel: out_i = (e^{m_i − M_i}·local_i + e^{M_prev − M_i}·φ̃(q_i)·S_prev) / (same for the
    //    denominator), M_i = max(M_prev, m_i), m_i the chunk's running max.
    parallel_chunks(first, s_.lq, [&](Slot& w, std::int64_t a, std::int64_t n) {
      const Matrix<T>* results[2] = {&w.local[0], &w.local[1]};
      for (int p = 0; p < parts_; ++p) {
        MatrixView<T> pre = w.prefix[p].block(0, 0, n, cols(p));
        if (w.prev_max > minus_inf)
          linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), part_q(w, p).block(0, 0, n, f_), w.prev_state[p],
                                       T(0), pre);
        for (std::int64_t i = 0; i < n; ++i) {
          const double mi = std::max(w.prev_max, w.local_max[static_cast<std::size_t>(i)]);
          if (mi == minus_inf) continue;
          const T a_local = static_cast<T>(w.local_max[static_cast<std::size_t>(i)] == minus_inf
                                               ? 0.0
                                               : std::exp(w.local_max[static_cast<std::size_t>(i)] - mi));
          const T a_prev = static_cast<T>(w.prev_max == minus_inf ? 0.0 : std::exp(w.prev_max - mi));
          T* l = w.local[p].row(i);
          const T* pr = pre.row(i);
          for (std::int64_t c = 0; c < cols(p); ++c) l[c] = l[c] * a_local + (a_prev != T(0) ? pr[c] * a_prev : T(0));
        }
      }
      for (std::int64_t i = 0; i < n; ++i)
        finish_row(a + i, w.local[0].row(i), denominator(i, results),
                   w.prev_valid + w.local_valid[static_cast<std::size_t>(i)] > 0, out);
    });
  }

  const RandomFeatures& map_;
  Shapes s_;
  const AttentionOptions& o_;
  double feature_scale_;
  std::int64_t f_;
  bool rotate_;
  std::int64_t bs_, h_ = 0;
  int parts_;
  Matrix<T> state_[2];
  std::unique_ptr<Slot> slots_[kBatch];
  double max_ = minus_inf;
  std::int64_t valid_ = 0;
};

}  // namespace

template <class T>
void linear_attention(const RandomFeatures& features, In<T> q, In<T> k, In<T> v, std::int64_t heads,
                      MatrixView<T> out, const AttentionOptions& options) {
  const Shapes s = check_shapes<T>("linear_attention", q, k, v, heads, out, options);
  LOWDIM_CHECK_SHAPE(features.dim() == s.d, "linear_attention: the feature map takes d = {} but q and k have {} columns",
                     features.dim(), s.d);
  const auto& theta = options.feature_rotation.frequencies;
  if (!theta.empty()) {
    LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(theta.size()) * 2 == features.features(),
                       "linear_attention: a feature rotation needs features / 2 = {} frequencies, given {}",
                       features.features() / 2.0, theta.size());
    for (double t : theta) LOWDIM_CHECK(std::isfinite(t), "linear_attention: non-finite rotation frequency {}", t);
  }
  const double scale = score_scale(options, s.d);
  const double feature_scale = std::sqrt(scale);
  if (features.kind() == FeatureMapKind::optimal && std::isnan(features.options().optimal_a))
    LOWDIM_CHECK(!options.causal,
                 "linear_attention: the optimal (FAVOR++) map's A is unset; fitting it from q and k would make causal "
                 "outputs depend on later positions: set it with RandomFeatures::with_optimal_a");
  const RandomFeatures map = features.fitted<T>(q, k, feature_scale);
  detail::OmpExceptions errors;
#pragma omp parallel for schedule(dynamic, 1) if (heads > 1)
  for (std::int64_t h = 0; h < heads; ++h) {
    errors.run([&] {
      LinearHead<T> head(map, s, options, feature_scale);
      head.run(h, q, k, v, out);
    });
  }
  errors.rethrow();
}

// ---------------------------------------------------------------- recurrent

template <class T>
RecurrentAttention<T>::RecurrentAttention(const RandomFeatures& features, std::int64_t value_dim, double scale)
    : features_(features), value_dim_(value_dim), scale_(scale), max_(minus_inf) {
  LOWDIM_CHECK(value_dim >= 1, "RecurrentAttention: value dimension {} must be >= 1", value_dim);
  LOWDIM_CHECK(std::isfinite(scale) && scale >= 0, "RecurrentAttention: scale = {} must be finite and >= 0", scale);
  LOWDIM_CHECK(features.kind() != FeatureMapKind::optimal || !std::isnan(features.options().optimal_a),
               "RecurrentAttention: the optimal (FAVOR++) map's A must be set (RandomFeatures::with_optimal_a)");
  if (scale_ == 0) scale_ = 1 / std::sqrt(static_cast<double>(features.dim()));
  state_ = Matrix<T>(features.features(), value_dim + 1);
  phi_q_ = Matrix<T>(1, features.features());
  phi_k_ = Matrix<T>(1, features.features());
}

template <class T>
void RecurrentAttention<T>::set_feature_rotation(std::vector<double> frequencies) {
  LOWDIM_CHECK_SHAPE(frequencies.empty() || static_cast<std::int64_t>(frequencies.size()) * 2 == features_.features(),
                     "RecurrentAttention: a feature rotation needs features / 2 = {} frequencies, given {}",
                     features_.features() / 2.0, frequencies.size());
  for (double t : frequencies) LOWDIM_CHECK(std::isfinite(t), "RecurrentAttention: non-finite rotation frequency {}", t);
  frequencies_ = std::move(frequencies);
  rotated_state_ = frequencies_.empty() ? Matrix<T>() : Matrix<T>(features_.features(), value_dim_);
  reset();
}

template <class T>
void RecurrentAttention<T>::reset() {
  for (T& x : state_.flat()) x = T(0);
  for (T& x : rotated_state_.flat()) x = T(0);
  max_ = minus_inf;
  valid_ = 0;
  position_ = 0;
}

template <class T>
void RecurrentAttention<T>::step(std::span<const T> q, std::span<const T> k, std::span<const T> v, std::span<T> out,
                                 bool key_valid) {
  const std::int64_t d = features_.dim(), f = features_.features();
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(q.size()) == d && static_cast<std::int64_t>(k.size()) == d,
                     "RecurrentAttention: q has {} and k {} values, expected d = {}", q.size(), k.size(), d);
  LOWDIM_CHECK_SHAPE(static_cast<std::int64_t>(v.size()) == value_dim_ && static_cast<std::int64_t>(out.size()) == value_dim_,
                     "RecurrentAttention: v has {} and out {} values, expected d_v = {}", v.size(), out.size(),
                     value_dim_);
  for (std::size_t c = 0; c < v.size(); ++c)
    LOWDIM_CHECK(std::isfinite(v[c]), "RecurrentAttention: non-finite value {} at column {} of v", v[c], c);
  const double fs = std::sqrt(scale_);
  T sq = 0, sk = 0;
  features_.apply<T>(ConstMatrixView<T>(q.data(), 1, d), phi_q_, std::span<T>(&sq, 1), fs);
  features_.apply<T>(ConstMatrixView<T>(k.data(), 1, d), phi_k_, std::span<T>(&sk, 1), fs);
  const bool rotate = !frequencies_.empty();
  Matrix<T> rq, rk;
  if (rotate) {
    rq = phi_q_.clone();
    rk = phi_k_.clone();
    rotate_features<T>(rq.view(), frequencies_, position_);
    rotate_features<T>(rk.view(), frequencies_, position_);
  }
  if (key_valid) {
    const double new_max = std::max(max_, static_cast<double>(sk));
    if (max_ > minus_inf && new_max > max_) {
      const T factor = static_cast<T>(std::exp(max_ - new_max));
      for (T& x : state_.flat()) x *= factor;
      for (T& x : rotated_state_.flat()) x *= factor;
    }
    max_ = new_max;
    const T w = static_cast<T>(std::exp(static_cast<double>(sk) - new_max));
    for (std::int64_t r = 0; r < f; ++r) {
      const T pk = phi_k_(0, r) * w;
      T* srow = state_.row(r);
      for (std::int64_t c = 0; c < value_dim_; ++c) srow[c] += pk * v[static_cast<std::size_t>(c)];
      srow[value_dim_] += pk;
      if (rotate) {
        const T rpk = rk(0, r) * w;
        T* rrow = rotated_state_.row(r);
        for (std::int64_t c = 0; c < value_dim_; ++c) rrow[c] += rpk * v[static_cast<std::size_t>(c)];
      }
    }
    ++valid_;
  }
  ++position_;
  if (valid_ == 0) {
    std::fill(out.begin(), out.end(), T(0));
    return;
  }
  double den = 0;
  for (std::int64_t r = 0; r < f; ++r) den += static_cast<double>(phi_q_(0, r)) * state_(r, value_dim_);
  const bool ok = std::isfinite(den) && (positive_features(features_.kind()) ? den > 0 : den != 0);
  if (!ok)
    LOWDIM_THROW(numerical_error, "RecurrentAttention: denominator {} at position {}: the {} features underflowed", den,
                 position_ - 1, to_string(features_.kind()));
  for (std::int64_t c = 0; c < value_dim_; ++c) {
    double num = 0;
    for (std::int64_t r = 0; r < f; ++r)
      num += rotate ? static_cast<double>(rq(0, r)) * rotated_state_(r, c) : static_cast<double>(phi_q_(0, r)) * state_(r, c);
    out[static_cast<std::size_t>(c)] = static_cast<T>(num / den);
  }
}

// ---------------------------------------------------------------- the error experiment

std::vector<AttentionErrorResult> attention_error_experiment(const AttentionErrorOptions& o,
                                                             const std::function<void(std::int64_t, std::int64_t)>& progress) {
  LOWDIM_CHECK(o.dim >= 1 && o.length >= 1 && o.repeats >= 1 && o.kernel_rows >= 1,
               "attention error: d = {}, L = {}, repeats = {} and kernel rows = {} must be >= 1", o.dim, o.length,
               o.repeats, o.kernel_rows);
  LOWDIM_CHECK(o.kernel_rows <= o.length, "attention error: kernel rows {} exceed L = {}", o.kernel_rows, o.length);
  LOWDIM_CHECK(std::isfinite(o.input_std) && o.input_std > 0, "attention error: input std {} must be finite and > 0",
               o.input_std);
  LOWDIM_CHECK(!o.features.empty() && !o.maps.empty() && !o.projections.empty(),
               "attention error: features, maps and projections must not be empty");
  for (auto m : o.features) LOWDIM_CHECK(m >= 1, "attention error: feature count {} must be >= 1", m);
  for (auto map : o.maps)
    LOWDIM_CHECK(estimates_softmax_kernel(map), "attention error: the {} map does not estimate the softmax kernel",
                 to_string(map));
  const std::int64_t d = o.dim, L = o.length, r = o.kernel_rows;
  Matrix<double> q(L, d), k(L, d), v(L, d);
  fill_normal<double>(q.view(), RandomStream(o.seed, StreamId::attention_inputs), 0);
  fill_normal<double>(k.view(), RandomStream(o.seed, StreamId::attention_inputs), static_cast<std::uint64_t>(L * d));
  fill_normal<double>(v.view(), RandomStream(o.seed, StreamId::attention_inputs), static_cast<std::uint64_t>(2 * L * d));
  for (double& x : q.flat()) x *= o.input_std;
  for (double& x : k.flat()) x *= o.input_std;
  for (double& x : v.flat()) x *= o.input_std;
  AttentionOptions ao;
  ao.causal = o.causal;
  const double scale = 1 / std::sqrt(static_cast<double>(d)), fs = std::sqrt(scale);
  // Kernel inputs: the first r rows, scaled so that x·y = q·k/√d.
  Matrix<double> qs(r, d), ks(r, d);
  for (std::int64_t i = 0; i < r; ++i)
    for (std::int64_t c = 0; c < d; ++c) {
      qs(i, c) = q(i, c) * fs;
      ks(i, c) = k(i, c) * fs;
    }
  Matrix<double> exact_k(r, r), est_k(r, r), exact_out(L, d), est_out(L, d);
  exact_kernel<double>(KernelKind::softmax, qs, ks, exact_k.view());
  softmax_attention<double>(q, k, v, 1, exact_out.view(), ao);
  const auto median = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    const std::size_t n = x.size();
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
  };
  std::vector<AttentionErrorResult> results;
  const auto total = static_cast<std::int64_t>(o.maps.size() * o.projections.size() * o.features.size());
  for (auto map : o.maps)
    for (auto proj : o.projections)
      for (auto m : o.features) {
        std::vector<double> kmse, omse;
        for (std::int64_t rep = 0; rep < o.repeats; ++rep) {
          const std::uint64_t seed = o.seed * 1000003u + static_cast<std::uint64_t>(rep) + 1;
          RandomFeatures f(map, proj, d, m, seed);
          if (map == FeatureMapKind::optimal) f = f.fitted<double>(q, k, fs);  // A from all queries and keys
          estimate_kernel<double>(f, qs, ks, est_k.view());
          kmse.push_back(mean_squared_error<double>(est_k, exact_k));
          double out_err;
          try {
            linear_attention<double>(f, q, k, v, 1, est_out.view(), ao);
            out_err = mean_squared_error<double>(est_out, exact_out);
          } catch (const numerical_error&) {
            out_err = std::numeric_limits<double>::infinity();  // a trig denominator hit zero
          }
          omse.push_back(out_err);
        }
        double km = 0, om = 0;
        for (double x : kmse) km += x;
        for (double x : omse) om += x;
        results.push_back({map, proj, m, km / static_cast<double>(o.repeats), median(kmse),
                           om / static_cast<double>(o.repeats), median(omse)});
        if (progress) progress(static_cast<std::int64_t>(results.size()), total);
      }
  return results;
}

#define LOWDIM_INSTANTIATE(T)                                                                                        \
  template LOWDIM_API void softmax_attention<T>(In<T>, In<T>, In<T>, std::int64_t, MatrixView<T>,                    \
                                                const AttentionOptions&);                                            \
  template LOWDIM_API void linear_attention<T>(const RandomFeatures&, In<T>, In<T>, In<T>, std::int64_t,             \
                                               MatrixView<T>, const AttentionOptions&);                              \
  template class LOWDIM_API RecurrentAttention<T>;
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
