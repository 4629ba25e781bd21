# The dense kernel is chosen at start-up (AVX-512, AVX2 + FMA, or generic); the suite above
# runs whichever this CPU picks. These runs force the lesser ones (LOWDIM_KERNEL), so every
# path is tested on an AVX-512 machine too: the sketch, JL and whitening cases, including
# the bit-exact fma-chain check ("[kernel]").
foreach(isa avx2 generic)
  add_test(NAME "kernel ${isa}: sketch, jl, whitening" COMMAND lowdim_tests "[sketch],[jl],[whitening]")
  set_tests_properties("kernel ${isa}: sketch, jl, whitening" PROPERTIES
    ENVIRONMENT "LOWDIM_KERNEL=${isa}" TIMEOUT 600)
endforeach()
