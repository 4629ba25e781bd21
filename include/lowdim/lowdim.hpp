#ifndef LOWDIM_LOWDIM_HPP
#define LOWDIM_LOWDIM_HPP

/// \file
/// The umbrella header: every public C++ header of lowdim. Modules add their own line.

#include <lowdim/attention.hpp>
#include <lowdim/error.hpp>
#include <lowdim/export.hpp>
#include <lowdim/fwht.hpp>
#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/lsh.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/random.hpp>
#include <lowdim/random_features.hpp>
#include <lowdim/rope.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/sketch.hpp>
#include <lowdim/version.hpp>
#include <lowdim/whitening.hpp>

#endif
