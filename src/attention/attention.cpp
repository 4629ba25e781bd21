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

// One head of linear attention. With a rotation the numerator and the denominator use
// different features, so they are two parts (rotated features with values v; plain features
// with the column of ones); without one, a single part carries [v, 1].
template <class T>
class LinearHead {
 public:
  LinearHead(const RandomFeatures& map, const Shapes& s, const AttentionOptions& o, double feature_scale)
      : map_(map), s_(s), o_(o), feature_scale_(feature_scale), f_(map.features()),
        rotate_(!o.feature_rotation.frequencies.empty()), bs_(o.block) {
    const std::int64_t cols = rotate_ ? s.dv : s.dv + 1;
    state_num_ = Matrix<T>(f_, cols);
    if (rotate_) state_den_ = Matrix<T>(f_, 1);
    phi_q_ = Matrix<T>::uninitialized(bs_, f_);
    phi_k_ = Matrix<T>::uninitialized(bs_, f_);
    if (rotate_) {
      rphi_q_ = Matrix<T>::uninitialized(bs_, f_);
      rphi_k_ = Matrix<T>::uninitialized(bs_, f_);
    }
    values_ = Matrix<T>::uninitialized(bs_, cols);
    ones_ = Matrix<T>::uninitialized(bs_, 1);
    for (std::int64_t i = 0; i < bs_; ++i) ones_(i, 0) = T(1);
    part_out_ = Matrix<T>::uninitialized(bs_, cols);
    if (rotate_) den_out_ = Matrix<T>::uninitialized(bs_, 1);
    if (o.causal) scores_ = Matrix<T>::uninitialized(bs_, bs_);
    q_scale_.resize(static_cast<std::size_t>(bs_));
    k_scale_.resize(static_cast<std::size_t>(bs_));
  }

  void run(std::int64_t h, In<T> q, In<T> k, In<T> v, MatrixView<T> out) {
    h_ = h;
    if (o_.causal) {
      for (std::int64_t a = 0; a < s_.lq; a += bs_) causal_chunk(a, std::min(bs_, s_.lq - a), q, k, v, out);
    } else {
      for (std::int64_t a = 0; a < s_.lk; a += bs_) add_keys(a, std::min(bs_, s_.lk - a), k, v);
      for (std::int64_t a = 0; a < s_.lq; a += bs_) queries(a, std::min(bs_, s_.lq - a), q, out);
    }
  }

 private:
  // Features of key rows [a, a + n): phi_k_ (and rotated), k_scale_ = s_j (−inf when masked).
  void key_features(std::int64_t a, std::int64_t n, In<T> k) {
    MatrixView<T> pk = phi_k_.block(0, 0, n, f_);
    map_.apply<T>(k.block(h_ * s_.lk + a, 0, n, s_.d), pk, std::span<T>(k_scale_.data(), static_cast<std::size_t>(n)),
                  feature_scale_);
    for (std::int64_t j = 0; j < n; ++j)
      if (!key_valid(o_, h_, s_.lk, a + j)) k_scale_[static_cast<std::size_t>(j)] = -std::numeric_limits<T>::infinity();
    if (rotate_) {
      MatrixView<T> r = rphi_k_.block(0, 0, n, f_);
      r.copy_from(pk);
      rotate_features<T>(r, o_.feature_rotation.frequencies, o_.feature_rotation.offset + a);
    }
  }
  void query_features(std::int64_t a, std::int64_t n, In<T> q) {
    MatrixView<T> pq = phi_q_.block(0, 0, n, f_);
    map_.apply<T>(q.block(h_ * s_.lq + a, 0, n, s_.d), pq, std::span<T>(q_scale_.data(), static_cast<std::size_t>(n)),
                  feature_scale_);
    if (rotate_) {
      MatrixView<T> r = rphi_q_.block(0, 0, n, f_);
      r.copy_from(pq);
      rotate_features<T>(r, o_.feature_rotation.frequencies, o_.feature_rotation.offset + a);
    }
  }
  // values_ rows [0, n) = [v_j, 1] (or v_j with a rotation).
  void load_values(std::int64_t a, std::int64_t n, In<T> v) {
    for (std::int64_t j = 0; j < n; ++j) {
      const T* src = v.row(h_ * s_.lk + a + j);
      T* dst = values_.row(j);
      std::copy(src, src + s_.dv, dst);
      if (!rotate_) dst[s_.dv] = T(1);
    }
  }
  void rescale_state(double factor) {
    if (factor == 1) return;
    const T f = static_cast<T>(factor);
    for (T& x : state_num_.flat()) x *= f;
    for (T& x : state_den_.flat()) x *= f;
  }
  // S += Σ_j e^{s_j − M} φ̃(k_j)[v_j, 1]ᵀ over the valid keys, after raising M to cover them.
  void accumulate(std::int64_t n, double new_max) {
    for (std::int64_t j = 0; j < n; ++j) {
      const double w = std::exp(static_cast<double>(k_scale_[static_cast<std::size_t>(j)]) - new_max);  // 0 when masked
      const T wt = static_cast<T>(w);
      T* p = phi_k_.row(j);
      for (std::int64_t c = 0; c < f_; ++c) p[c] *= wt;
      if (rotate_) {
        T* r = rphi_k_.row(j);
        for (std::int64_t c = 0; c < f_; ++c) r[c] *= wt;
      }
    }
    const std::int64_t cols = state_num_.cols();
    if (rotate_) {
      linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), rphi_k_.block(0, 0, n, f_),
                                   values_.block(0, 0, n, cols), T(1), state_num_.view());
      linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), phi_k_.block(0, 0, n, f_), ones_.block(0, 0, n, 1),
                                   T(1), state_den_.view());
    } else {
      linalg::gemm_reproducible<T>(Op::transpose, Op::none, T(1), phi_k_.block(0, 0, n, f_),
                                   values_.block(0, 0, n, cols), T(1), state_num_.view());
    }
  }
  double chunk_max(std::int64_t n) const {
    double mx = minus_inf;
    for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, static_cast<double>(k_scale_[static_cast<std::size_t>(j)]));
    return mx;
  }
  void add_keys(std::int64_t a, std::int64_t n, In<T> k, In<T> v) {
    key_features(a, n, k);
    load_values(a, n, v);
    for (std::int64_t j = 0; j < n; ++j) valid_ += k_scale_[static_cast<std::size_t>(j)] > minus_inf;
    const double cm = chunk_max(n);
    if (cm == minus_inf) return;
    const double new_max = std::max(max_, cm);
    if (max_ > minus_inf) rescale_state(std::exp(max_ - new_max));
    max_ = new_max;
    accumulate(n, new_max);
  }
  // Bidirectional output rows [a, a + n) from the full state.
  void queries(std::int64_t a, std::int64_t n, In<T> q, MatrixView<T> out) {
    query_features(a, n, q);
    MatrixView<T> num = part_out_.block(0, 0, n, state_num_.cols());
    linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), (rotate_ ? rphi_q_ : phi_q_).block(0, 0, n, f_), state_num_,
                                 T(0), num);
    if (rotate_)
      linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), phi_q_.block(0, 0, n, f_), state_den_, T(0),
                                   den_out_.block(0, 0, n, 1));
    for (std::int64_t i = 0; i < n; ++i) finish_row(a + i, i, valid_ > 0, out);
  }
  // out row a + i from part_out_ / den_out_ row i.
  void finish_row(std::int64_t pos, std::int64_t i, bool any_key, MatrixView<T> out) {
    T* o = out.row(h_ * s_.lq + pos);
    if (!any_key) {
      std::fill(o, o + s_.dv, T(0));
      return;
    }
    const T* num = part_out_.row(i);
    const double den = rotate_ ? static_cast<double>(den_out_(i, 0)) : static_cast<double>(num[s_.dv]);
    const bool ok = std::isfinite(den) && (positive_features(map_.kind()) ? den > 0 : den != 0);
    if (!ok)
      LOWDIM_THROW(numerical_error,
                   "linear_attention: denominator {} at head {}, position {}: the {} features of the query and its "
                   "keys underflowed (inputs too large for this map; try the trig or a generalized map, or smaller "
                   "inputs)",
                   den, h_, pos, to_string(map_.kind()));
    for (std::int64_t c = 0; c < s_.dv; ++c) {
      const double r = static_cast<double>(num[c]) / den;
      LOWDIM_CHECK(std::isfinite(r), "linear_attention: output {} at head {}, position {}, column {} is not finite",
                   r, h_, pos, c);
      o[c] = static_cast<T>(r);
    }
  }
  void causal_chunk(std::int64_t a, std::int64_t n, In<T> q, In<T> k, In<T> v, MatrixView<T> out) {
    query_features(a, n, q);
    key_features(a, n, k);
    load_values(a, n, v);
    // Running maxima M_i and valid-key counts up to i.
    std::vector<double> run_max(static_cast<std::size_t>(n));
    std::vector<std::int64_t> run_valid(static_cast<std::size_t>(n));
    double mx = max_;
    std::int64_t cnt = valid_;
    for (std::int64_t j = 0; j < n; ++j) {
      const double sj = k_scale_[static_cast<std::size_t>(j)];
      mx = std::max(mx, sj);
      cnt += sj > minus_inf;
      run_max[static_cast<std::size_t>(j)] = mx;
      run_valid[static_cast<std::size_t>(j)] = cnt;
    }
    const std::int64_t cols = state_num_.cols();
    MatrixView<T> num = part_out_.block(0, 0, n, cols);
    MatrixView<T> sc = scores_.block(0, 0, n, n);
    // Contribution of the earlier chunks: e^{M_prev − M_i} φ̃(q_i)·S.
    const auto add_state = [&](In<T> pq, In<T> state, MatrixView<T> dst) {
      if (max_ == minus_inf) {
        for (std::int64_t i = 0; i < n; ++i) std::fill(dst.row(i), dst.row(i) + dst.cols(), T(0));
        return;
      }
      linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), pq, state, T(0), dst);
      for (std::int64_t i = 0; i < n; ++i) {
        const T f = static_cast<T>(std::exp(max_ - run_max[static_cast<std::size_t>(i)]));
        T* r = dst.row(i);
        for (std::int64_t c = 0; c < dst.cols(); ++c) r[c] *= f;
      }
    };
    // The masked chunk product: entry (i, j ≤ i) times e^{s_j − M_i}.
    const auto add_chunk = [&](In<T> pq, In<T> pk, In<T> vals, MatrixView<T> dst) {
      linalg::gemm_reproducible<T>(Op::none, Op::transpose, T(1), pq, pk, T(0), sc);
      for (std::int64_t i = 0; i < n; ++i) {
        T* r = sc.row(i);
        const double mi = run_max[static_cast<std::size_t>(i)];
        for (std::int64_t j = 0; j < n; ++j) {
          const double sj = k_scale_[static_cast<std::size_t>(j)];
          r[j] = j <= i && sj > minus_inf ? static_cast<T>(r[j] * std::exp(sj - mi)) : T(0);
        }
      }
      linalg::gemm_reproducible<T>(Op::none, Op::none, T(1), sc, vals, T(1), dst);
    };
    const MatrixView<T> pq = phi_q_.block(0, 0, n, f_), pk = phi_k_.block(0, 0, n, f_);
    if (rotate_) {
      const MatrixView<T> rq = rphi_q_.block(0, 0, n, f_), rk = rphi_k_.block(0, 0, n, f_);
      MatrixView<T> den = den_out_.block(0, 0, n, 1);
      add_state(rq, state_num_, num);
      add_chunk(rq, rk, values_.block(0, 0, n, cols), num);
      add_state(pq, state_den_, den);
      add_chunk(pq, pk, ones_.block(0, 0, n, 1), den);
    } else {
      add_state(pq, state_num_, num);
      add_chunk(pq, pk, values_.block(0, 0, n, cols), num);
    }
    for (std::int64_t i = 0; i < n; ++i) finish_row(a + i, i, run_valid[static_cast<std::size_t>(i)] > 0, out);
    // State update with M_end.
    const double end_max = run_max[static_cast<std::size_t>(n - 1)];
    valid_ = cnt;
    if (end_max == minus_inf) return;
    if (max_ > minus_inf) rescale_state(std::exp(max_ - end_max));
    max_ = end_max;
    accumulate(n, end_max);
  }

  const RandomFeatures& map_;
  Shapes s_;
  const AttentionOptions& o_;
  double feature_scale_;
  std::int64_t f_;
  bool rotate_;
  std::int64_t bs_, h_ = 0;
  Matrix<T> state_num_, state_den_, phi_q_, phi_k_, rphi_q_, rphi_k_, values_, ones_, part_out_, den_out_, scores_;
  std::vector<T> q_scale_, k_scale_;
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
