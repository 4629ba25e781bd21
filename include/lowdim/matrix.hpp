#ifndef LOWDIM_MATRIX_HPP
#define LOWDIM_MATRIX_HPP

/// \file
/// Dense row-major matrices. Rows are samples: n points in d dimensions are n × d.
///   Matrix<T>           owns a 64-byte aligned buffer (stride == cols); move-only.
///   MatrixView<T>       non-owning, mutable, with a row stride (elements between rows).
///   ConstMatrixView<T>  non-owning, read-only.
/// Nothing here copies data behind the caller's back: copies are explicit (clone, copy_from).

#include <lowdim/error.hpp>
#include <lowdim/export.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace lowdim {

template <class T>
/// A read-only, non-owning rows × cols view of row-major data whose rows are stride() elements apart.
class ConstMatrixView {
 public:
  ConstMatrixView() = default;
  /// rows × cols at data, rows stride elements apart (stride defaults to cols).
  ConstMatrixView(const T* data, std::int64_t rows, std::int64_t cols, std::int64_t stride = -1)
      : data_(data), rows_(rows), cols_(cols), stride_(stride < 0 ? cols : stride) {
    LOWDIM_CHECK(rows >= 0 && cols >= 0, "matrix view: negative shape {} x {}", rows, cols);
    LOWDIM_CHECK(stride_ >= cols, "matrix view: stride {} is smaller than cols {}", stride_, cols);
  }

  const T* data() const noexcept { return data_; }  ///< The first element.
  std::int64_t rows() const noexcept { return rows_; }  ///< Number of rows.
  std::int64_t cols() const noexcept { return cols_; }  ///< Number of columns.
  /// Elements between the starts of consecutive rows (≥ cols()).
  std::int64_t stride() const noexcept { return stride_; }
  std::int64_t size() const noexcept { return rows_ * cols_; }  ///< rows() · cols().
  bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }  ///< True when the view has no element.
  /// True when the rows follow each other without gaps.
  bool contiguous() const noexcept { return stride_ == cols_ || rows_ <= 1; }

  /// Element (i, j); unchecked.
  const T& operator()(std::int64_t i, std::int64_t j) const noexcept { return data_[i * stride_ + j]; }
  /// The first element of row i; unchecked.
  const T* row(std::int64_t i) const noexcept { return data_ + i * stride_; }
  /// Row i as a span of cols() elements; unchecked.
  std::span<const T> row_span(std::int64_t i) const noexcept {
    return {row(i), static_cast<std::size_t>(cols_)};
  }

  /// The nr × nc block whose top-left element is (r0, c0).
  ConstMatrixView block(std::int64_t r0, std::int64_t c0, std::int64_t nr, std::int64_t nc) const {
    LOWDIM_CHECK(r0 >= 0 && c0 >= 0 && nr >= 0 && nc >= 0 && r0 + nr <= rows_ && c0 + nc <= cols_,
                 "matrix block: [{}, {}) x [{}, {}) is outside a {} x {} matrix", r0, r0 + nr, c0, c0 + nc,
                 rows_, cols_);
    return ConstMatrixView(data_ + r0 * stride_ + c0, nr, nc, stride_);
  }
  /// Rows [r0, r0 + nr), all columns.
  ConstMatrixView row_block(std::int64_t r0, std::int64_t nr) const { return block(r0, 0, nr, cols_); }

 private:
  const T* data_ = nullptr;
  std::int64_t rows_ = 0, cols_ = 0, stride_ = 0;
};

template <class T>
/// A mutable, non-owning rows × cols view of row-major data whose rows are stride() elements apart.
class MatrixView {
 public:
  MatrixView() = default;
  /// rows × cols at data, rows stride elements apart (stride defaults to cols).
  MatrixView(T* data, std::int64_t rows, std::int64_t cols, std::int64_t stride = -1)
      : data_(data), rows_(rows), cols_(cols), stride_(stride < 0 ? cols : stride) {
    LOWDIM_CHECK(rows >= 0 && cols >= 0, "matrix view: negative shape {} x {}", rows, cols);
    LOWDIM_CHECK(stride_ >= cols, "matrix view: stride {} is smaller than cols {}", stride_, cols);
  }

  T* data() const noexcept { return data_; }  ///< The first element.
  std::int64_t rows() const noexcept { return rows_; }  ///< Number of rows.
  std::int64_t cols() const noexcept { return cols_; }  ///< Number of columns.
  /// Elements between the starts of consecutive rows (≥ cols()).
  std::int64_t stride() const noexcept { return stride_; }
  std::int64_t size() const noexcept { return rows_ * cols_; }  ///< rows() · cols().
  bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }  ///< True when the view has no element.
  /// True when the rows follow each other without gaps.
  bool contiguous() const noexcept { return stride_ == cols_ || rows_ <= 1; }

  /// Element (i, j); unchecked.
  T& operator()(std::int64_t i, std::int64_t j) const noexcept { return data_[i * stride_ + j]; }
  /// The first element of row i; unchecked.
  T* row(std::int64_t i) const noexcept { return data_ + i * stride_; }
  /// Row i as a span of cols() elements; unchecked.
  std::span<T> row_span(std::int64_t i) const noexcept { return {row(i), static_cast<std::size_t>(cols_)}; }

  /// The nr × nc block whose top-left element is (r0, c0).
  MatrixView block(std::int64_t r0, std::int64_t c0, std::int64_t nr, std::int64_t nc) const {
    LOWDIM_CHECK(r0 >= 0 && c0 >= 0 && nr >= 0 && nc >= 0 && r0 + nr <= rows_ && c0 + nc <= cols_,
                 "matrix block: [{}, {}) x [{}, {}) is outside a {} x {} matrix", r0, r0 + nr, c0, c0 + nc,
                 rows_, cols_);
    return MatrixView(data_ + r0 * stride_ + c0, nr, nc, stride_);
  }
  /// Rows [r0, r0 + nr), all columns.
  MatrixView row_block(std::int64_t r0, std::int64_t nr) const { return block(r0, 0, nr, cols_); }

  /// A read-only view of the same elements.
  operator ConstMatrixView<T>() const noexcept {  // NOLINT: views convert like pointers do
    return ConstMatrixView<T>(data_, rows_, cols_, stride_);
  }
  ConstMatrixView<T> as_const() const noexcept { return *this; }  ///< A read-only view of the same elements.

  /// Sets every element to value.
  void fill(T value) const {
    for (std::int64_t i = 0; i < rows_; ++i) std::fill_n(row(i), cols_, value);
  }
  /// Element-wise copy of a view of the same shape.
  void copy_from(ConstMatrixView<T> source) const {
    LOWDIM_CHECK_SHAPE(source.rows() == rows_ && source.cols() == cols_,
                       "matrix copy: source is {} x {}, destination is {} x {}", source.rows(), source.cols(),
                       rows_, cols_);
    for (std::int64_t i = 0; i < rows_; ++i) std::copy_n(source.row(i), cols_, row(i));
  }

 private:
  T* data_ = nullptr;
  std::int64_t rows_ = 0, cols_ = 0, stride_ = 0;
};

/// Asks the kernel (Linux) to back a large fresh buffer (≥ 4 MiB, not yet touched) with
/// transparent huge pages, as numpy does: first touching it then takes 512× fewer page faults
/// (4 KiB faults cost up to 3 ms per MB on a VM). A hint only; a no-op elsewhere.
LOWDIM_API void hint_huge_pages(void* data, std::size_t bytes) noexcept;

/// Owning, 64-byte aligned, row-major rows × cols matrix. Move-only; clone() copies.
template <class T>
class Matrix {
  static_assert(std::is_trivially_copyable_v<T>, "Matrix<T> holds trivially copyable numbers");

 public:
  static constexpr std::size_t alignment = 64;  ///< Byte alignment of the buffer.

  Matrix() = default;
  /// A zero-filled rows × cols matrix.
  Matrix(std::int64_t rows, std::int64_t cols) : Matrix(uninitialized(rows, cols)) {
    if (size() > 0) std::memset(data_, 0, static_cast<std::size_t>(size()) * sizeof(T));
  }
  /// A rows × cols matrix whose elements are left unset (for buffers about to be overwritten).
  /// Buffers of 4 MiB and more are backed by transparent huge pages where the kernel allows.
  static Matrix uninitialized(std::int64_t rows, std::int64_t cols) {
    LOWDIM_CHECK(rows >= 0 && cols >= 0, "matrix: negative shape {} x {}", rows, cols);
    LOWDIM_CHECK(cols == 0 || rows <= INT64_MAX / static_cast<std::int64_t>(sizeof(T)) / cols,
                 "matrix: shape {} x {} overflows the address space", rows, cols);
    Matrix m;
    m.rows_ = rows;
    m.cols_ = cols;
    const std::size_t bytes = static_cast<std::size_t>(rows * cols) * sizeof(T);
    if (bytes > 0) {
      const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
      m.data_ = static_cast<T*>(std::aligned_alloc(alignment, rounded));
      if (m.data_ == nullptr) throw std::bad_alloc();
      hint_huge_pages(m.data_, bytes);
    }
    return m;
  }
  /// An explicit copy of any view.
  static Matrix copy_of(ConstMatrixView<T> source) {
    Matrix m = uninitialized(source.rows(), source.cols());
    m.view().copy_from(source);
    return m;
  }

  Matrix(Matrix&& other) noexcept  ///< Takes other's buffer; other is left empty.
      : data_(std::exchange(other.data_, nullptr)),
        rows_(std::exchange(other.rows_, 0)),
        cols_(std::exchange(other.cols_, 0)) {}
  /// Takes other's buffer, freeing this one's; other is left empty.
  Matrix& operator=(Matrix&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      rows_ = std::exchange(other.rows_, 0);
      cols_ = std::exchange(other.cols_, 0);
    }
    return *this;
  }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
  ~Matrix() { std::free(data_); }

  Matrix clone() const { return copy_of(cview()); }  ///< An element-wise copy.

  T* data() noexcept { return data_; }  ///< The first element.
  const T* data() const noexcept { return data_; }  ///< The first element.
  std::int64_t rows() const noexcept { return rows_; }  ///< Number of rows.
  std::int64_t cols() const noexcept { return cols_; }  ///< Number of columns.
  std::int64_t stride() const noexcept { return cols_; }  ///< Elements between rows: always cols().
  std::int64_t size() const noexcept { return rows_ * cols_; }  ///< rows() · cols().
  bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }  ///< True when the matrix has no element.

  /// Element (i, j); unchecked.
  T& operator()(std::int64_t i, std::int64_t j) noexcept { return data_[i * cols_ + j]; }
  /// Element (i, j); unchecked.
  const T& operator()(std::int64_t i, std::int64_t j) const noexcept { return data_[i * cols_ + j]; }
  T* row(std::int64_t i) noexcept { return data_ + i * cols_; }  ///< The first element of row i; unchecked.
  /// The first element of row i; unchecked.
  const T* row(std::int64_t i) const noexcept { return data_ + i * cols_; }
  /// All elements, row after row.
  std::span<T> flat() noexcept { return {data_, static_cast<std::size_t>(size())}; }
  /// All elements, row after row.
  std::span<const T> flat() const noexcept { return {data_, static_cast<std::size_t>(size())}; }

  /// A mutable view of the whole matrix.
  MatrixView<T> view() noexcept { return MatrixView<T>(data_, rows_, cols_, cols_); }
  ConstMatrixView<T> view() const noexcept { return cview(); }  ///< A read-only view of the whole matrix.
  /// A read-only view of the whole matrix.
  ConstMatrixView<T> cview() const noexcept { return ConstMatrixView<T>(data_, rows_, cols_, cols_); }
  /// A mutable view of the whole matrix.
  operator MatrixView<T>() noexcept { return view(); }             // NOLINT
  /// A read-only view of the whole matrix.
  operator ConstMatrixView<T>() const noexcept { return cview(); }  // NOLINT

  /// The nr × nc block whose top-left element is (r0, c0).
  MatrixView<T> block(std::int64_t r0, std::int64_t c0, std::int64_t nr, std::int64_t nc) {
    return view().block(r0, c0, nr, nc);
  }
  /// The nr × nc block whose top-left element is (r0, c0), read-only.
  ConstMatrixView<T> block(std::int64_t r0, std::int64_t c0, std::int64_t nr, std::int64_t nc) const {
    return cview().block(r0, c0, nr, nc);
  }
  /// Rows [r0, r0 + nr), all columns.
  MatrixView<T> row_block(std::int64_t r0, std::int64_t nr) { return view().row_block(r0, nr); }
  /// Rows [r0, r0 + nr), all columns, read-only.
  ConstMatrixView<T> row_block(std::int64_t r0, std::int64_t nr) const { return cview().row_block(r0, nr); }

 private:
  T* data_ = nullptr;
  std::int64_t rows_ = 0, cols_ = 0;
};

/// Position of a non-finite element (NaN or ±Inf).
struct NonFinite {
  std::int64_t row;  ///< Row of the first non-finite element.
  std::int64_t col;  ///< Column of the first non-finite element.
  double value;  ///< Its value (NaN or ±Inf).
};

/// The first non-finite element in row-major order, if any. O(rows·cols), OpenMP-parallel.
template <class T>
LOWDIM_API std::optional<NonFinite> find_non_finite(ConstMatrixView<T> m);

/// Throws invalid_argument "<context>: non-finite value nan at row 3, column 7" if m holds NaN or Inf.
template <class T>
LOWDIM_API void check_finite(ConstMatrixView<T> m, std::string_view context);

}  // namespace lowdim

#endif
