# ctest tests of `lowdim whiten fit|apply` and `lowdim pca` on Fashion-MNIST's test images
# (10 000 x 784 uint8 IDX .gz, Debian's dataset-fashion-mnist).
#
# This file has two modes. Included by tests/CMakeLists.txt it registers the tests; run
# as `cmake -DCMD=a|b|c -DSTATUS=n -DEXPECT=regex -P cli_whiten.cmake` it runs one command
# and checks its exit status and output (tests/cli_check.cmake).

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED ABSENT)
  if(EXISTS "${ABSENT}")
    message(FATAL_ERROR "${ABSENT} exists: a failed command left an output file behind")
  endif()
  return()
elseif(CMAKE_SCRIPT_MODE_FILE)
  # CMD is the whole command (the CLI's path first), so CLI stays empty.
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  set(ARGS "${CMD}")
  set(EXPECT_STATUS "${STATUS}")
  lowdim_cli_run()
  lowdim_cli_expect()
  return()
endif()

set(_whiten_images /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
if(NOT TARGET lowdim_cli OR NOT EXISTS ${_whiten_images})
  message(STATUS "cli_whiten: skipped (needs the lowdim CLI and ${_whiten_images})")
  return()
endif()
set(_whiten_dir ${PROJECT_BINARY_DIR}/test-tmp/cli-whiten)
set(_whiten_script ${CMAKE_CURRENT_LIST_FILE})

add_test(NAME cli_whiten_setup COMMAND ${CMAKE_COMMAND} -E make_directory ${_whiten_dir})
set_tests_properties(cli_whiten_setup PROPERTIES FIXTURES_SETUP whiten_dir)

# whiten_cli(name status regex [REQUIRES fixture...] [SETS fixture] ARGS args...)
# (fixtures as separate arguments: a quoted "a;b" would reach ctest as one fixture named "a;b")
function(whiten_cli name status regex)
  cmake_parse_arguments(PARSE_ARGV 3 opt "" "SETS" "REQUIRES;ARGS")
  string(REPLACE ";" "|" command "$<TARGET_FILE:lowdim_cli>;${opt_ARGS}")
  add_test(NAME cli_whiten_${name}
           COMMAND ${CMAKE_COMMAND} "-DCMD=${command}" -DSTATUS=${status} "-DEXPECT=${regex}" -P ${_whiten_script})
  set_tests_properties(cli_whiten_${name} PROPERTIES LABELS cli FIXTURES_REQUIRED "whiten_dir;${opt_REQUIRES}"
                                                     TIMEOUT 120)
  if(opt_SETS)
    set_tests_properties(cli_whiten_${name} PROPERTIES FIXTURES_SETUP ${opt_SETS})
  endif()
endfunction()

set(_d ${_whiten_dir})
# PCA whitening to 50 dimensions, applied in blocks; then the output's own covariance,
# fitted by the CLI, must have every eigenvalue 1 (to 1e-4: float64 output of a double model).
whiten_cli(fit_pca 0 "pca whitening of 10000 x 784 -> 50 dimensions" SETS whiten_model
  ARGS whiten fit --input ${_whiten_images} --kind pca --k 50 --model ${_d}/pca50.ldm)
whiten_cli(apply 0 "10000 rows x 784 -> 50 \\(float64\\)" REQUIRES whiten_model SETS whiten_output
  ARGS whiten apply --model ${_d}/pca50.ldm --input ${_whiten_images} --output ${_d}/y50.npy --dtype float64
       --block-rows 999)
set(_one "(1|1\\.0000[0-9]*|0\\.9999[0-9]*)")
whiten_cli(output_is_white 0 "largest ${_one}, smallest ${_one}\n" REQUIRES whiten_output
  ARGS whiten fit --input ${_d}/y50.npy --kind zca --model ${_d}/check.ldm)
# ZCA with its normalisation flag, streamed in small blocks.
whiten_cli(fit_zca_cor 0 "zca-cor whitening of 10000 x 784 -> 784 dimensions, L2-normalised"
  ARGS whiten fit --input ${_whiten_images} --kind zca-cor --eps 1e-3 --normalize --block-rows 777
       --model ${_d}/zcacor.ldm)

# PCA: the projection, the components and the variance table.
whiten_cli(pca 0 "pca \\(exact\\): 10000 x 784 -> 20 components.*cumulative" SETS whiten_components
  ARGS pca --input ${_whiten_images} --k 20 --output ${_d}/p20.npy --components ${_d}/c20.npy)
# The randomized solver runs from the CLI (its accuracy is tested in whitening_test.cpp).
whiten_cli(pca_randomized 0 "pca \\(randomized\\): 10000 x 784 -> 3 components.*output: "
  ARGS pca --input ${_whiten_images} --k 3 --solver randomized --seed 5 --output ${_d}/r3.npy)
whiten_cli(bad_solver 2 "pca: --solver must be exact or randomized, not 'fast'"
  ARGS pca --input ${_whiten_images} --k 3 --solver fast --output ${_d}/never.npy)
# 20 components as 20 samples in 784 dimensions: rank 19, so ZCA must refuse, naming the eigenvalue...
whiten_cli(zero_variance 2 "eigenvalue 784 of 784 of the covariance .* numerically zero" REQUIRES whiten_components
  ARGS whiten fit --input ${_d}/c20.npy --kind zca --model ${_d}/never.ldm)
# ...while a rank cut-off, or PCA whitening to fewer dimensions than the rank, work.
whiten_cli(rank_tolerance 0 "zca whitening of 20 x 784 -> 784" REQUIRES whiten_components
  ARGS whiten fit --input ${_d}/c20.npy --kind zca --rank-tol 1e-9 --model ${_d}/ranktol.ldm)
whiten_cli(pca_below_rank 0 "pca whitening of 20 x 784 -> 10" REQUIRES whiten_components
  ARGS whiten fit --input ${_d}/c20.npy --kind pca --k 10 --model ${_d}/pca10.ldm)

# Errors: each names the problem and the values.
whiten_cli(bad_kind 2 "unknown kind 'zka' \\(valid: pca, zca, cholesky, zca-cor, pca-cor\\)"
  ARGS whiten fit --input ${_whiten_images} --kind zka --model ${_d}/never.ldm)
whiten_cli(k_too_large 2 "whitening: k = 785 exceeds the dimension d = 784"
  ARGS whiten fit --input ${_whiten_images} --kind pca --k 785 --model ${_d}/never.ldm)
whiten_cli(k_for_zca 2 "zca whitening keeps all d = 784 dimensions; k = 10 is only allowed for pca and pca-cor"
  ARGS whiten fit --input ${_whiten_images} --kind zca --k 10 --model ${_d}/never.ldm)
whiten_cli(shape_mismatch 2 "has 50 columns, the model expects d = 784" REQUIRES whiten_model whiten_output
  SETS whiten_failed
  ARGS whiten apply --model ${_d}/pca50.ldm --input ${_d}/y50.npy --output ${_d}/never.npy)
whiten_cli(not_a_model 3 "lowdim: .*y50.npy" REQUIRES whiten_output SETS whiten_failed
  ARGS whiten apply --model ${_d}/y50.npy --input ${_whiten_images} --output ${_d}/never.npy)
whiten_cli(missing_input 3 "lowdim: .*no-such-file.npy" SETS whiten_failed
  ARGS pca --input ${_d}/no-such-file.npy --k 3 --output ${_d}/never.npy)
# The failed commands above left no output file behind (outputs are written atomically).
add_test(NAME cli_whiten_no_partial_output
         COMMAND ${CMAKE_COMMAND} -DABSENT=${_d}/never.npy -P ${_whiten_script})
set_tests_properties(cli_whiten_no_partial_output PROPERTIES LABELS cli FIXTURES_REQUIRED "whiten_dir;whiten_failed")
