#ifndef LOWDIM_VERSION_HPP
#define LOWDIM_VERSION_HPP

// The single source of truth for the version; CMake reads these lines.
#define LOWDIM_VERSION_MAJOR 0
#define LOWDIM_VERSION_MINOR 1
#define LOWDIM_VERSION_PATCH 0

#include <lowdim/export.hpp>

namespace lowdim {

/// The version of the library that is linked (may differ from the headers).
LOWDIM_API const char* version() noexcept;

}  // namespace lowdim

#endif
