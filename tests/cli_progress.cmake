# Progress bars under a pseudo-terminal (script) and tmux's final screen; none on a pipe.
set(_progress_data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
find_program(LOWDIM_TMUX tmux)
find_program(LOWDIM_SCRIPT script)
if(TARGET lowdim_cli AND EXISTS ${_progress_data} AND LOWDIM_TMUX AND LOWDIM_SCRIPT)
  add_test(NAME "cli progress bar on a terminal, not on a pipe"
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_progress.sh $<TARGET_FILE:lowdim_cli> ${_progress_data}
                   ${CMAKE_CURRENT_BINARY_DIR}/cli-progress)
  set_tests_properties("cli progress bar on a terminal, not on a pipe" PROPERTIES TIMEOUT 300)
else()
  message(STATUS "cli progress test skipped: needs the CLI, ${_progress_data}, tmux and script")
endif()
