#include <lowdim/error.hpp>
#include <lowdim/version.hpp>

#include <cstdio>
#include <cstdlib>

namespace lowdim {

// Out-of-line destructors anchor the vtables and type_info in liblowdim.so,
// so exceptions are caught by type across the library boundary.
error::error(const std::string& message) : std::runtime_error(message) {}
error::~error() = default;
invalid_argument::~invalid_argument() = default;
dimension_mismatch::~dimension_mismatch() = default;
io_error::~io_error() = default;
numerical_error::~numerical_error() = default;

namespace detail {
void assert_fail(const char* condition, const char* file, int line) noexcept {
  std::fprintf(stderr, "lowdim: internal error: assertion '%s' failed at %s:%d\n", condition, file, line);
  std::abort();
}
}  // namespace detail

#define LOWDIM_STRINGIFY2(x) #x
#define LOWDIM_STRINGIFY(x) LOWDIM_STRINGIFY2(x)
const char* version() noexcept {
  return LOWDIM_STRINGIFY(LOWDIM_VERSION_MAJOR) "." LOWDIM_STRINGIFY(LOWDIM_VERSION_MINOR) "." LOWDIM_STRINGIFY(
      LOWDIM_VERSION_PATCH);
}

}  // namespace lowdim
