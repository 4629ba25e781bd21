# include/lowdim/lowdim.hpp includes every public C++ header (the packaging consumer compiles it).
add_test(NAME "umbrella header lists every public header"
  COMMAND ${CMAKE_COMMAND} -DINCLUDE_DIR=${PROJECT_SOURCE_DIR}/include/lowdim
          -P ${PROJECT_SOURCE_DIR}/cmake/check_umbrella.cmake)
