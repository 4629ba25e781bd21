#ifndef LOWDIM_DETAIL_SPARSE_FAMILY_HPP
#define LOWDIM_DETAIL_SPARSE_FAMILY_HPP

// The sparse family's implementation (sparse, countsketch, rademacher with density < 1),
// shared by those kinds' entries.

#include "detail/operator_kind.hpp"

#include <memory>

namespace lowdim::detail {

/// The matrix-free sparse operator of a sparse, countsketch or sparse-rademacher description.
std::shared_ptr<const OperatorImpl> make_sparse_family(const OperatorDescription& description);

}  // namespace lowdim::detail

#endif
