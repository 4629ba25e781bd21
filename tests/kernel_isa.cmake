# The dense kernel is chosen at start-up (AVX-512, AVX2 + FMA, or generic); the suite above
# runs whichever this CPU picks. These runs force the lesser ones (LOWDIM_KERNEL), so every
# path is tested on an AVX-512 machine too: the sketch, JL and whitening cases, including
# the bit-exact fma-chain check ("[kernel]").
foreach(isa avx2 generic)
  add_test(NAME "kernel ${isa}: sketch, jl, whitening" COMMAND lowdim_tests "[sketch],[jl],[whitening]")
  set_tests_properties("kernel ${isa}: sketch, jl, whitening" PROPERTIES
    ENVIRONMENT "LOWDIM_KERNEL=${isa}" TIMEOUT 600)
endforeach()

# The forced kernel is the one that runs (the suite above checks it with "[kernel-choice]"),
# and a name that is not a kernel is an error naming the valid ones, never a silent default.
foreach(isa avx2 generic)
  add_test(NAME "kernel ${isa}: the forced kernel runs" COMMAND lowdim_tests "[kernel-choice]")
  set_tests_properties("kernel ${isa}: the forced kernel runs" PROPERTIES ENVIRONMENT "LOWDIM_KERNEL=${isa}" TIMEOUT 60)
endforeach()
if(TARGET lowdim_cli)
  add_test(NAME "kernel unknown: an error naming the valid values"
    COMMAND ${CMAKE_COMMAND} -E env LOWDIM_KERNEL=avx1024
            ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:lowdim_cli> "-DARGS=info" -DEXPECT_STATUS=2
            "-DEXPECT=LOWDIM_KERNEL=avx1024: unknown dense kernel; valid values are avx512, avx2 and generic"
            -P ${CMAKE_CURRENT_LIST_DIR}/cli_front.cmake)
  set_tests_properties("kernel unknown: an error naming the valid values" PROPERTIES TIMEOUT 60)
endif()
