#ifndef LOWDIM_DETAIL_FWHT_KERNEL_HPP
#define LOWDIM_DETAIL_FWHT_KERNEL_HPP

// The single-row FWHT kernel, shared by fwht.cpp and the SRHT sketch (which
// calls it inside its own parallel loop). Private: never installed.

#include <cstdint>

namespace lowdim::detail {

/// x[0, m) ← H_m x, m a power of two. Vectorized (AVX2 clone when the CPU has it).
void fwht_row(float* x, std::int64_t m) noexcept;
void fwht_row(double* x, std::int64_t m) noexcept;

}  // namespace lowdim::detail

#endif
