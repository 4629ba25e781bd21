# io tests: tests/io_test.cpp writes gzip fixtures with zlib.
target_link_libraries(lowdim_tests PRIVATE ZLIB::ZLIB)
