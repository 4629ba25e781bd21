// Shared by the extension's files (lowdim_python.cpp and python/bind_<module>.cpp): the array
// caster that takes array-likes, the zero-copy input views, output arrays, dtype dispatch and
// the registry of module binders. Internal; not installed.
#ifndef LOWDIM_PYTHON_COMMON_HPP
#define LOWDIM_PYTHON_COMMON_HPP

#include <lowdim/matrix.hpp>
#include <lowdim/error.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace py = pybind11;

namespace pybind11::detail {
// Every array parameter takes what NumPy's asarray takes — lists, tuples, memoryviews, pandas
// frames — as scikit-learn's functions do; pybind11's own caster for py::array refuses
// anything that is not already an ndarray. An ndarray passes through untouched (no copy).
template <>
struct type_caster<array> {
  PYBIND11_TYPE_CASTER(array, const_name("numpy.typing.ArrayLike"));
  bool load(handle src, bool convert) {
    if (isinstance<array>(src)) {
      value = reinterpret_borrow<array>(src);
      return true;
    }
    if (!convert) return false;
    array converted = array::ensure(src);
    if (!converted) {
      PyErr_Clear();
      return false;
    }
    value = std::move(converted);
    return true;
  }
  static handle cast(const handle& src, return_value_policy, handle) { return src.inc_ref(); }
};
}  // namespace pybind11::detail

namespace lowdim::python {

// A NumPy array viewed as an n × d row-major matrix, without a copy when the
// dtype is T and the elements of a row are contiguous (any row stride);
// otherwise a C-contiguous copy is made and held by `keep`. Rows are samples,
// so a 1-D array of d values is one sample (1 × d).
template <class T>
struct Input {
  py::array_t<T> keep;
  ConstMatrixView<T> view;
};

template <class T>
Input<T> as_input(const py::array& array, const char* name) {
  LOWDIM_CHECK(array.ndim() == 1 || array.ndim() == 2, "{}: expected a 1-D or 2-D array, got {} dimensions", name,
               array.ndim());
  py::array_t<T> typed = py::array_t<T>::ensure(array);  // no copy when the dtype already is T
  LOWDIM_CHECK(typed, "{}: cannot convert the array to {}", name, sizeof(T) == 4 ? "float32" : "float64");
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if (typed.ndim() == 1) typed = typed.reshape({py::ssize_t{1}, typed.shape(0)});
  const bool rows_contiguous = typed.shape(1) <= 1 || typed.strides(1) == item;
  const bool stride_ok = typed.strides(0) % item == 0 && typed.strides(0) / item >= typed.shape(1);
  if (!rows_contiguous || !stride_ok) {
    typed = py::array_t<T, py::array::c_style>::ensure(typed);
  }
  const std::int64_t rows = typed.shape(0), cols = typed.shape(1);
  const std::int64_t stride = rows <= 1 ? cols : static_cast<std::int64_t>(typed.strides(0) / item);
  return {typed, ConstMatrixView<T>(typed.data(), rows, cols, std::max(stride, cols))};
}

template <class T>
py::array_t<T> new_array(std::int64_t rows, std::int64_t cols) {
  return py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
}
template <class T>
MatrixView<T> as_output(py::array_t<T>& array) {
  return MatrixView<T>(array.mutable_data(), array.shape(0), array.shape(1));
}
template <class T>
py::array_t<T> to_numpy(const Matrix<T>& m) {
  auto out = new_array<T>(m.rows(), m.cols());
  as_output(out).copy_from(m.cview());
  return out;
}
template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}
template <class T>
py::array_t<double> to_numpy(std::span<const T> v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

inline bool is_float32(const py::array& a) { return a.dtype().is(py::dtype::of<float>()); }

// Runs fn<float> or fn<double> by the array's dtype.
template <class Fn>
auto by_dtype(const py::array& a, Fn&& fn) -> decltype(fn.template operator()<double>()) {
  if (is_float32(a)) return fn.template operator()<float>();
  return fn.template operator()<double>();
}

/// The module's parts: each binds its names into the module, registered from its own file
/// (python/bind_<module>.cpp), so that a new module touches no other file. Called in
/// registration order after the core names, exceptions included, are bound.
using Binder = void (*)(py::module_& m);
inline std::vector<Binder>& binders() {
  static std::vector<Binder> all;
  return all;
}
struct RegisterBinder {
  explicit RegisterBinder(Binder b) { binders().push_back(b); }
};

}  // namespace lowdim::python

#endif
