# CLI tests of `lowdim jl`, `lowdim project` and `lowdim min-dim`. Included by
# tests/CMakeLists.txt (registration) and run by ctest as a script (cmake -P):
#   MODE=run      run the CLI once, check exit status and that stdout+stderr match EXPECT
#   MODE=file     as run, then check that the file OUT exists and its content matches FILE_EXPECT
#   MODE=project  run `project` twice into OUT and OUT.again: both byte-identical; then
#                 `inspect OUT` must match EXPECT (dtype and shape)
#   MODE=no_file  as run, then check that OUT does not exist (atomic output on failure)
if(CMAKE_SCRIPT_MODE_FILE)
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  if(DEFINED OUT)
    file(REMOVE "${OUT}" "${OUT}.again")
  endif()
  lowdim_cli_run()
  if(MODE STREQUAL "project")
    string(REPLACE "${OUT}" "${OUT}.again" args_again "${args}")
    execute_process(COMMAND ${CLI} ${args_again} RESULT_VARIABLE status2 OUTPUT_VARIABLE out2 ERROR_VARIABLE err2)
    if(NOT status2 EQUAL 0)
      message(FATAL_ERROR "second run failed: ${err2}")
    endif()
    file(SHA256 "${OUT}" first)
    file(SHA256 "${OUT}.again" second)
    if(NOT first STREQUAL second)
      message(FATAL_ERROR "lowdim ${args}: two runs with the same seed wrote different files")
    endif()
    execute_process(COMMAND ${CLI} inspect ${OUT} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
    file(REMOVE "${OUT}" "${OUT}.again")
  endif()
  lowdim_cli_expect()
  if(MODE STREQUAL "file")
    if(NOT EXISTS "${OUT}")
      message(FATAL_ERROR "lowdim ${args}: ${OUT} was not written")
    endif()
    file(READ "${OUT}" content)
    if(NOT content MATCHES "${FILE_EXPECT}")
      message(FATAL_ERROR "lowdim ${args}: ${OUT} does not match '${FILE_EXPECT}'\n${content}")
    endif()
    file(REMOVE "${OUT}")
  endif()
  if(MODE STREQUAL "no_file" AND EXISTS "${OUT}")
    message(FATAL_ERROR "lowdim ${args}: failed but left ${OUT} behind")
  endif()
  return()
endif()

if(NOT TARGET lowdim_cli)
  return()
endif()

set(_jl_out ${CMAKE_CURRENT_BINARY_DIR}/cli-jl-out)
file(MAKE_DIRECTORY ${_jl_out})
# Small fixture files from tests/io_fixtures.cpp (cli_inspect.cmake sets them up).
set(_jl_fix ${CMAKE_CURRENT_BINARY_DIR}/inspect-fixtures)
set(_fashion_train /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
set(_fashion_test /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)

# cli_jl_case(NAME MODE STATUS REGEX OUT FILE_REGEX ARG...)
function(cli_jl_case name mode status regex out file_regex)
  string(REPLACE ";" "|" args "${ARGN}")
  add_test(NAME cli_jl_${name}
    COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:lowdim_cli> "-DARGS=${args}" -DEXPECT_STATUS=${status}
            "-DEXPECT=${regex}" -DMODE=${mode} -DOUT=${out} "-DFILE_EXPECT=${file_regex}" -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(cli_jl_${name} PROPERTIES TIMEOUT 300)
  if(name MATCHES "fixture")
    set_tests_properties(cli_jl_${name} PROPERTIES FIXTURES_REQUIRED inspect_files)
  endif()
endfunction()

# ---- min-dim ----
cli_jl_case(min_dim run 0 "^664\n$" "" "" min-dim --n 1000000 --eps 0.5)
cli_jl_case(min_dim_scientific run 0 "^664\n$" "" "" min-dim --n 1e6 --eps 0.5)
cli_jl_case(min_dim_delta run 0 "^774\n$" "" "" min-dim --n 1000000 --eps 0.5 --delta 0.01)
cli_jl_case(min_dim_bad_eps run 2 "lowdim: min_dim: eps = 1.5 is outside \\(0, 1\\)" "" "" min-dim --n 100 --eps 1.5)
cli_jl_case(min_dim_bad_n run 2 "lowdim: min_dim: n_points = 1 must be at least 2" "" "" min-dim --n 1 --eps 0.1)
cli_jl_case(min_dim_not_integer run 1 "lowdim: min-dim: --n 2.5 is not an integer" "" "" min-dim --n 2.5 --eps 0.1)
cli_jl_case(min_dim_bad_delta run 2 "lowdim: min_dim: delta = 0 is outside \\(0, 1\\)" "" "" min-dim --n 100 --eps 0.1 --delta 0)
cli_jl_case(min_dim_missing run 1 "--eps is required" "" "" min-dim --n 100)

# ---- jl ----
cli_jl_case(jl_fixture_all_pairs file 0
  "n = 4 points, d = 3, 6 pairs.*gaussian +2 .*countsketch +3 .*smallest k keeping 50% of the pairs within eps = 0.5"
  ${_jl_out}/small.json
  "\"n_points\": 4,.*\"dim\": 3,.*\"pairs\": 6,.*\"eps\": 0.5,.*\"min_dim_bound\": 67,.*\"results\": \\[.*\"kind\": \"gaussian\", \"k\": 2, \"mean\": [-0-9.e]+, \"std\": [-0-9.e]+, \"min\": [-0-9.e]+, \"max\": [-0-9.e]+, \"q01\": [-0-9.e]+, \"q05\": [-0-9.e]+, \"q50\": [-0-9.e]+, \"q95\": [-0-9.e]+, \"q99\": [-0-9.e]+, \"within_eps\": [-0-9.e]+.*\"kind\": \"countsketch\", \"k\": 3.*\"smallest_k\""
  jl --input ${_jl_fix}/good_f32.npy --kinds gaussian,countsketch --k 2,3 --eps 0.5 --pairs 100 --target 0.5
     --json ${_jl_out}/small.json)
cli_jl_case(jl_fixture_plot file 0 "plot written to" ${_jl_out}/small.svg
  "^<svg xmlns=.*sketch kind.*srht.*JL bound for ε = 0.2.*</svg>\n$"
  jl --input ${_jl_fix}/good_f32.npy --kinds srht --k 1,2 --eps 0.2 --target 0 --plot ${_jl_out}/small.svg)
cli_jl_case(jl_fixture_nan run 2 "lowdim: measure_distortion: input: non-finite value nan at row" "" ""
  jl --input ${_jl_fix}/good_nan.npy --kinds gaussian --k 1 --target 0)
cli_jl_case(jl_bad_kind run 2 "lowdim: sketch: unknown kind 'gauss' \\(valid: gaussian, rademacher, sparse, srht, countsketch, orthogonal, structured_orthogonal, hadamard_rotation, simplex\\)" "" ""
  jl --input ${_jl_fix}/good_f32.npy --kinds gauss --k 2)
cli_jl_case(jl_bad_k run 1 "lowdim: jl: --k item 'x' is not a positive integer" "" "" jl --k 16,x)
cli_jl_case(jl_bad_eps run 2 "lowdim: jl: --eps 1 is outside \\(0, 1\\)" "" "" jl --eps 1)
cli_jl_case(jl_missing_input run 3 "lowdim: .*no_such_file.npy" "" "" jl --input ${_jl_out}/no_such_file.npy)
if(EXISTS ${_fashion_train})
  cli_jl_case(jl_fashion_mnist file 0
    "n = 60000 points, d = 784, 300 pairs.*JL bound min_dim\\(n, eps\\) = 9431.*srht +32 .*smallest k keeping 50%"
    ${_jl_out}/fashion.json "\"n_points\": 60000,.*\"dim\": 784,.*\"min_dim_bound\": 9431"
    jl --kinds srht,sparse --k 8,32 --pairs 300 --target 0.5 --json ${_jl_out}/fashion.json)
endif()

# ---- project ----
cli_jl_case(project_fixture_npy project 0 "dtype +float32.*4 rows x 2 cols" ${_jl_out}/p1.npy ""
  project --input ${_jl_fix}/good_f32.npy --output ${_jl_out}/p1.npy --kind gaussian --k 2 --seed 5)
cli_jl_case(project_fixture_float64 project 0 "dtype +float64.*2 rows x 3 cols" ${_jl_out}/p2.npy ""
  project --input ${_jl_fix}/good_f64_fortran_be.npy --output ${_jl_out}/p2.npy --kind srht --k 3)
cli_jl_case(project_fixture_idx_gz project 0 "dtype +float32.*3 rows x 5 cols" ${_jl_out}/p3.npy ""
  project --input ${_jl_fix}/good-idx3-ubyte.gz --output ${_jl_out}/p3.npy --kind countsketch --k 5)
cli_jl_case(project_fixture_srht_too_big no_file 2
  "lowdim: sketch srht: output dimension k = 9 exceeds the input dimension d = 3" ${_jl_out}/p4.npy ""
  project --input ${_jl_fix}/good_f32.npy --output ${_jl_out}/p4.npy --kind srht --k 9)
cli_jl_case(project_fixture_nan no_file 2 "lowdim: sketch gaussian apply: input: non-finite value nan at row" ${_jl_out}/p5.npy ""
  project --input ${_jl_fix}/good_nan.npy --output ${_jl_out}/p5.npy --k 1)
cli_jl_case(project_bad_k no_file 2 "output dimension k = 0 must be positive" ${_jl_out}/p6.npy ""
  project --input ${_jl_fix}/good_f32.npy --output ${_jl_out}/p6.npy --k 0)
if(EXISTS ${_fashion_test})
  cli_jl_case(project_fashion_sparse project 0 "dtype +float32.*10000 rows x 64 cols" ${_jl_out}/fashion.npy ""
    project --input ${_fashion_test} --output ${_jl_out}/fashion.npy --kind sparse --k 64 --seed 1)
endif()
