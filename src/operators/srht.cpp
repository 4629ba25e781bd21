// SRHT: S = √(d'/k)·R·H·D with random signs D (d numbers), the normalised Walsh–Hadamard
// transform H on d zero-padded to d' = 2^⌈log₂ d⌉, and k distinct sampled rows R of it
// (k ≤ d). Each row is padded, signed, transformed in place and gathered: O(d' log d') per
// row. The matrix-free form draws D and R per call (O(d' + k log k)); the cached form keeps
// them.

#include "detail/fwht_kernel.hpp"
#include "detail/operator_kind.hpp"

#include <lowdim/fwht.hpp>
#include <lowdim/random.hpp>

#include <omp.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <mutex>
#include <vector>

namespace lowdim::detail {
namespace {

class Srht final : public Typed<Srht> {
 public:
  Srht(const OperatorDescription& description, bool cached)
      : Typed(description), cached_(cached), padded_(next_power_of_two(description.d)) {}

  double scale() const noexcept override {
    return desc.options.jl_scaling ? 1.0 / std::sqrt(static_cast<double>(desc.k)) : 1.0;
  }
  std::int64_t padded_dim() const noexcept override { return padded_; }
  // Rows of R·H·D with d = d' are distinct rows of an unnormalised Hadamard matrix: S·Sᵀ = d'·scale²·I.
  double gram_scale() const noexcept override {
    return desc.d == padded_ ? static_cast<double>(padded_) * scale() * scale() : 0.0;
  }
  bool cached() const noexcept override { return cached_; }
  std::shared_ptr<const OperatorImpl> materialized() const override {
    return cached_ ? shared_from_this() : std::make_shared<Srht>(desc, true);
  }
  std::int64_t cached_bytes() const noexcept override { return held_bytes_.load(); }

  template <class T>
  bool apply_t(ConstMatrixView<T> x, MatrixView<T> y) const {
    const std::int64_t n = x.rows(), d = desc.d, k = desc.k;
    Draws<T> local;
    const Draws<T>& draws = drawn(local);
    const std::vector<T>& signs = draws.signs;
    const std::vector<std::int64_t>& rows = draws.rows;
    const int threads = omp_get_max_threads();
    auto buffers = Matrix<T>::uninitialized(threads, padded_);
    const T s = static_cast<T>(scale());
#pragma omp parallel for schedule(static) if (n > 1 && n * padded_ > 20000)
    for (std::int64_t r = 0; r < n; ++r) {
      T* __restrict buf = buffers.row(omp_get_thread_num());
      const T* __restrict xr = x.row(r);
      for (std::int64_t j = 0; j < d; ++j) buf[j] = xr[j] * signs[static_cast<std::size_t>(j)];
      std::fill(buf + d, buf + padded_, T(0));
      fwht_row(buf, padded_);
      T* __restrict yr = y.row(r);
      for (std::int64_t t = 0; t < k; ++t) yr[t] = buf[rows[static_cast<std::size_t>(t)]] * s;
    }
    // Every output of the transform sums every input, so a NaN or ±Inf in a row reaches
    // every output of that row: the caller's check of the output finds it.
    return true;
  }

  template <class T>
  void apply_transpose_t(ConstMatrixView<T> y, MatrixView<T> x) const {
    const std::int64_t n = y.rows(), d = desc.d, k = desc.k;
    Draws<T> local;
    const Draws<T>& draws = drawn(local);
    const std::vector<T>& signs = draws.signs;
    const std::vector<std::int64_t>& rows = draws.rows;
    const int threads = omp_get_max_threads();
    auto buffers = Matrix<T>::uninitialized(threads, padded_);
    const T s = static_cast<T>(scale());
#pragma omp parallel for schedule(static) if (n > 1 && n * padded_ > 20000)
    for (std::int64_t r = 0; r < n; ++r) {
      T* __restrict buf = buffers.row(omp_get_thread_num());
      std::fill(buf, buf + padded_, T(0));
      const T* __restrict yr = y.row(r);
      for (std::int64_t t = 0; t < k; ++t) buf[rows[static_cast<std::size_t>(t)]] = yr[t];
      fwht_row(buf, padded_);
      T* __restrict xr = x.row(r);
      for (std::int64_t j = 0; j < d; ++j) xr[j] = buf[j] * signs[static_cast<std::size_t>(j)] * s;
    }
  }

  template <class T>
  void columns_t(std::int64_t first, MatrixView<T> out) const {
    Draws<T> local;
    const Draws<T>& draws = drawn(local);
    const T s = static_cast<T>(scale());
    for (std::int64_t i = 0; i < desc.k; ++i) {
      const auto row = static_cast<std::uint64_t>(draws.rows[static_cast<std::size_t>(i)]);
      for (std::int64_t j = 0; j < out.cols(); ++j) {
        const bool negative = std::popcount(row & static_cast<std::uint64_t>(first + j)) & 1;
        const T v = draws.signs[static_cast<std::size_t>(first + j)] * s;
        out(i, j) = negative ? -v : v;
      }
    }
  }

 private:
  // D and R: from the cache, or drawn into `local` for this call.
  template <class T>
  struct Draws {
    std::vector<T> signs;
    std::vector<std::int64_t> rows;
  };
  template <class T>
  void draw(Draws<T>& out) const {
    Matrix<T> signs(1, desc.d);
    fill_rademacher<T>(signs.view(), RandomStream(desc.seed, StreamId::sketch_srht_signs));
    out.signs.assign(signs.data(), signs.data() + desc.d);
    out.rows = sample_without_replacement(padded_, desc.k, RandomStream(desc.seed, StreamId::sketch_srht_rows));
  }
  template <class T>
  const Draws<T>& drawn(Draws<T>& local) const {
    if (!cached_) {
      draw(local);
      return local;
    }
    if constexpr (sizeof(T) == 4) {
      std::call_once(float_once_, [&] {
        draw(float_draws_);
        held_bytes_ += desc.d * static_cast<std::int64_t>(sizeof(float)) + desc.k * 8;
      });
      return float_draws_;
    } else {
      std::call_once(double_once_, [&] {
        draw(double_draws_);
        held_bytes_ += desc.d * static_cast<std::int64_t>(sizeof(double)) + desc.k * 8;
      });
      return double_draws_;
    }
  }

  bool cached_;
  std::int64_t padded_;
  mutable std::once_flag float_once_, double_once_;
  mutable Draws<float> float_draws_;
  mutable Draws<double> double_draws_;
  mutable std::atomic<std::int64_t> held_bytes_{0};
};

std::string check_srht(const OperatorDescription& description) {
  if (description.k > description.d)
    return fmt::format("sketch srht: output dimension k = {} exceeds the input dimension d = {}", description.k,
                       description.d);
  return {};
}

std::shared_ptr<const OperatorImpl> make_srht(const OperatorDescription& description) {
  return std::make_shared<Srht>(description, false);
}

}  // namespace

const OperatorKindEntry srht_entry{"srht", "subsampled randomized Hadamard transform √(d'/k)·R·H·D (k ≤ d)", 0,
                                   check_srht, make_srht};

}  // namespace lowdim::detail
