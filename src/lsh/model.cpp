// The collision-probability model of the families, for the tuner and the adaptive queries.
//   simhash         p(θ) = 1 − θ/π; given the query's projection v = a·q, the function
//                   disagrees with probability Φ(−|v|/‖q‖ · cot θ) (its mean over v is θ/π).
//   pstable         Datar et al.: p(c) = 1 − 2Φ(−w/c) − 2/(√(2π)·w/c)·(1 − e^{−(w/c)²/2});
//                   given the query's fraction φ in its bucket, a·(x − q)/w ~ N(0, (c/w)²)
//                   lands in the same bucket with Φ((1 − φ)/σ) − Φ(−φ/σ), σ = c/w.
//   cross_polytope  simulated: random pairs at angle θ in dimension c through the family's
//                   own rotations; the rank of x's value in the query's multi-probe order,
//                   tabulated on a grid of θ and cached per c.

#include "lsh/lsh_internal.hpp"

#include <lowdim/error.hpp>
#include <lowdim/fwht.hpp>
#include <lowdim/sketch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>

namespace lowdim {
namespace detail {
namespace {

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

CrossPolytopeModel simulate_cross_polytope(std::int64_t c) {
  constexpr int G = CrossPolytopeModel::grid, R = CrossPolytopeModel::ranks;
  constexpr std::int64_t pairs = 48, functions = 16;
  const std::int64_t rows = G * pairs;
  const RandomStream stream(0x4C53'4D4F'4445'4Cull, StreamId::lsh_model);
  auto g = Matrix<double>::uninitialized(2 * rows, c);
  fill_normal<double>(g.view(), stream);
  Matrix<double> q(rows, c), x(rows, c);
  for (std::int64_t i = 0; i < rows; ++i) {
    const double theta = std::numbers::pi * static_cast<double>(i / pairs) / (G - 1);
    const double* a = g.row(2 * i);
    const double* b = g.row(2 * i + 1);
    double aa = 0, ab = 0;
    for (std::int64_t j = 0; j < c; ++j) aa += a[j] * a[j], ab += a[j] * b[j];
    const double na = std::sqrt(aa);
    std::vector<double> u(static_cast<std::size_t>(c));
    double uu = 0;
    for (std::int64_t j = 0; j < c; ++j) {
      u[static_cast<std::size_t>(j)] = b[j] - ab / aa * a[j];
      uu += u[static_cast<std::size_t>(j)] * u[static_cast<std::size_t>(j)];
    }
    const double nu = std::sqrt(uu);
    for (std::int64_t j = 0; j < c; ++j) {
      q(i, j) = a[j] / na;
      x(i, j) = std::cos(theta) * a[j] / na + std::sin(theta) * u[static_cast<std::size_t>(j)] / nu;
    }
  }
  SketchOptions raw;
  raw.jl_scaling = false;
  const SketchOperator rotation(SketchKind::hadamard_rotation, c, functions * c,
                                derived_seed(stream.seed(), StreamId::lsh_model), raw);
  auto yq = Matrix<double>::uninitialized(rows, functions * c);
  auto yx = Matrix<double>::uninitialized(rows, functions * c);
  rotation.apply<double>(q, yq.view());
  rotation.apply<double>(x, yx.view());
  std::vector<double> counts(static_cast<std::size_t>(R * G), 0.0);
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto gi = i / pairs;
    for (std::int64_t f = 0; f < functions; ++f) {
      const double* y = yq.row(i) + f * c;
      const double* z = yx.row(i) + f * c;
      const std::int64_t hq = hash_value(LshFamily::cross_polytope, y, c);
      const std::int64_t hx = hash_value(LshFamily::cross_polytope, z, c);
      std::int64_t rank = 0;
      if (hx != hq) {
        const double top = std::abs(y[hq / 2]);
        auto cost = [&](std::int64_t v) {
          const double s = (v & 1) ? -y[v / 2] : y[v / 2];
          return (top - s) * (top - s);
        };
        const double cx = cost(hx);
        rank = 1;
        for (std::int64_t v = 0; v < 2 * c; ++v) {
          if (v == hq || v == hx) continue;
          const double cv = cost(v);
          if (cv < cx || (cv == cx && v < hx)) ++rank;
        }
      }
      counts[static_cast<std::size_t>(std::min<std::int64_t>(rank, R - 1) * G + gi)] += 1;
    }
  }
  CrossPolytopeModel m;
  m.probability.resize(counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i) m.probability[i] = counts[i] / static_cast<double>(pairs * functions);
  return m;
}

}  // namespace

double CrossPolytopeModel::at(std::int64_t rank, double theta) const {
  const auto r = static_cast<std::size_t>(std::clamp<std::int64_t>(rank, 0, ranks - 1));
  const double t = std::clamp(theta / std::numbers::pi, 0.0, 1.0) * (grid - 1);
  const auto g = std::min<std::size_t>(static_cast<std::size_t>(t), grid - 2);
  const double f = t - static_cast<double>(g);
  return (1 - f) * probability[r * grid + g] + f * probability[r * grid + g + 1];
}

const CrossPolytopeModel& cross_polytope_model(std::int64_t c) {
  static std::mutex mutex;
  static std::map<std::int64_t, std::unique_ptr<CrossPolytopeModel>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[c];
  if (!slot) slot = std::make_unique<CrossPolytopeModel>(simulate_cross_polytope(c));
  return *slot;
}

template <class T>
void ProbeModel::reset(LshFamily family, const T* p, const std::int64_t* h, std::int64_t tables, std::int64_t hashes,
                       std::int64_t width, double qnorm, double bucket_width, std::int64_t cp_dim) {
  family_ = family;
  tables_ = tables;
  hashes_ = hashes;
  qnorm_ = qnorm;
  bucket_width_ = bucket_width;
  const std::int64_t m = tables * hashes;
  position_.resize(static_cast<std::size_t>(m));
  if (family == LshFamily::simhash) {
    for (std::int64_t j = 0; j < m; ++j)
      position_[static_cast<std::size_t>(j)] = qnorm > 0 ? std::abs(static_cast<double>(p[j])) / qnorm : 0.0;
  } else if (family == LshFamily::pstable) {
    values_.assign(h, h + m);
    for (std::int64_t j = 0; j < m; ++j) position_[static_cast<std::size_t>(j)] = static_cast<double>(p[j]) - static_cast<double>(h[j]);
  } else {
    cp_ = &cross_polytope_model(cp_dim);
  }
  (void)width;
  own_.resize(static_cast<std::size_t>(m));
  left_.resize(static_cast<std::size_t>(m));
  right_.resize(static_cast<std::size_t>(m));
  table_own_.resize(static_cast<std::size_t>(tables));
  mass_.resize(static_cast<std::size_t>(tables));
}

void ProbeModel::set_parameter(double s) {
  const std::int64_t m = tables_ * hashes_;
  if (family_ == LshFamily::simhash) {
    const double theta = std::clamp(s, 0.0, std::numbers::pi);
    const double st = std::sin(theta), ct = std::cos(theta);
    for (std::int64_t j = 0; j < m; ++j) {
      const auto u = static_cast<std::size_t>(j);
      double f;  // P(the function disagrees)
      if (st <= 0) f = ct > 0 ? 0.0 : 1.0;
      else if (qnorm_ <= 0) f = 0.5;
      else f = normal_cdf(-position_[u] * ct / st);
      own_[u] = 1 - f;
      left_[u] = right_[u] = f;
    }
  } else if (family_ == LshFamily::pstable) {
    const double sigma = std::max(s, 0.0) / bucket_width_;
    for (std::int64_t j = 0; j < m; ++j) {
      const auto u = static_cast<std::size_t>(j);
      const double phi = position_[u];
      if (sigma <= 0) {
        own_[u] = 1;
        left_[u] = right_[u] = 0;
        continue;
      }
      const double a = normal_cdf(-phi / sigma), b = normal_cdf((1 - phi) / sigma);
      own_[u] = b - a;
      left_[u] = a - normal_cdf((-1 - phi) / sigma);
      right_[u] = normal_cdf((2 - phi) / sigma) - b;
    }
  } else {
    rank_.resize(CrossPolytopeModel::ranks);
    for (std::int64_t r = 0; r < CrossPolytopeModel::ranks; ++r) rank_[static_cast<std::size_t>(r)] = cp_->at(r, s);
    std::fill(own_.begin(), own_.end(), rank_[0]);
  }
  for (std::int64_t t = 0; t < tables_; ++t) {
    double product = 1;
    for (std::int64_t j = 0; j < hashes_; ++j) product *= own_[static_cast<std::size_t>(t * hashes_ + j)];
    table_own_[static_cast<std::size_t>(t)] = product;
  }
}

double ProbeModel::alternative(const Perturbation& pert, std::size_t j) const {
  if (family_ == LshFamily::cross_polytope)
    return rank_[static_cast<std::size_t>(std::min<std::int32_t>(pert.rank, CrossPolytopeModel::ranks - 1))];
  if (family_ == LshFamily::pstable) return pert.value < values_[j] ? left_[j] : right_[j];
  return left_[j];
}

double ProbeModel::probability(const ProbeSequence::Probe& probe,
                               const std::vector<std::vector<Perturbation>>& perturbations) const {
  const auto t = static_cast<std::size_t>(probe.table);
  const auto& list = perturbations[t];
  const auto first = static_cast<std::size_t>(probe.table * hashes_);
  double p = table_own_[t];
  if (p > 0) {
    for (std::uint64_t set = probe.set; set != 0; set &= set - 1) {
      const Perturbation& pert = list[static_cast<std::size_t>(std::countr_zero(set))];
      const std::size_t j = first + static_cast<std::size_t>(pert.function);
      p *= alternative(pert, j) / own_[j];
    }
    return p;
  }
  // A function cannot keep its value: the product over the functions, perturbed ones replaced.
  std::uint64_t changed = 0;
  p = 1;
  for (std::uint64_t set = probe.set; set != 0; set &= set - 1) {
    const Perturbation& pert = list[static_cast<std::size_t>(std::countr_zero(set))];
    changed |= 1ull << pert.function;
    p *= alternative(pert, first + static_cast<std::size_t>(pert.function));
  }
  for (std::int64_t j = 0; j < hashes_; ++j)
    if (!(changed >> j & 1u)) p *= own_[first + static_cast<std::size_t>(j)];
  return p;
}

double ProbeModel::found_probability(double s, const std::vector<ProbeSequence::Probe>& probes,
                                     const std::vector<std::vector<Perturbation>>& perturbations) {
  set_parameter(s);
  std::fill(mass_.begin(), mass_.end(), 0.0);
  for (const auto& probe : probes) mass_[static_cast<std::size_t>(probe.table)] += probability(probe, perturbations);
  double missed = 1;
  for (const double m : mass_) missed *= 1 - std::min(1.0, m);
  return 1 - missed;
}

template LOWDIM_API void ProbeModel::reset<float>(LshFamily, const float*, const std::int64_t*, std::int64_t, std::int64_t,
                                       std::int64_t, double, double, std::int64_t);
template LOWDIM_API void ProbeModel::reset<double>(LshFamily, const double*, const std::int64_t*, std::int64_t, std::int64_t,
                                        std::int64_t, double, double, std::int64_t);

}  // namespace detail

double lsh_collision_probability(LshFamily family, double s, const LshFamilyOptions& options) {
  LOWDIM_CHECK(std::isfinite(s) && s >= 0, "lsh_collision_probability: the angle or distance must be finite and ≥ 0, got {}", s);
  if (family == LshFamily::simhash) return 1 - std::min(s, std::numbers::pi) / std::numbers::pi;
  if (family == LshFamily::pstable) {
    LOWDIM_CHECK(options.width > 0 && std::isfinite(options.width),
                 "lsh_collision_probability: pstable needs a width w > 0, got {}", options.width);
    if (s == 0) return 1.0;
    const double r = options.width / s;
    return 1 - 2 * detail::normal_cdf(-r) - 2 / (std::sqrt(2 * std::numbers::pi) * r) * (1 - std::exp(-r * r / 2));
  }
  LOWDIM_CHECK(options.cp_dim >= 2 && is_power_of_two(options.cp_dim) && options.cp_dim <= 4096,
               "lsh_collision_probability: cross_polytope needs cp_dim a power of two in [2, 4096], got {}", options.cp_dim);
  return detail::cross_polytope_model(options.cp_dim).at(0, s);
}

}  // namespace lowdim
