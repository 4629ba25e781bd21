# io tests. Included by tests/CMakeLists.txt (test registration) and also run
# as a ctest script (cmake -P, check mode) that runs the CLI once and checks
# its exit status and output.
if(CMAKE_SCRIPT_MODE_FILE)
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  lowdim_cli_run()
  lowdim_cli_expect()
  return()
endif()

# tests/io_test.cpp writes gzip fixtures with zlib.
target_link_libraries(lowdim_tests PRIVATE ZLIB::ZLIB)

if(NOT TARGET lowdim_cli)
  return()
endif()

# Fixture files, good and malformed, written by a small program (tests/io_fixtures.cpp).
add_executable(lowdim_io_fixtures ${CMAKE_CURRENT_LIST_DIR}/io_fixtures.cpp)
target_link_libraries(lowdim_io_fixtures PRIVATE lowdim::lowdim ZLIB::ZLIB lowdim_build_flags)
set(_inspect_dir ${CMAKE_CURRENT_BINARY_DIR}/inspect-fixtures)
add_test(NAME cli_inspect_fixtures COMMAND lowdim_io_fixtures ${_inspect_dir})
set_tests_properties(cli_inspect_fixtures PROPERTIES FIXTURES_SETUP inspect_files)

# cli_inspect_case(NAME STATUS REGEX ARG...)
function(cli_inspect_case name status regex)
  string(REPLACE ";" "|" args "${ARGN}")
  add_test(NAME cli_inspect_${name}
    COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:lowdim_cli> "-DARGS=${args}" -DEXPECT_STATUS=${status}
            "-DEXPECT=${regex}" -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(cli_inspect_${name} PROPERTIES FIXTURES_REQUIRED inspect_files TIMEOUT 120)
endfunction()

set(d ${_inspect_dir})
cli_inspect_case(help 0 "Usage: lowdim inspect .*--json" inspect --help)
cli_inspect_case(npy 0 "format +npy\n.*dtype +float32, little-endian\n.*shape +\\(4, 3\\) as stored; 4 rows x 3 cols.*values +12: min -1.5, max 4, mean 1.25, NaN 0, Inf 0"
  inspect ${d}/good_f32.npy)
cli_inspect_case(npy_json 0 "\"format\": \"npy\".*\"shape\": \\[4, 3\\], \"rows\": 4, \"cols\": 3.*\"min\": -1.5, \"max\": 4, \"mean\": 1.25, \"nan\": 0, \"inf\": 0}"
  inspect --json ${d}/good_f32.npy)
cli_inspect_case(npy_fortran_big_endian 0 "dtype +float64, big-endian\norder +Fortran.*\\(2, 2, 2\\) as stored; 2 rows x 4 cols.*min 0, max 7, mean 3.5"
  inspect ${d}/good_f64_fortran_be.npy)
cli_inspect_case(npy_int16 0 "dtype +int16.*3 rows x 1 cols.*min -7, max 300" inspect ${d}/good_i16_v1.npy)
cli_inspect_case(npy_nan 0 "values +6: min -?[0-9.]+, max 5, mean 3, NaN 2, Inf 1" inspect ${d}/good_nan.npy)
cli_inspect_case(npy_nan_json 0 "\"count\": 6, \"min\": 1, \"max\": 5, \"mean\": 3, \"nan\": 2, \"inf\": 1" inspect --json ${d}/good_nan.npy)
cli_inspect_case(idx 0 "format +idx\n.*dtype +uint8\n.*\\(3, 2, 2\\) as stored; 3 rows x 4 cols.*min 0, max 255" inspect ${d}/good-idx3-ubyte)
cli_inspect_case(idx_gz 0 "format +idx \\(gzip-compressed\\).*3 rows x 4 cols.*max 255" inspect ${d}/good-idx3-ubyte.gz)
cli_inspect_case(idx_float 0 "dtype +float32, big-endian.*min -2, max 4" inspect ${d}/good_f32-idx2-ubyte)
cli_inspect_case(fvecs 0 "format +fvecs\n.*4 rows x 3 cols.*mean 1.25" inspect ${d}/good.fvecs)
cli_inspect_case(fvecs_gz 0 "format +fvecs \\(gzip-compressed\\).*4 rows x 3 cols" inspect ${d}/good.fvecs.gz)
cli_inspect_case(ivecs 0 "format +ivecs\n.*dtype +int32.*2 rows x 3 cols.*min -3, max 32" inspect ${d}/good.ivecs)

cli_inspect_case(bad_magic 3 "lowdim: [^\n]*bad_magic.npy: not an .npy file: bad magic" inspect ${d}/bad_magic.npy)
cli_inspect_case(bad_empty 3 "lowdim: [^\n]*bad_empty.npy: empty file" inspect ${d}/bad_empty.npy)
cli_inspect_case(bad_truncated 3 "bad_truncated.npy: truncated .npy data: the header claims shape \\(3, 4\\) of float32 \\(48 bytes\\) but the file holds 20 bytes"
  inspect ${d}/bad_truncated.npy)
cli_inspect_case(bad_claims 3 "bad_claims.npy: truncated .npy data: the header claims shape \\(1000000000, 1000000\\)" inspect ${d}/bad_claims.npy)
cli_inspect_case(bad_overflow 3 "bad_overflow.npy: shape \\(4294967296, 4294967296\\) overflows" inspect ${d}/bad_overflow.npy)
cli_inspect_case(bad_negative 3 "bad_negative.npy: negative dimension -3" inspect ${d}/bad_negative.npy)
cli_inspect_case(bad_dtype 3 "bad_dtype.npy: unsupported .npy dtype '<f2'" inspect ${d}/bad_dtype.npy)
cli_inspect_case(bad_idx_magic 3 "bad_magic-idx1-ubyte: not an IDX file: bad magic" inspect ${d}/bad_magic-idx1-ubyte)
cli_inspect_case(bad_idx_dtype 3 "bad_dtype-idx1-ubyte: unsupported IDX dtype code 0x0a" inspect ${d}/bad_dtype-idx1-ubyte)
cli_inspect_case(bad_gzip 3 "bad_corrupt-idx3-ubyte.gz: corrupt gzip" inspect ${d}/bad_corrupt-idx3-ubyte.gz)
cli_inspect_case(bad_gzip_size 3 "bad_short-idx3-ubyte.gz: truncated data: the header describes 3 rows of 4 values \\(uint8\\) but the decompressed stream ends in row 1"
  inspect ${d}/bad_short-idx3-ubyte.gz)
cli_inspect_case(bad_ragged 3 "bad_ragged.fvecs: ragged .fvecs: row 2 has dimension 2, row 0 has 3" inspect ${d}/bad_ragged.fvecs)
cli_inspect_case(bad_directory 3 "a_directory.npy: is a directory, not a file" inspect ${d}/a_directory.npy)
cli_inspect_case(bad_missing 3 "no_such_file.npy: cannot open: No such file or directory" inspect ${d}/no_such_file.npy)
cli_inspect_case(bad_usage 1 "file is required" inspect)

set(_fashion /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
if(EXISTS ${_fashion})
  cli_inspect_case(fashion_mnist 0 "\\(60000, 28, 28\\) as stored; 60000 rows x 784 cols.*values +47040000: min 0, max 255, mean 72.94"
    inspect ${_fashion})
endif()

# lowdim info names what every benchmark figure must name: the CPU, the BLAS core, the kernel.
add_test(NAME cli_info
  COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:lowdim_cli> -DARGS=info -DEXPECT_STATUS=0
          "-DEXPECT=^lowdim [0-9]+\\.[0-9]+\\.[0-9]+\nCPU: .+ \\(family [0-9]+, model [0-9]+; (no )?avx2, (no )?avx512f\\)\nBLAS: OpenBLAS .*; core [A-Za-z0-9]+; [0-9]+ threads\ndense kernel: (avx512|avx2|generic)\nOpenMP threads: [0-9]+"
          -P ${CMAKE_CURRENT_LIST_FILE})
