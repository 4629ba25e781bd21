// The C++ quick-starts of README.md, compiled and run on small data, so the
// README cannot drift from the API.

#include "test_support.hpp"

#include <lowdim/attention.hpp>
#include <lowdim/jl.hpp>
#include <lowdim/rope.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/whitening.hpp>

#include <catch2/catch.hpp>

using namespace lowdim::test;

TEST_CASE("README: random projection quick-start", "[readme]") {
  const auto x = gaussian<float>(500, 784, 1);
  std::int64_t k = lowdim::min_dim(1'000'000, 0.5);  // 664 (rounded up)
  REQUIRE(k == 664);
  lowdim::RandomProjection f;
  f.fit(/*input_dim=*/784, {.kind = lowdim::SketchKind::srht, .k = 256, .seed = 7});
  lowdim::Matrix<float> y = f.transform<float>(x);  // x: n × 784 → y: n × 256
  REQUIRE(y.rows() == 500);
  REQUIRE(y.cols() == 256);
  auto report = lowdim::measure_distortion<float>(x, {.dims = {64, 256}, .eps = 0.1});
  REQUIRE(report.results.size() == 6);  // gaussian, sparse, srht × 2 dims
}

TEST_CASE("README: randomized SVD quick-start", "[readme]") {
  std::vector<double> spectrum(150);
  for (std::size_t i = 0; i < spectrum.size(); ++i) spectrum[i] = std::exp(-static_cast<double>(i) / 10);
  const auto a = with_spectrum<double>(300, 150, spectrum, 2);
  auto r = lowdim::svd<double>(a, {.rank = 100, .seed = 1});  // block Krylov by default
  REQUIRE(r.u.rows() == 300);
  REQUIRE(r.s.size() == 100);
  REQUIRE(r.vt.cols() == 150);
  REQUIRE(std::abs(r.s[0] - 1.0) < 1e-10);
}

TEST_CASE("README: whitening quick-start", "[readme]") {
  const auto embeddings = gaussian<float>(2000, 768, 3);
  auto w = lowdim::fit_bert_whitening<float>(embeddings, {.components = 256});
  lowdim::Matrix<float> y = w.transform<float>(embeddings);  // n × 768 → n × 256, cov(y) = I
  REQUIRE(y.cols() == 256);
  const auto x = gaussian<double>(100, 8, 4);
  auto zca = lowdim::Whitening::fit<double>(x, {.kind = lowdim::WhiteningKind::zca});
  REQUIRE(zca.output_dim() == 8);
  const std::int64_t d = 8;
  const auto batch1 = gaussian<float>(10, 8, 5), batch2 = gaussian<float>(20, 8, 6);
  lowdim::Moments m(d);
  m.update<float>(batch1);
  m.update<float>(batch2);  // streaming, mergeable
  REQUIRE(m.count() == 30);
}

TEST_CASE("README: attention and RoPE quick-start", "[readme]") {
  const std::int64_t heads = 2, L = 300, d = 64;
  auto q = gaussian<float>(heads * L, d, 1), k = gaussian<float>(heads * L, d, 2), v = gaussian<float>(heads * L, d, 3);
  for (std::int64_t i = 0; i < q.size(); ++i) q.data()[i] *= 0.5f, k.data()[i] *= 0.5f;  // activations of std 0.5
  lowdim::apply_rope<float>(q.view(), heads, lowdim::RopeLayout::half_split,
                            {.scaling = lowdim::RopeScaling::yarn, .factor = 4, .original_length = 4096});
  lowdim::apply_rope<float>(k.view(), heads, lowdim::RopeLayout::half_split,
                            {.scaling = lowdim::RopeScaling::yarn, .factor = 4, .original_length = 4096});
  lowdim::RandomFeatures f(lowdim::FeatureMapKind::positive, lowdim::FeatureProjection::orf, d, /*m=*/256, /*seed=*/0);
  lowdim::Matrix<float> out(heads * L, d), exact(heads * L, d);
  lowdim::linear_attention<float>(f, q, k, v, heads, out, {.causal = true});  // memory independent of L
  lowdim::softmax_attention<float>(q, k, v, heads, exact, {.causal = true});  // the blocked exact reference
  double mse = 0;
  for (std::int64_t i = 0; i < out.size(); ++i) mse += std::pow(double(out.data()[i]) - double(exact.data()[i]), 2);
  mse /= static_cast<double>(out.size());
  INFO("output MSE " << mse);
  REQUIRE(mse < 0.02);  // an estimate of softmax attention (MSE 6.4e-3 here: seeds are fixed)
  REQUIRE(mse > 0);
}
