// Tests of the rotary position embeddings (rope.hpp) and RoPE inside linear attention.

#include <lowdim/attention.hpp>
#include <lowdim/rope.hpp>

#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

using namespace lowdim;
using lowdim::test::eps;
using lowdim::test::max_abs_diff;

namespace {

// A direct port of Hugging Face's modeling_rope_utils (inv_freq per rule), written as the
// Python reads: vectors, torch.where and the ramp, independently of rope.cpp's loop.
std::vector<double> hf_inv_freq(std::int64_t dim, const RopeOptions& o, std::int64_t seq_len) {
  const auto arange_inv = [&](double base) {
    std::vector<double> f;
    for (std::int64_t i = 0; i < dim; i += 2) f.push_back(1.0 / std::pow(base, static_cast<double>(i) / dim));
    return f;
  };
  const double factor = o.factor;
  switch (o.scaling) {
    case RopeScaling::none: return arange_inv(o.base);
    case RopeScaling::linear: {
      auto f = arange_inv(o.base);
      for (auto& x : f) x = x / factor;
      return f;
    }
    case RopeScaling::ntk: return arange_inv(o.base * std::pow(factor, static_cast<double>(dim) / (dim - 2)));
    case RopeScaling::dynamic_ntk: {
      const double sl = std::max<double>(seq_len, o.original_length);
      return arange_inv(o.base * std::pow(factor * sl / o.original_length - (factor - 1),
                                          static_cast<double>(dim) / (dim - 2)));
    }
    case RopeScaling::yarn: {
      const auto find_correction_dim = [&](double num_rotations) {
        return (dim * std::log(o.original_length / (num_rotations * 2 * std::numbers::pi))) / (2 * std::log(o.base));
      };
      double low = std::floor(find_correction_dim(o.beta_fast)), high = std::ceil(find_correction_dim(o.beta_slow));
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      std::vector<double> pos_freqs, out;
      for (std::int64_t i = 0; i < dim; i += 2) pos_freqs.push_back(std::pow(o.base, static_cast<double>(i) / dim));
      for (std::int64_t i = 0; i < dim / 2; ++i) {
        const double linear_func = std::min(std::max((i - low) / (high - low), 0.0), 1.0);
        const double extrapolation_factor = 1 - linear_func;
        const double inv_extra = 1.0 / pos_freqs[i], inv_inter = 1.0 / (factor * pos_freqs[i]);
        out.push_back(inv_inter * (1 - extrapolation_factor) + inv_extra * extrapolation_factor);
      }
      return out;
    }
    case RopeScaling::llama3: {
      auto inv_freq = arange_inv(o.base);
      const double old = static_cast<double>(o.original_length);
      const double low_freq_wavelen = old / o.low_freq_factor, high_freq_wavelen = old / o.high_freq_factor;
      std::vector<double> out;
      for (double f : inv_freq) {
        const double wavelen = 2 * std::numbers::pi / f;
        double llama = wavelen > low_freq_wavelen ? f / factor : f;
        const double smooth = (old / wavelen - o.low_freq_factor) / (o.high_freq_factor - o.low_freq_factor);
        const double smoothed = (1 - smooth) * llama / factor + smooth * llama;
        const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
        out.push_back(medium ? smoothed : llama);
      }
      return out;
    }
  }
  return {};
}

std::vector<RopeOptions> every_scaling() {
  std::vector<RopeOptions> all;
  RopeOptions o;
  all.push_back(o);
  o.scaling = RopeScaling::linear;
  o.factor = 4;
  all.push_back(o);
  o.scaling = RopeScaling::ntk;
  all.push_back(o);
  o.scaling = RopeScaling::dynamic_ntk;
  o.original_length = 64;
  all.push_back(o);
  o.scaling = RopeScaling::yarn;
  o.original_length = 4096;
  all.push_back(o);
  o.scaling = RopeScaling::llama3;
  o.factor = 8;
  o.base = 500000;
  o.original_length = 8192;
  all.push_back(o);
  return all;
}

double dot(const double* a, const double* b, std::int64_t d) {
  double s = 0;
  for (std::int64_t c = 0; c < d; ++c) s += a[c] * b[c];
  return s;
}

}  // namespace

TEST_CASE("rope: frequencies match a direct port of Hugging Face's rules", "[rope]") {
  for (const RopeOptions& o : every_scaling())
    for (std::int64_t dim : {8, 64, 128})
      for (std::int64_t len : {0, 100, 20000}) {
        CAPTURE(to_string(o.scaling), dim, len);
        const auto got = rope_frequencies(dim, o, len);
        const auto want = hf_inv_freq(dim, o, len);
        REQUIRE(got.size() == want.size());
        for (std::size_t t = 0; t < got.size(); ++t) CHECK(got[t] == Approx(want[t]).epsilon(1e-13));
      }
  // Spot values: NTK-aware b' = b·s^(d/(d−2)); YaRN's temperature; Llama 3.1 keeps high frequencies.
  RopeOptions ntk;
  ntk.scaling = RopeScaling::ntk;
  ntk.factor = 4;
  CHECK(rope_frequencies(64, ntk)[1] == Approx(std::pow(10000 * std::pow(4.0, 64.0 / 62), -2.0 / 64)));
  RopeOptions yarn;
  yarn.scaling = RopeScaling::yarn;
  yarn.factor = 16;
  yarn.original_length = 4096;
  CHECK(rope_attention_factor(yarn) == Approx(0.1 * std::log(16.0) + 1));
  CHECK(rope_frequencies(128, yarn)[0] == 1.0);                          // fastest pair untouched
  CHECK(rope_frequencies(128, yarn)[63] == Approx(std::pow(10000, -126.0 / 128) / 16));  // slowest fully interpolated
  const auto llama = every_scaling().back();
  CHECK(rope_frequencies(128, llama)[0] == 1.0);
  CHECK(rope_frequencies(128, llama)[63] == Approx(std::pow(500000, -126.0 / 128) / 8));
  RopeOptions dyn = every_scaling()[3];
  CHECK(rope_frequencies(64, dyn, 64) == rope_frequencies(64, RopeOptions{}));  // within L₀: unscaled
}

TEMPLATE_TEST_CASE("rope: the score depends on m - n only, for every scaling and layout", "[rope]", float, double) {
  using T = TestType;
  const std::int64_t d = 32;
  const Matrix<double> base = lowdim::test::gaussian<double>(2, d, 3);
  for (const RopeOptions& o : every_scaling())
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half_split}) {
      CAPTURE(to_string(o.scaling), to_string(layout));
      // q at positions m, k at n, for pairs with the same m − n; dynamic_ntk's frequencies are
      // those of the whole call (positions up to 300), so every pair shares them.
      const std::vector<std::int64_t> pos = {5, 0, 105, 100, 300, 295, 7, 12, 207, 212};
      Matrix<T> q(static_cast<std::int64_t>(pos.size()), d), k(static_cast<std::int64_t>(pos.size()), d);
      for (std::int64_t r = 0; r < q.rows(); ++r)
        for (std::int64_t c = 0; c < d; ++c) {
          q(r, c) = static_cast<T>(base(0, c));
          k(r, c) = static_cast<T>(base(1, c));
        }
      apply_rope<T>(q, 1, layout, o, pos);
      apply_rope<T>(k, 1, layout, o, pos);
      const auto score = [&](std::int64_t i, std::int64_t j) {
        double s = 0;
        for (std::int64_t c = 0; c < d; ++c) s += static_cast<double>(q(i, c)) * k(j, c);
        return s;
      };
      // (m, n) = (5, 0), (105, 100), (300, 295): offset 5; (7, 12), (207, 212): offset −5.
      const double tol = 64 * eps<T> * 10 * 300;  // angles p·θ of size ≤ 300 lose log2(300) bits
      CHECK(std::abs(score(0, 1) - score(2, 3)) < tol);
      CHECK(std::abs(score(0, 1) - score(4, 5)) < tol);
      CHECK(std::abs(score(6, 7) - score(8, 9)) < tol);
      CHECK(std::abs(score(0, 1) - score(6, 7)) > 1e-3);  // m − n = ±5 differ: the test can fail
      // Norms are kept (times the YaRN factor).
      double nq = 0, n0 = 0;
      for (std::int64_t c = 0; c < d; ++c) {
        nq += static_cast<double>(q(4, c)) * q(4, c);
        n0 += base(0, c) * base(0, c);
      }
      CHECK(std::sqrt(nq) == Approx(std::sqrt(n0) * rope_attention_factor(o)).epsilon(100 * eps<T>));
    }
}

TEST_CASE("rope: rotation matches the definition; the layouts agree through the permutation", "[rope]") {
  const std::int64_t heads = 2, L = 9, d = 16;
  const Matrix<double> x = lowdim::test::gaussian<double>(heads * L, d, 5);
  const auto theta = rope_frequencies(d, RopeOptions{});
  // Interleaved by the definition: (x₂ₜ, x₂ₜ₊₁) ↦ (x₂ₜ cos − x₂ₜ₊₁ sin, x₂ₜ sin + x₂ₜ₊₁ cos).
  Matrix<double> inter = x.clone();
  apply_rope<double>(inter, heads, RopeLayout::interleaved);
  for (std::int64_t r = 0; r < heads * L; ++r)
    for (std::int64_t t = 0; t < d / 2; ++t) {
      const double a = (r % L) * theta[t];
      CHECK(inter(r, 2 * t) == Approx(x(r, 2 * t) * std::cos(a) - x(r, 2 * t + 1) * std::sin(a)));
      CHECK(inter(r, 2 * t + 1) == Approx(x(r, 2 * t) * std::sin(a) + x(r, 2 * t + 1) * std::cos(a)));
    }
  // Hugging Face: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁], cos = [cos θ, cos θ].
  Matrix<double> half = x.clone();
  apply_rope<double>(half, heads, RopeLayout::half_split);
  for (std::int64_t r = 0; r < heads * L; ++r)
    for (std::int64_t c = 0; c < d; ++c) {
      const double a = (r % L) * theta[c % (d / 2)];
      const double rot = c < d / 2 ? -x(r, c + d / 2) : x(r, c - d / 2);
      CHECK(half(r, c) == Approx(x(r, c) * std::cos(a) + rot * std::sin(a)));
    }
  // permute(interleaved RoPE(x)) = half-split RoPE(permute(x)), and back.
  Matrix<double> px(heads * L, d), rot_px, back(heads * L, d);
  permute_rope_columns<double>(x, px, d, RopeLayout::interleaved, RopeLayout::half_split);
  rot_px = px.clone();
  apply_rope<double>(rot_px, heads, RopeLayout::half_split);
  Matrix<double> p_inter(heads * L, d);
  permute_rope_columns<double>(inter, p_inter, d, RopeLayout::interleaved, RopeLayout::half_split);
  CHECK(max_abs_diff<double>(rot_px, p_inter) == 0);
  permute_rope_columns<double>(px, back, d, RopeLayout::half_split, RopeLayout::interleaved);
  CHECK(max_abs_diff<double>(back, x) == 0);
  // Weights: q = x·Wᵀ with W (out × in) — permuting W's rows permutes q's columns.
  const Matrix<double> w = lowdim::test::gaussian<double>(2 * d, 8, 6), a = lowdim::test::gaussian<double>(4, 8, 7);
  Matrix<double> q(4, 2 * d), pq(4, 2 * d), pw(2 * d, 8), qpw(4, 2 * d);
  linalg::gemm<double>(Op::none, Op::transpose, 1.0, a, w, 0.0, q);
  permute_rope_rows<double>(w, pw, d, RopeLayout::interleaved, RopeLayout::half_split);
  linalg::gemm<double>(Op::none, Op::transpose, 1.0, a, pw, 0.0, qpw);
  permute_rope_columns<double>(q, pq, d, RopeLayout::interleaved, RopeLayout::half_split);
  CHECK(max_abs_diff<double>(pq, qpw) == 0);
  // A wrong permutation (identity) breaks the agreement: the test can fail.
  Matrix<double> wrong = x.clone();
  apply_rope<double>(wrong, heads, RopeLayout::half_split);
  CHECK(max_abs_diff<double>(wrong, inter) > 1e-2);
}

TEST_CASE("rope: 2D axial and RoPE-Mixed are relative in both axes; sinusoidal encoding", "[rope]") {
  const std::int64_t d = 16, h = 4, w = 5;
  const GridPositions g = grid_positions(h, w);
  REQUIRE(g.x.size() == 20);
  CHECK(g.x[7] == 2);
  CHECK(g.y[7] == 1);
  const Matrix<double> base = lowdim::test::gaussian<double>(2, d, 8);
  Matrix<double> q(h * w, d), k(h * w, d);
  for (std::int64_t r = 0; r < h * w; ++r)
    for (std::int64_t c = 0; c < d; ++c) {
      q(r, c) = base(0, c);
      k(r, c) = base(1, c);
    }
  Matrix<double> qa = q.clone(), ka = k.clone(), qm = q.clone(), km = k.clone();
  apply_rope_axial<double>(qa, 1, g.x, g.y);
  apply_rope_axial<double>(ka, 1, g.x, g.y);
  // Axial: the first half of (r, c) is 1D RoPE of dimension d/2 at position c.
  Matrix<double> first(1, d / 2);
  for (std::int64_t c = 0; c < d / 2; ++c) first(0, c) = base(0, c);
  const std::int64_t tok = 13;
  const std::vector<std::int64_t> pos = {g.x[tok]};
  apply_rope<double>(first, 1, RopeLayout::interleaved, {}, pos);
  for (std::int64_t c = 0; c < d / 2; ++c) CHECK(qa(tok, c) == Approx(first(0, c)));
  Matrix<double> tx(2, d / 2), ty(2, d / 2);
  for (std::int64_t t = 0; t < d / 2; ++t) {
    tx(0, t) = 0.3 / (t + 1);
    ty(0, t) = 0.2 * (t % 3);
    tx(1, t) = 0.1;
    ty(1, t) = -0.4;
  }
  Matrix<double> qm2(2 * h * w, d), km2(2 * h * w, d);
  for (std::int64_t r = 0; r < 2 * h * w; ++r)
    for (std::int64_t c = 0; c < d; ++c) {
      qm2(r, c) = base(0, c);
      km2(r, c) = base(1, c);
    }
  apply_rope_mixed<double>(qm2, 2, g.x, g.y, tx, ty);
  apply_rope_mixed<double>(km2, 2, g.x, g.y, tx, ty);
  const auto at = [&](std::int64_t r, std::int64_t c) { return r * w + c; };
  for (const auto* pair : {&qa, &qm2}) {
    const Matrix<double>& qq = *pair;
    const Matrix<double>& kk = pair == &qa ? ka : km2;
    // Same displacement (1, 2) from two places: equal scores; another displacement: different.
    const double s1 = dot(qq.row(at(0, 0)), kk.row(at(1, 2)), d), s2 = dot(qq.row(at(2, 1)), kk.row(at(3, 3)), d);
    const double s3 = dot(qq.row(at(0, 0)), kk.row(at(2, 1)), d);
    CHECK(s1 == Approx(s2).epsilon(1e-12));
    CHECK(std::abs(s1 - s3) > 1e-3);
  }
  // The second head of RoPE-Mixed uses its own frequencies.
  CHECK(std::abs(qm2(at(1, 1), 0) - qm2(h * w + at(1, 1), 0)) > 1e-3);
  Matrix<float> pe(50, 8);
  sinusoidal_encoding<float>(pe, 3);
  CHECK(pe(2, 0) == Approx(std::sin(5.0)));
  CHECK(pe(2, 3) == Approx(std::cos(5.0 * std::pow(10000, -2.0 / 8))));
}

TEMPLATE_TEST_CASE("rope inside linear attention: rotated numerator, unrotated denominator", "[rope][attention]", float,
                   double) {
  using T = TestType;
  const std::int64_t L = 30, d = 8, dv = 3, m = 16;
  const Matrix<T> q = lowdim::test::gaussian<T>(L, d, 9), k = lowdim::test::gaussian<T>(L, d, 10),
                  v = lowdim::test::gaussian<T>(L, dv, 11);
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::orf, d, m, 2);
  AttentionOptions o;
  o.feature_rotation.frequencies = rope_frequencies(m, RopeOptions{});
  o.feature_rotation.offset = 3;
  o.block = 7;
  // Reference by the definition, in double.
  Matrix<double> qd(L, d), kd(L, d), pq(L, m), pk(L, m);
  for (std::int64_t i = 0; i < L; ++i)
    for (std::int64_t c = 0; c < d; ++c) {
      qd(i, c) = q(i, c);
      kd(i, c) = k(i, c);
    }
  std::vector<double> sq(L), sk(L);
  const double fs = std::pow(static_cast<double>(d), -0.25);
  f.apply<double>(qd, pq, sq, fs);
  f.apply<double>(kd, pk, sk, fs);
  Matrix<double> rq = pq.clone(), rk = pk.clone();
  std::vector<std::int64_t> pos(L);
  for (std::int64_t i = 0; i < L; ++i) pos[i] = i + 3;
  apply_rope<double>(rq, 1, RopeLayout::interleaved, {}, pos);
  apply_rope<double>(rk, 1, RopeLayout::interleaved, {}, pos);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    o.causal = causal;
    Matrix<T> out(L, dv);
    linear_attention<T>(f, q, k, v, 1, out, o);
    double worst = 0;
    for (std::int64_t i = 0; i < L; ++i) {
      double den = 0;
      std::vector<double> num(dv);
      for (std::int64_t j = 0; j < (causal ? i + 1 : L); ++j) {
        const double wj = std::exp(sk[j]);
        den += dot(pq.row(i), pk.row(j), m) * wj;
        for (std::int64_t c = 0; c < dv; ++c) num[c] += dot(rq.row(i), rk.row(j), m) * wj * v(j, c);
      }
      for (std::int64_t c = 0; c < dv; ++c) worst = std::max(worst, std::abs(num[c] / den - out(i, c)));
    }
    CHECK(worst < 500 * eps<T>);
    if (causal) {  // the recurrent state with the same rotation
      RecurrentAttention<T> rec(f, dv);
      auto freqs = o.feature_rotation.frequencies;
      rec.set_feature_rotation(freqs);
      std::vector<T> step_out(dv);
      Matrix<T> shifted_q(L + 3, d), shifted_k(L + 3, d), shifted_v(L + 3, dv);
      double w2 = 0;
      // Positions start at 0 in the recurrent state: feed three masked dummy tokens first.
      const std::vector<T> zero_d(d, T(0)), zero_v(dv, T(0));
      for (int i = 0; i < 3; ++i) rec.step(zero_d, zero_d, zero_v, step_out, false);
      for (std::int64_t i = 0; i < L; ++i) {
        rec.step(q.cview().row_span(i), k.cview().row_span(i), v.cview().row_span(i), step_out);
        for (std::int64_t c = 0; c < dv; ++c) w2 = std::max(w2, std::abs(double(step_out[c]) - out(i, c)));
      }
      CHECK(w2 < 500 * eps<T>);
    }
  }
  // Without the rotation the result differs: the test can fail.
  Matrix<T> plain(L, dv), rotated(L, dv);
  AttentionOptions p;
  linear_attention<T>(f, q, k, v, 1, plain, p);
  o.causal = false;
  linear_attention<T>(f, q, k, v, 1, rotated, o);
  CHECK(max_abs_diff<T>(plain, rotated) > 1e-3);
}

TEST_CASE("rope: bad input is an error naming the values", "[rope][errors]") {
  CHECK_THROWS_WITH(rope_frequencies(7, {}), Catch::Contains("dimension 7 must be even"));
  RopeOptions o;
  o.factor = 2;
  CHECK_THROWS_WITH(rope_frequencies(8, o), Catch::Contains("no factor (given 2)"));
  o.scaling = RopeScaling::yarn;
  CHECK_THROWS_WITH(rope_frequencies(8, o), Catch::Contains("original length L0 >= 1 (given 0)"));
  o.original_length = 100;
  o.beta_fast = 0.5;
  CHECK_THROWS_WITH(rope_frequencies(8, o), Catch::Contains("beta_fast > beta_slow > 0 (given 0.5 and 1)"));
  RopeOptions l;
  l.scaling = RopeScaling::linear;
  l.factor = 0.5;
  CHECK_THROWS_WITH(rope_frequencies(8, l), Catch::Contains("factor 0.5"));
  l.factor = 2;
  l.low_freq_factor = 2;
  CHECK_THROWS_WITH(rope_frequencies(8, l), Catch::Contains("llama3's"));
  CHECK_THROWS_WITH(parse_rope_scaling("rotary"), Catch::Contains("none, linear, ntk, dynamic_ntk, yarn, llama3"));
  CHECK(parse_rope_scaling("dynamic-ntk") == RopeScaling::dynamic_ntk);
  Matrix<float> x(6, 8);
  const std::vector<std::int64_t> pos = {0, 1, -2};
  CHECK_THROWS_WITH(apply_rope<float>(x, 2, RopeLayout::interleaved, {}, pos), Catch::Contains("negative position -2"));
  CHECK_THROWS_WITH(apply_rope<float>(x, 4, RopeLayout::interleaved), Catch::Contains("multiple of heads = 4"));
  Matrix<float> y(6, 8);
  CHECK_THROWS_WITH(permute_rope_columns<float>(x, y, 3, RopeLayout::interleaved, RopeLayout::half_split),
                    Catch::Contains("head dimension 3"));
  const RandomFeatures f(FeatureMapKind::positive, FeatureProjection::iid, 8, 6, 1);
  AttentionOptions ao;
  ao.feature_rotation.frequencies = {1.0, 2.0};
  Matrix<float> out(6, 8);
  CHECK_THROWS_WITH(linear_attention<float>(f, x, x, x, 1, out, ao), Catch::Contains("features / 2 = 3 frequencies, given 2"));
}

// docs/rope.md's worked example, verbatim, with its claims checked.
TEST_CASE("docs/rope.md worked example", "[rope][docs]") {
  const std::int64_t heads = 4, L = 128, d = 64;
  Matrix<float> q(heads * L, d), k(heads * L, d);
  fill_normal<float>(q.view(), RandomStream(3, 1));
  fill_normal<float>(k.view(), RandomStream(3, 2));
  const Matrix<float> q0 = q.clone();

  RopeOptions yarn;
  yarn.scaling = RopeScaling::yarn;
  yarn.factor = 4;
  yarn.original_length = 32;
  apply_rope<float>(q, heads, RopeLayout::half_split, yarn);  // Hugging Face layout
  apply_rope<float>(k, heads, RopeLayout::half_split, yarn);

  // The same rotation in the interleaved layout, through the permutation helper.
  Matrix<float> qi(heads * L, d);
  permute_rope_columns<float>(q, qi, d, RopeLayout::half_split, RopeLayout::interleaved);
  double factor = rope_attention_factor(yarn);  // 0.1 ln 4 + 1 ≈ 1.139

  CHECK(factor == Approx(1.1386).epsilon(1e-4));
  Matrix<float> p0(heads * L, d);
  permute_rope_columns<float>(q0, p0, d, RopeLayout::half_split, RopeLayout::interleaved);
  apply_rope<float>(p0, heads, RopeLayout::interleaved, yarn);
  CHECK(max_abs_diff<float>(p0, qi) == 0);
}
