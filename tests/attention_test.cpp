// Tests of exact, linear, causal and recurrent attention (attention.hpp).

#include <lowdim/attention.hpp>

#include "test_support.hpp"

#include <catch2/catch.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace lowdim;
using lowdim::test::eps;
using lowdim::test::max_abs_diff;

namespace {

template <class T>
Matrix<T> scaled_gaussian(std::int64_t rows, std::int64_t cols, std::uint64_t seed, double scale) {
  Matrix<T> m = lowdim::test::gaussian<T>(rows, cols, seed);
  for (T& x : m.flat()) x = static_cast<T>(x * scale);
  return m;
}

// Reference attention with explicit weights w(h, i, j), in double, by the definition.
template <class T, class Weight>
Matrix<double> reference(In<T> v, std::int64_t heads, std::int64_t lq, std::int64_t lk, Weight weight) {
  const std::int64_t dv = v.cols();
  Matrix<double> out(heads * lq, dv);
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < lq; ++i) {
      double den = 0;
      std::vector<double> num(static_cast<std::size_t>(dv));
      for (std::int64_t j = 0; j < lk; ++j) {
        const double w = weight(h, i, j);
        den += w;
        for (std::int64_t c = 0; c < dv; ++c) num[c] += w * v(h * lk + j, c);
      }
      for (std::int64_t c = 0; c < dv; ++c) out(h * lq + i, c) = den != 0 ? num[c] / den : 0.0;
    }
  return out;
}

template <class T>
double dot_rows(In<T> a, std::int64_t i, In<T> b, std::int64_t j) {
  double s = 0;
  for (std::int64_t c = 0; c < a.cols(); ++c) s += static_cast<double>(a(i, c)) * b(j, c);
  return s;
}

template <class T>
Matrix<double> to_double(In<T> a) {
  Matrix<double> m(a.rows(), a.cols());
  for (std::int64_t i = 0; i < a.rows(); ++i)
    for (std::int64_t j = 0; j < a.cols(); ++j) m(i, j) = a(i, j);
  return m;
}

// Exact softmax attention weights exp(q·k/√d) with causal and key mask.
template <class T>
Matrix<double> softmax_reference(In<T> q, In<T> k, In<T> v, std::int64_t heads, bool causal,
                                 const std::vector<std::uint8_t>& mask = {}) {
  const std::int64_t lq = q.rows() / heads, lk = k.rows() / heads;
  const double scale = 1 / std::sqrt(static_cast<double>(q.cols()));
  return reference<T>(v, heads, lq, lk, [&](std::int64_t h, std::int64_t i, std::int64_t j) {
    if (causal && j > i) return 0.0;
    if (!mask.empty() && !mask[static_cast<std::size_t>(mask.size() == static_cast<std::size_t>(lk) ? j : h * lk + j)])
      return 0.0;
    double mx = -1e300;  // the row max, for a stable reference
    for (std::int64_t jj = 0; jj < lk; ++jj) mx = std::max(mx, scale * dot_rows<T>(q, h * lq + i, k, h * lk + jj));
    return std::exp(scale * dot_rows<T>(q, h * lq + i, k, h * lk + j) - mx);
  });
}

// Linear attention by the definition: features e^{s}·phi of √scale·x, with the causal mask.
template <class T>
Matrix<double> linear_reference(const RandomFeatures& f, In<T> q, In<T> k, In<T> v, std::int64_t heads, bool causal,
                                const std::vector<std::uint8_t>& mask = {}) {
  const std::int64_t lq = q.rows() / heads, lk = k.rows() / heads;
  const double fs = std::pow(static_cast<double>(q.cols()), -0.25);
  const Matrix<double> qd = to_double<T>(q), kd = to_double<T>(k);
  Matrix<double> pq(q.rows(), f.features()), pk(k.rows(), f.features());
  std::vector<double> sq(q.rows()), sk(k.rows());
  f.apply<double>(qd, pq, sq, fs);
  f.apply<double>(kd, pk, sk, fs);
  return reference<T>(v, heads, lq, lk, [&](std::int64_t h, std::int64_t i, std::int64_t j) {
    if (causal && j > i) return 0.0;
    if (!mask.empty() && !mask[static_cast<std::size_t>(j)]) return 0.0;
    return dot_rows<double>(pq, h * lq + i, pk, h * lk + j) * std::exp(sq[h * lq + i] + sk[h * lk + j]);
  });
}

}  // namespace

TEMPLATE_TEST_CASE("softmax_attention matches the definition: heads, causal, masks, any block", "[attention][exact]",
                   float, double) {
  using T = TestType;
  const std::int64_t heads = 3, lq = 37, lk = 37, d = 8, dv = 5;
  const Matrix<T> q = scaled_gaussian<T>(heads * lq, d, 1, 1.5), k = scaled_gaussian<T>(heads * lk, d, 2, 1.5),
                  v = scaled_gaussian<T>(heads * lk, dv, 3, 1.0);
  std::vector<std::uint8_t> mask(lk, 1);
  mask[3] = mask[20] = mask[36] = 0;
  for (bool causal : {false, true})
    for (bool masked : {false, true})
      for (std::int64_t block : {1, 7, 16, 128}) {
        CAPTURE(causal, masked, block);
        AttentionOptions o;
        o.causal = causal;
        o.block = block;
        if (masked) o.key_mask = mask;
        Matrix<T> out(heads * lq, dv);
        softmax_attention<T>(q, k, v, heads, out, o);
        const Matrix<double> want = softmax_reference<T>(q, k, v, heads, causal, masked ? mask : std::vector<std::uint8_t>{});
        // Sums of ~L terms of the size of v: a few hundred ulps.
        CHECK(max_abs_diff<double>(to_double<T>(out), want) < 200 * eps<T>);
      }
  // Cross attention (L_q ≠ L_k).
  const Matrix<T> q2 = scaled_gaussian<T>(heads * 11, d, 4, 1.0);
  Matrix<T> out2(heads * 11, dv);
  softmax_attention<T>(q2, k, v, heads, out2);
  CHECK(max_abs_diff<double>(to_double<T>(out2), softmax_reference<T>(q2, k, v, heads, false)) < 200 * eps<T>);
}

TEMPLATE_TEST_CASE("linear_attention equals the masked definition, bidirectional and causal, any chunk",
                   "[attention][linear]", float, double) {
  using T = TestType;
  const std::int64_t heads = 2, L = 45, d = 16, dv = 6;
  const Matrix<T> q = scaled_gaussian<T>(heads * L, d, 5, 1.0), k = scaled_gaussian<T>(heads * L, d, 6, 1.0),
                  v = scaled_gaussian<T>(heads * L, dv, 7, 1.0);
  std::vector<std::uint8_t> mask(L, 1);
  mask[0] = mask[9] = mask[30] = 0;
  for (FeatureMapKind kind : {FeatureMapKind::positive, FeatureMapKind::optimal, FeatureMapKind::hyperbolic,
                              FeatureMapKind::relu, FeatureMapKind::elu, FeatureMapKind::exp})
    for (bool causal : {false, true})
      for (std::int64_t chunk : {1, 8, 45, 256}) {
        CAPTURE(to_string(kind), causal, chunk);
        RandomFeatures f(kind, FeatureProjection::orf, d, 32, 3);
        if (kind == FeatureMapKind::optimal) f = f.with_optimal_a(-0.1);
        AttentionOptions o;
        o.causal = causal;
        o.block = chunk;
        o.key_mask = mask;
        Matrix<T> out(heads * L, dv);
        linear_attention<T>(f, q, k, v, heads, out, o);
        const Matrix<double> want = linear_reference<T>(f, q, k, v, heads, causal, mask);
        CHECK(max_abs_diff<double>(to_double<T>(out), want) < 500 * eps<T>);
        // The query at position 0 has no key (key 0 is masked) in causal mode: output 0.
        if (causal)
          for (std::int64_t c = 0; c < dv; ++c) CHECK(out(0, c) == T(0));
      }
}

TEST_CASE("linear_attention: FAVOR+ approaches softmax attention as m grows", "[attention][linear][statistical]") {
  const std::int64_t L = 200, d = 16;
  const Matrix<double> q = scaled_gaussian<double>(L, d, 8, 0.4), k = scaled_gaussian<double>(L, d, 9, 0.4),
                       v = scaled_gaussian<double>(L, d, 10, 1.0);
  Matrix<double> exact(L, d), approx(L, d);
  softmax_attention<double>(q, k, v, 1, exact);
  double previous = 1e300;
  for (std::int64_t m : {16, 256, 4096}) {
    double mse = 0;
    for (std::uint64_t seed = 0; seed < 4; ++seed) {
      linear_attention<double>(RandomFeatures(FeatureMapKind::positive, FeatureProjection::orf, d, m, seed), q, k, v, 1,
                               approx);
      mse += mean_squared_error<double>(approx, exact) / 4;
    }
    CAPTURE(m, mse);
    CHECK(mse < previous / 4);  // MSE ~ 1/m: 16× more features, well over 4× less error
    previous = mse;
  }
  CHECK(previous < 1e-3);
}

TEST_CASE("causal linear attention: no output changes when a later token changes", "[attention][causal]") {
  // performer-pytorch's key stabiliser (a max over the whole sequence) fails this: a huge later
  // key changes the scale of every earlier output's features.
  const std::int64_t L = 64, d = 16, dv = 4;
  Matrix<float> q = scaled_gaussian<float>(L, d, 11, 1.0), k = scaled_gaussian<float>(L, d, 12, 0.5),
                v = scaled_gaussian<float>(L, dv, 13, 1.0);
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::orf, d, 64, 1);
  for (std::int64_t chunk : {1, 16, 64}) {
    AttentionOptions o;
    o.causal = true;
    o.block = chunk;
    Matrix<float> before(L, dv), after(L, dv);
    linear_attention<float>(f, q, k, v, 1, before, o);
    const std::int64_t changed = 40;
    Matrix<float> k2 = k.clone(), q2 = q.clone(), v2 = v.clone();
    // Later keys k_j ≈ d^{1/4}·w_r (the longest w_r): the features see x ≈ w_r, whose log scale ‖w_r‖²/2 is
    // far above every earlier key's, so a stabiliser that looks ahead would rescale earlier outputs.
    const Matrix<float> w = f.projection_operator().materialize<float>();
    std::int64_t longest = 0;
    const auto norm2 = [&](std::int64_t r) {
      double s = 0;
      for (std::int64_t c = 0; c < d; ++c) s += double(w(r, c)) * w(r, c);
      return s;
    };
    for (std::int64_t r = 1; r < w.rows(); ++r)
      if (norm2(r) > norm2(longest)) longest = r;
    for (std::int64_t j = changed; j < L; ++j)
      for (std::int64_t c = 0; c < d; ++c) {
        k2(j, c) = 2.0f * w(longest, c) * (1.0f + 0.01f * static_cast<float>(j - changed));
        q2(j, c) = -q(j, c) * 20.0f;
      }
    {
      Matrix<float> phi(L, f.features());
      std::vector<float> s_old(L), s_new(L);
      f.apply<float>(k, phi, s_old, 0.5);
      f.apply<float>(k2, phi, s_new, 0.5);
      const float old_max = *std::max_element(s_old.begin(), s_old.begin() + changed);
      REQUIRE(*std::min_element(s_new.begin() + changed, s_new.end()) > old_max + 1);
    }
    for (std::int64_t c = 0; c < dv; ++c) v2(changed, c) = 1e6f;
    linear_attention<float>(f, q2, k2, v2, 1, after, o);
    CAPTURE(chunk);
    for (std::int64_t i = 0; i < changed; ++i)
      for (std::int64_t c = 0; c < dv; ++c) REQUIRE(before(i, c) == after(i, c));  // bit for bit
    bool later_changed = false;
    for (std::int64_t c = 0; c < dv; ++c) later_changed |= before(changed, c) != after(changed, c);
    CHECK(later_changed);
  }
}

TEST_CASE("linear attention: the same bits on 1 and 2 threads; chunks agree to rounding", "[attention][threads]") {
  const std::int64_t heads = 3, L = 300, d = 32, dv = 16;
  const Matrix<double> q = scaled_gaussian<double>(heads * L, d, 14, 1.0), k = scaled_gaussian<double>(heads * L, d, 15, 1.0),
                       v = scaled_gaussian<double>(heads * L, dv, 16, 1.0);
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::sorf, d, 128, 2);
  const int threads = omp_get_max_threads();
  for (bool causal : {false, true})
    for (std::int64_t h : {std::int64_t{1}, heads}) {
      CAPTURE(causal, h);
      AttentionOptions o;
      o.causal = causal;
      Matrix<double> one(h * L, dv), two(h * L, dv), chunked(h * L, dv), exact1(h * L, dv), exact2(h * L, dv);
      const auto qh = q.row_block(0, h * L), kh = k.row_block(0, h * L), vh = v.row_block(0, h * L);
      omp_set_num_threads(1);
      linear_attention<double>(f, qh, kh, vh, h, one, o);
      softmax_attention<double>(qh, kh, vh, h, exact1, o);
      omp_set_num_threads(std::max(2, threads));
      linear_attention<double>(f, qh, kh, vh, h, two, o);
      softmax_attention<double>(qh, kh, vh, h, exact2, o);
      omp_set_num_threads(threads);
      CHECK(std::equal(one.flat().begin(), one.flat().end(), two.flat().begin()));
      CHECK(std::equal(exact1.flat().begin(), exact1.flat().end(), exact2.flat().begin()));
      o.block = 37;
      linear_attention<double>(f, qh, kh, vh, h, chunked, o);
      CHECK(max_abs_diff<double>(one, chunked) < 1000 * eps<double>);
    }
}

TEMPLATE_TEST_CASE("RecurrentAttention equals the causal scan token by token", "[attention][recurrent]", float,
                   double) {
  using T = TestType;
  const std::int64_t L = 50, d = 8, dv = 3;
  const Matrix<T> q = scaled_gaussian<T>(L, d, 17, 1.5), k = scaled_gaussian<T>(L, d, 18, 1.5),
                  v = scaled_gaussian<T>(L, dv, 19, 1.0);
  std::vector<std::uint8_t> mask(L, 1);
  mask[0] = mask[7] = 0;
  for (FeatureMapKind kind : {FeatureMapKind::positive, FeatureMapKind::trig_softmax, FeatureMapKind::elu}) {
    CAPTURE(to_string(kind));
    const RandomFeatures f(kind, FeatureProjection::iid, d, 16, 4);
    AttentionOptions o;
    o.causal = true;
    o.block = 16;
    o.key_mask = mask;
    Matrix<T> scan(L, dv);
    linear_attention<T>(f, q, k, v, 1, scan, o);
    RecurrentAttention<T> rec(f, dv);
    std::vector<T> out(dv);
    double worst = 0;
    for (std::int64_t i = 0; i < L; ++i) {
      rec.step(q.cview().row_span(i), k.cview().row_span(i), v.cview().row_span(i), out, mask[i] != 0);
      for (std::int64_t c = 0; c < dv; ++c) worst = std::max(worst, std::abs(static_cast<double>(out[c]) - scan(i, c)));
    }
    CHECK(rec.position() == L);
    // trig denominators can be small, which amplifies rounding.
    CHECK(worst < (kind == FeatureMapKind::trig_softmax ? 1e5 : 200) * eps<T>);
  }
}

TEST_CASE("linear attention: huge inputs do not overflow; the stabiliser leaves outputs unchanged", "[attention][stability]") {
  const std::int64_t L = 40, d = 16, dv = 4;
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::orf, d, 64, 5);
  // Moderate inputs: the stabilised result equals the unstabilised formula (linear_reference
  // multiplies the scales back, in double).
  const Matrix<float> q = scaled_gaussian<float>(L, d, 20, 1.0), k = scaled_gaussian<float>(L, d, 21, 1.0),
                      v = scaled_gaussian<float>(L, dv, 22, 1.0);
  for (bool causal : {false, true}) {
    AttentionOptions o;
    o.causal = causal;
    o.block = 8;
    Matrix<float> out(L, dv);
    linear_attention<float>(f, q, k, v, 1, out, o);
    CHECK(max_abs_diff<double>(to_double<float>(out), linear_reference<float>(f, q, k, v, 1, causal)) < 500 * eps<float>);
  }
  // Keys with ‖k‖ ≈ 12·√d: the unstabilised float features e^{w·k − ‖k‖²/2} underflow (e^{−200}
  // and below) and would give 0/0; the stabilised float result matches the double one.
  Matrix<float> big_k = scaled_gaussian<float>(L, d, 23, 12.0);
  Matrix<double> big_kd = to_double<float>(big_k), qd = to_double<float>(q), vd = to_double<float>(v);
  for (bool causal : {false, true}) {
    AttentionOptions o;
    o.causal = causal;
    o.block = 8;
    Matrix<float> out(L, dv);
    Matrix<double> outd(L, dv);
    linear_attention<float>(f, q, big_k, v, 1, out, o);
    linear_attention<double>(f, qd, big_kd, vd, 1, outd, o);
    for (float x : out.flat()) REQUIRE(std::isfinite(x));
    // Log scales near −200 carry float's relative rounding times 200 into the weights.
    CHECK(max_abs_diff<double>(to_double<float>(out), outd) < 2000 * eps<float>);
  }
}

TEST_CASE("linear attention: underflowed denominators are a numerical_error, not NaN", "[attention][stability][errors]") {
  // Queries and keys pointing in opposite directions with enormous norms: every feature
  // product underflows to 0.
  const std::int64_t L = 4, d = 4;
  Matrix<float> q(L, d), k(L, d), v(L, 1);
  for (std::int64_t i = 0; i < L; ++i) {
    q(i, 0) = 3e3f;
    k(i, 0) = -3e3f;
    v(i, 0) = 1;
  }
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::orf, d, 4, 5);
  Matrix<float> out(L, 1);
  CHECK_THROWS_AS(linear_attention<float>(f, q, k, v, 1, out), numerical_error);
  CHECK_THROWS_WITH(linear_attention<float>(f, q, k, v, 1, out), Catch::Contains("denominator") && Catch::Contains("head 0, position 0"));
}

TEST_CASE("attention: bad input is an error naming the values", "[attention][errors]") {
  const Matrix<double> q(8, 4), k(8, 4), v(8, 2), k3(8, 3), q6(6, 4);
  Matrix<double> out(8, 2), bad_out(8, 3);
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::iid, 4, 8, 1);
  CHECK_THROWS_WITH(softmax_attention<double>(q, k3, v, 1, out), Catch::Contains("d = 4 columns but k has 3"));
  CHECK_THROWS_WITH(softmax_attention<double>(q, k, v, 1, bad_out), Catch::Contains("output is 8 x 3, expected 8 x 2"));
  CHECK_THROWS_WITH(softmax_attention<double>(q, k, v, 3, out), Catch::Contains("multiples of heads = 3"));
  AttentionOptions o;
  o.block = 0;
  CHECK_THROWS_WITH(linear_attention<double>(f, q, k, v, 1, out, o), Catch::Contains("block = 0"));
  o = {};
  o.causal = true;
  Matrix<double> out6(6, 2);
  CHECK_THROWS_WITH(linear_attention<double>(f, q6, k, v, 1, out6, o), Catch::Contains("(6 vs 8)"));
  const std::vector<std::uint8_t> mask(5, 1);
  o = {};
  o.key_mask = mask;
  CHECK_THROWS_WITH(softmax_attention<double>(q, k, v, 1, out, o), Catch::Contains("key mask has 5 entries"));
  const RandomFeatures f5(FeatureMapKind::positive, FeatureProjection::iid, 5, 8, 1);
  CHECK_THROWS_WITH(linear_attention<double>(f5, q, k, v, 1, out), Catch::Contains("takes d = 5"));
  Matrix<double> qn(8, 4);
  qn(2, 1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(linear_attention<double>(f, qn, k, v, 1, out), Catch::Contains("row 2, column 1"));
  o = {};
  o.causal = true;
  const RandomFeatures opt(FeatureMapKind::optimal, FeatureProjection::iid, 4, 8, 1);
  CHECK_THROWS_WITH(linear_attention<double>(opt, q, k, v, 1, out, o), Catch::Contains("later positions"));
  CHECK_THROWS_WITH(RecurrentAttention<double>(opt, 2), Catch::Contains("must be set"));
}

// docs/attention.md's worked example, verbatim, with its claims checked.
TEST_CASE("docs/attention.md worked example", "[attention][docs]") {
  const std::int64_t heads = 2, L = 512, d = 64;
  Matrix<float> q(heads * L, d), k(heads * L, d), v(heads * L, d), exact(heads * L, d), favor(heads * L, d);
  fill_normal<float>(q.view(), RandomStream(1, 1));
  fill_normal<float>(k.view(), RandomStream(1, 2));
  fill_normal<float>(v.view(), RandomStream(1, 3));
  for (float& x : q.flat()) x *= 0.5f;
  for (float& x : k.flat()) x *= 0.5f;

  softmax_attention<float>(q, k, v, heads, exact);                 // the reference
  const RandomFeatures features(FeatureMapKind::positive, FeatureProjection::orf, d, 256, /*seed=*/7);
  linear_attention<float>(features, q, k, v, heads, favor);        // FAVOR+, bidirectional
  double err = mean_squared_error<float>(favor, exact);            // ≈ 1e-3

  AttentionOptions causal;
  causal.causal = true;
  Matrix<float> out(heads * L, d);
  linear_attention<float>(features, q, k, v, heads, out, causal);  // chunked causal scan
  RecurrentAttention<float> state(features, d);                    // the same, token by token
  std::vector<float> row(d);
  state.step(q.cview().row_span(0), k.cview().row_span(0), v.cview().row_span(0), row);  // = out row 0

  CAPTURE(err);
  CHECK(err > 1e-4);
  CHECK(err < 5e-3);
  for (std::int64_t c = 0; c < d; ++c) CHECK(row[c] == Approx(out(0, c)).margin(1e-5));
}
