// Shared by the C front end's files (c_api.cpp and one file per module): the exception
// barrier and the validated views. Internal; not installed.
#ifndef LOWDIM_C_API_COMMON_HPP
#define LOWDIM_C_API_COMMON_HPP

#include <lowdim/c/lowdim.h>
#include <lowdim/error.hpp>
#include <lowdim/matrix.hpp>

#include <new>
#include <string>

namespace lowdim::c_api {

inline thread_local std::string last_error;

template <class Fn>
int guarded(Fn&& fn) noexcept {
  try {
    last_error.clear();
    fn();
    return LOWDIM_OK;
  } catch (const lowdim::dimension_mismatch& e) {
    last_error = e.what();
    return LOWDIM_ERROR_DIMENSION_MISMATCH;
  } catch (const lowdim::invalid_argument& e) {
    last_error = e.what();
    return LOWDIM_ERROR_INVALID_ARGUMENT;
  } catch (const lowdim::io_error& e) {
    last_error = e.what();
    return LOWDIM_ERROR_IO;
  } catch (const lowdim::numerical_error& e) {
    last_error = e.what();
    return LOWDIM_ERROR_NUMERICAL;
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
    return LOWDIM_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    last_error = std::string("internal error: ") + e.what();
    return LOWDIM_ERROR_INTERNAL;
  } catch (...) {
    last_error = "internal error: unknown exception";
    return LOWDIM_ERROR_INTERNAL;
  }
}

inline void require(const void* pointer, const char* function, const char* name) {
  LOWDIM_CHECK(pointer != nullptr, "{}: {} is NULL", function, name);
}

// A read-only n × d view with row stride ld, validated.
template <class T>
lowdim::ConstMatrixView<T> in_view(const T* data, std::int64_t n, std::int64_t d, std::int64_t ld,
                                   const char* function, const char* name) {
  require(data, function, name);
  LOWDIM_CHECK(n >= 0 && d >= 0, "{}: {} has negative shape {} x {}", function, name, n, d);
  LOWDIM_CHECK(ld >= d, "{}: row stride of {} is {}, smaller than its {} columns", function, name, ld, d);
  return lowdim::ConstMatrixView<T>(data, n, d, ld);
}
template <class T>
lowdim::MatrixView<T> out_view(T* data, std::int64_t n, std::int64_t d, std::int64_t ld, const char* function,
                               const char* name) {
  require(data, function, name);
  LOWDIM_CHECK(ld >= d, "{}: row stride of {} is {}, smaller than its {} columns", function, name, ld, d);
  return lowdim::MatrixView<T>(data, n, d, ld);
}

}  // namespace lowdim::c_api

#endif
