#ifndef LOWDIM_DETAIL_DENSE_OPERATOR_HPP
#define LOWDIM_DETAIL_DENSE_OPERATOR_HPP

// The dense operators (gaussian, dense rademacher, orthogonal, simplex): S applied through
// the dense kernel from the raw Sᵀ (d × k, unscaled), which a kind produces by row blocks.
//   matrix-free  Sᵀ is generated in blocks of rows [j0, j0 + b) per call, each block one
//                packed product accumulating into y; memory O(b·k).
//   cached       Sᵀ is packed once per type (inner = d), so a call is one packed product.
// Every output element is one fma chain over j = 0 … d − 1 in order either way (the kernel
// continues a chain across blocks exactly), then one multiplication by the scale: the
// two forms, any row chunking and any thread count give the same bits.

#include "detail/operator_kind.hpp"

#include <lowdim/random.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace lowdim::detail {

class DenseOperator : public Typed<DenseOperator> {
 public:
  DenseOperator(const OperatorDescription& description, bool cached, double scale)
      : Typed(description), cached_(cached), scale_(scale) {}

  double scale() const noexcept override { return scale_; }
  bool cached() const noexcept override { return cached_; }
  std::shared_ptr<const OperatorImpl> materialized() const override;
  std::int64_t cached_bytes() const noexcept override;

  /// Rows [j0, j0 + out.rows()) of the raw Sᵀ into out (rows × k).
  virtual void generate(MatrixView<float> out, std::int64_t j0) const = 0;
  virtual void generate(MatrixView<double> out, std::int64_t j0) const = 0;
  /// The same operator in cached form (a new object of the derived kind).
  virtual std::shared_ptr<const OperatorImpl> make_cached() const = 0;

  template <class T>
  bool apply_t(ConstMatrixView<T> x, MatrixView<T> y) const;
  template <class T>
  void apply_transpose_t(ConstMatrixView<T> y, MatrixView<T> x) const;
  template <class T>
  void columns_t(std::int64_t first, MatrixView<T> out) const;

 private:
  template <class T>
  struct Packed {
    std::once_flag forward_once, transposed_once;
    std::vector<T> forward;     // Sᵀ packed as inner = d, n = k
    std::vector<T> transposed;  // S packed as inner = k, n = d
  };
  template <class T>
  Packed<T>& packed() const {
    if constexpr (sizeof(T) == 4) {
      return packed_float_;
    } else {
      return packed_double_;
    }
  }
  template <class T>
  const std::vector<T>& forward() const;
  template <class T>
  const std::vector<T>& transposed() const;
  /// Rows of Sᵀ generated per block when matrix-free.
  std::int64_t block_rows() const noexcept;

  bool cached_;
  double scale_;
  mutable std::atomic<std::int64_t> held_bytes_{0};
  mutable Packed<float> packed_float_;
  mutable Packed<double> packed_double_;
};

/// Orthogonal-family helper: the Haar-distributed Q (d × cols, orthonormal columns) of the
/// thin QR of a d × cols Gaussian drawn from (seed, stream) at offset `first`, signs fixed so
/// that R has a positive diagonal. Single-threaded LAPACK (same bits on any thread count).
Matrix<double> haar_columns(std::int64_t d, std::int64_t cols, std::uint64_t seed, StreamId stream, std::uint64_t first);

}  // namespace lowdim::detail

#endif
