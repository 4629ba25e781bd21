# include/lowdim/lowdim.hpp includes every public C++ header, and each compiles on its own.
add_test(NAME "umbrella header lists every public header"
  COMMAND ${CMAKE_COMMAND} -DINCLUDE_DIR=${PROJECT_SOURCE_DIR}/include/lowdim
          -P ${CMAKE_CURRENT_SOURCE_DIR}/umbrella_check.cmake)
