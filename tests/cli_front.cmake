# The CLI's conventions: --version, the exit statuses documented in --help, --quiet and
# --json [FILE]. Also run as a ctest script (cmake -P) that runs the CLI once and checks it.
if(CMAKE_SCRIPT_MODE_FILE)
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  lowdim_cli_run()
  lowdim_cli_expect()
  return()
endif()
if(NOT TARGET lowdim_cli)
  return()
endif()

# cli_front_case(NAME STATUS REGEX ARG...)
function(cli_front_case name status regex)
  string(REPLACE ";" "|" args "${ARGN}")
  add_test(NAME cli_front_${name}
    COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:lowdim_cli> "-DARGS=${args}" -DEXPECT_STATUS=${status}
            "-DEXPECT=${regex}" -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(cli_front_${name} PROPERTIES TIMEOUT 60)
endfunction()

cli_front_case(version 0 "^lowdim [0-9]+\\.[0-9]+\\.[0-9]+\n$" --version)
cli_front_case(help_exit_status 0 "Exit status: 0 success; 1 usage error .*; 2 bad input .*; 3 I/O failure .*; 4 out of"
  --help)
cli_front_case(usage_unknown_option 1 "The following argument was not expected: --bogus" min-dim --n 10 --eps 0.1 --bogus)
cli_front_case(usage_missing 1 "--eps is required" min-dim --n 10)
cli_front_case(usage_malformed 1 "lowdim: min-dim: --n ten is not an integer" min-dim --n ten --eps 0.1)
cli_front_case(bad_input 2 "lowdim: min_dim: eps = 2 is outside" min-dim --n 10 --eps 2)
cli_front_case(io_failure 3 "lowdim: .*no_such_file.npy: cannot open" inspect /nonexistent/no_such_file.npy)
cli_front_case(json_stdout 0 "^{\"n_points\": 1000000, \"eps\": 0.1, \"delta\": null, \"k\": 11842}\n$"
  min-dim --n 1e6 --eps 0.1 --json)
cli_front_case(json_and_quiet 0 "^{\"n_points\": 1000000, \"eps\": 0.1, \"delta\": 0.01, \"k\": [0-9]+}\n$"
  min-dim --n 1e6 --eps 0.1 --delta 0.01 --json - --quiet)
cli_front_case(quiet 0 "^$" min-dim --n 1e6 --eps 0.1 --quiet)
cli_front_case(info_json 0 "^{\"version\": \"[0-9.]+\", \"cpu\": \".+\", \"blas\": \"OpenBLAS .+\", \"dense_kernel\": \"(avx512|avx2|generic)\", \"openmp_threads\": [0-9]+, \"processors\": [0-9]+}\n$"
  info --json)
