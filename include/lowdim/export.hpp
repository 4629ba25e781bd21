#ifndef LOWDIM_EXPORT_HPP
#define LOWDIM_EXPORT_HPP

// liblowdim.so is built with hidden visibility; LOWDIM_API marks what it exports.
#if defined(_WIN32)
#  if defined(LOWDIM_BUILDING_LIBRARY)
#    define LOWDIM_API __declspec(dllexport)
#  else
#    define LOWDIM_API __declspec(dllimport)
#  endif
#else
#  define LOWDIM_API __attribute__((visibility("default")))
#endif

#endif
