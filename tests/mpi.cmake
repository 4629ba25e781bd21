# liblowdim_mpi under mpirun with 1 to 4 ranks (oversubscribed on small machines), and the
# distributed CLI (tests/mpi/cli_mpi.sh). Only when the MPI layer is built (LOWDIM_WITH_MPI).
if(NOT TARGET lowdim_mpi)
  return()
endif()
add_executable(lowdim_mpi_tests ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_test.cpp)
target_link_libraries(lowdim_mpi_tests PRIVATE lowdim_mpi Catch2::Catch2 lowdim_build_flags)
target_compile_definitions(lowdim_mpi_tests PRIVATE LOWDIM_SOURCE_DIR="${PROJECT_SOURCE_DIR}" LOWDIM_BINARY_DIR="${PROJECT_BINARY_DIR}")
# Root in CI containers; one BLAS/OpenMP thread per rank (the ranks share the cores).
set(LOWDIM_MPI_TEST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
    OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none)
if(LOWDIM_SANITIZE)
  # OpenMPI's dlopened components leak at MPI_Finalize (stacks end in "<unknown module>"); leak
  # detection stays on for every other test. ASan and UBSan still check these runs.
  list(APPEND LOWDIM_MPI_TEST_ENV ASAN_OPTIONS=detect_leaks=0:abort_on_error=1)
  set(LOWDIM_MPI_CLI_ENV ASAN_OPTIONS=detect_leaks=0:abort_on_error=1)
endif()
foreach(ranks 1 2 3 4)
  add_test(NAME "mpi: library on ${ranks} ranks"
    COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe -np ${ranks} $<TARGET_FILE:lowdim_mpi_tests>)
  set_tests_properties("mpi: library on ${ranks} ranks" PROPERTIES TIMEOUT 180
    ENVIRONMENT "${LOWDIM_MPI_TEST_ENV}")
endforeach()

# The distributed CLI: `mpirun -np P lowdim ...` hands over to lowdim-mpi.
if(TARGET lowdim_cli AND TARGET lowdim_mpi_cli)
  # Debian's interpreter sees Debian's NumPy (a pyenv shim may come first on PATH), as in CMakeLists.txt.
  if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python3_EXECUTABLE /usr/bin/python3)
  endif()
  find_package(Python3 COMPONENTS Interpreter QUIET)
  foreach(mode 1 2 3 4 failures)
    add_test(NAME "mpi: cli ${mode}"
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/cli_mpi.sh $<TARGET_FILE:lowdim_cli> ${MPIEXEC_EXECUTABLE}
              ${Python3_EXECUTABLE} ${mode})
    set_tests_properties("mpi: cli ${mode}" PROPERTIES TIMEOUT 300 ENVIRONMENT "${LOWDIM_MPI_CLI_ENV}")
  endforeach()
  foreach(mode 1 2 3 failures)
    add_test(NAME "mpi: cli lsh ${mode}"
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/cli_lsh_mpi.sh $<TARGET_FILE:lowdim_cli> ${MPIEXEC_EXECUTABLE}
              ${Python3_EXECUTABLE} ${mode})
    set_tests_properties("mpi: cli lsh ${mode}" PROPERTIES TIMEOUT 180 ENVIRONMENT "${LOWDIM_MPI_CLI_ENV}")
  endforeach()
endif()
