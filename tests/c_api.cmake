# The C API, compiled as C99 and linked like a C program would be.
add_executable(c_api_test c_api_test.c)
set_target_properties(c_api_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_link_libraries(c_api_test PRIVATE lowdim::lowdim m lowdim_build_flags)
add_test(NAME "c api" COMMAND c_api_test ${CMAKE_CURRENT_BINARY_DIR})
