#ifndef LOWDIM_EXPORT_HPP
#define LOWDIM_EXPORT_HPP

/// \file
/// liblowdim.so is built with hidden visibility; LOWDIM_API marks what it exports.
#if defined(_WIN32)
#  if defined(LOWDIM_BUILDING_LIBRARY)
#    define LOWDIM_API __declspec(dllexport)
#  else
#    define LOWDIM_API __declspec(dllimport)
#  endif
#else
/// Marks a name exported from liblowdim (default visibility; dllexport/dllimport on Windows).
#  define LOWDIM_API __attribute__((visibility("default")))
#endif

#endif
