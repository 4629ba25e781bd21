// Links liblowdim_mpi from an installed tree; run as one MPI process (a singleton) or under mpirun.
#include <lowdim/mpi.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  lowdim::mpi::Environment env(&argc, &argv);
  const lowdim::mpi::Communicator comm;
  const auto p = lowdim::mpi::RowPartition::even(10, comm.size());
  std::int64_t sum = 0;
  for (const auto c : p.counts) sum += c;
  if (sum != 10) return 1;
  if (comm.rank() == 0) std::printf("lowdim_mpi consumer: %d rank(s), rows per rank %lld\n", comm.size(),
                                    static_cast<long long>(p.counts[0]));
  return 0;
}
