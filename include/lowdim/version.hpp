#ifndef LOWDIM_VERSION_HPP
#define LOWDIM_VERSION_HPP

/// \file
/// The single source of truth for the version; CMake reads these lines.

/// Major version: changes break the API or the ABI.
#define LOWDIM_VERSION_MAJOR 0
/// Minor version: additions.
#define LOWDIM_VERSION_MINOR 1
/// Patch version: fixes.
#define LOWDIM_VERSION_PATCH 0

#include <lowdim/export.hpp>

namespace lowdim {

/// The version of the library that is linked (may differ from the headers).
LOWDIM_API const char* version() noexcept;

}  // namespace lowdim

#endif
