# Script-mode helpers shared by the CLI tests (tests/cli_*.cmake, run by ctest
# as `cmake -P`): run `${CLI} ${ARGS}` (ARGS '|'-separated), require the exit
# status EXPECT_STATUS, and require stdout + stderr to match the regex EXPECT.
# The exit status is checked explicitly: PASS_REGULAR_EXPRESSION alone would
# pass a command that printed the right words and then failed.

macro(lowdim_cli_run)
  string(REPLACE "|" ";" args "${ARGS}")
  execute_process(COMMAND ${CLI} ${args} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT "${status}" STREQUAL "${EXPECT_STATUS}")
    message(FATAL_ERROR "lowdim ${args}: exit status ${status}, expected ${EXPECT_STATUS}\nstdout: ${out}\nstderr: ${err}")
  endif()
endmacro()

macro(lowdim_cli_expect)
  if(NOT "${out}${err}" MATCHES "${EXPECT}")
    message(FATAL_ERROR "lowdim ${args}: output does not match '${EXPECT}'\nstdout: ${out}\nstderr: ${err}")
  endif()
endmacro()
