#ifndef LOWDIM_ERROR_HPP
#define LOWDIM_ERROR_HPP

/// \file
/// The exception hierarchy and the one checking macro. Messages name the
/// function and the offending values: "rsvd: rank 600 exceeds min(rows, cols) = 500".

#include <lowdim/export.hpp>

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace lowdim {

/// Base of every exception lowdim throws for a user error or a failed computation.
class LOWDIM_API error : public std::runtime_error {
 public:
  /// An exception carrying message, which names the function and the offending values.
  explicit error(const std::string& message);
  ~error() override;
};

/// An argument has a value the function cannot accept (k <= 0, eps outside (0, 1), NaN input).
class LOWDIM_API invalid_argument : public error {
 public:
  using error::error;
  ~invalid_argument() override;
};

/// Shapes of arguments do not fit together (a special case of invalid_argument).
class LOWDIM_API dimension_mismatch : public invalid_argument {
 public:
  using invalid_argument::invalid_argument;
  ~dimension_mismatch() override;
};

/// A file cannot be opened, read, parsed or written.
class LOWDIM_API io_error : public error {
 public:
  using error::error;
  ~io_error() override;
};

/// A numerical routine failed (LAPACK info != 0, a matrix that is not positive definite).
class LOWDIM_API numerical_error : public error {
 public:
  using error::error;
  ~numerical_error() override;
};

namespace detail {
template <class Exception, class... Args>
[[noreturn]] void throw_error(fmt::format_string<Args...> format, Args&&... args) {
  throw Exception(fmt::format(format, std::forward<Args>(args)...));
}
[[noreturn]] LOWDIM_API void assert_fail(const char* condition, const char* file, int line) noexcept;
}  // namespace detail

}  // namespace lowdim

/// Throws lowdim::invalid_argument with a fmt-formatted message unless cond holds.
#define LOWDIM_CHECK(cond, ...)                                                       \
  do {                                                                                \
    if (!(cond)) [[unlikely]]                                                         \
      ::lowdim::detail::throw_error<::lowdim::invalid_argument>(__VA_ARGS__);         \
  } while (false)

/// As LOWDIM_CHECK, for shapes that do not fit together (lowdim::dimension_mismatch).
#define LOWDIM_CHECK_SHAPE(cond, ...)                                                 \
  do {                                                                                \
    if (!(cond)) [[unlikely]]                                                         \
      ::lowdim::detail::throw_error<::lowdim::dimension_mismatch>(__VA_ARGS__);       \
  } while (false)

/// Throws the named lowdim exception type with a fmt-formatted message.
#define LOWDIM_THROW(ExceptionType, ...) ::lowdim::detail::throw_error<ExceptionType>(__VA_ARGS__)

/// Internal invariant (never the path for bad user input): aborts with the location.
#define LOWDIM_ASSERT(cond)                                                           \
  do {                                                                                \
    if (!(cond)) [[unlikely]]                                                         \
      ::lowdim::detail::assert_fail(#cond, __FILE__, __LINE__);                       \
  } while (false)

#endif
