// liblowdim_mpi: the JL distortion experiment with its projections spread over the ranks
// (include/lowdim/mpi.hpp; docs/mpi.md).

#include <lowdim/error.hpp>
#include <lowdim/mpi.hpp>

#include <cstring>
#include <vector>

namespace lowdim::mpi {
namespace {

// A DistortionResult as doubles (kind by its index in the registry), and back.
constexpr std::size_t kFields = 17;

std::size_t kind_index(SketchKind kind) {
  const auto kinds = sketch_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i] == kind) return i;
  return 0;
}

void pack(const DistortionResult& r, std::vector<double>& out) {
  const double f[kFields] = {static_cast<double>(kind_index(r.kind)), static_cast<double>(r.k), r.mean, r.std, r.min,
                             r.max, r.q01, r.q05, r.q50, r.q95, r.q99, r.within_eps, r.inner_mean_abs_error,
                             r.inner_max_abs_error, r.cosine_mean_abs_error, r.cosine_max_abs_error,
                             static_cast<double>(r.ratios.size())};
  out.insert(out.end(), f, f + kFields);
  for (float v : r.ratios) out.push_back(v);
}

DistortionResult unpack(const double*& p) {
  DistortionResult r;
  r.kind = sketch_kinds()[static_cast<std::size_t>(p[0])];
  r.k = static_cast<std::int64_t>(p[1]);
  r.mean = p[2], r.std = p[3], r.min = p[4], r.max = p[5], r.q01 = p[6], r.q05 = p[7], r.q50 = p[8];
  r.q95 = p[9], r.q99 = p[10], r.within_eps = p[11], r.inner_mean_abs_error = p[12];
  r.inner_max_abs_error = p[13], r.cosine_mean_abs_error = p[14], r.cosine_max_abs_error = p[15];
  const auto ratios = static_cast<std::size_t>(p[16]);
  p += kFields;
  r.ratios.resize(ratios);
  for (std::size_t i = 0; i < ratios; ++i) r.ratios[i] = static_cast<float>(p[i]);
  p += ratios;
  return r;
}

}  // namespace

template <class T>
DistortionReport measure_distortion(const Communicator& comm, ConstMatrixView<T> x, const DistortionOptions& options) {
  // The projections in the single-process order (the kinds reject some k: those are skipped).
  std::vector<std::pair<SketchKind, std::int64_t>> jobs;
  for (auto kind : options.kinds)
    for (auto k : options.dims)
      if (kind.accepts(x.cols(), k, kind.own_options(options.sketch))) jobs.emplace_back(kind, k);
  DistortionReport header;
  std::vector<std::vector<double>> mine(jobs.size());
  collective(comm, [&] {
    // The header (pairs, bound) and the argument checks: the first projection on every rank
    // (cheap next to the rest, and it makes every rank check the same arguments).
    DistortionOptions first = options;
    first.progress = {};
    first.keep_ratios = false;
    if (!jobs.empty()) first.kinds = {jobs[0].first}, first.dims = {jobs[0].second};
    header = lowdim::measure_distortion<T>(x, first);
    header.results.clear();
    for (std::size_t j = static_cast<std::size_t>(comm.rank()); j < jobs.size(); j += static_cast<std::size_t>(comm.size())) {
      DistortionOptions one = options;
      one.kinds = {jobs[j].first};
      one.dims = {jobs[j].second};
      one.progress = {};
      const auto r = lowdim::measure_distortion<T>(x, one);
      pack(r.results.at(0), mine[j]);
      if (options.progress) options.progress(static_cast<std::int64_t>(j) + 1, static_cast<std::int64_t>(jobs.size()));
    }
  });
  // Every projection from its rank, in order.
  DistortionReport report = header;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const int owner = static_cast<int>(j % static_cast<std::size_t>(comm.size()));
    std::int64_t size = static_cast<std::int64_t>(mine[j].size());
    MPI_Bcast(&size, 1, MPI_INT64_T, owner, comm.comm());
    mine[j].resize(static_cast<std::size_t>(size));
    comm.broadcast(std::span<double>(mine[j]), owner);
    const double* p = mine[j].data();
    report.results.push_back(unpack(p));
  }
  return report;
}

template LOWDIM_API DistortionReport measure_distortion<float>(const Communicator&, ConstMatrixView<float>,
                                                               const DistortionOptions&);
template LOWDIM_API DistortionReport measure_distortion<double>(const Communicator&, ConstMatrixView<double>,
                                                                const DistortionOptions&);

template <class T>
std::vector<std::optional<SmallestDim>> smallest_dims(const Communicator& comm, ConstMatrixView<T> x,
                                                      std::span<const SketchKind> kinds, double eps, double fraction,
                                                      const DistortionOptions& options, std::int64_t max_k) {
  std::vector<std::vector<double>> mine(kinds.size());
  collective(comm, [&] {
    DistortionOptions quiet = options;
    quiet.progress = {};
    for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < kinds.size(); i += static_cast<std::size_t>(comm.size())) {
      try {
        const SmallestDim s = lowdim::smallest_dim<T>(x, kinds[i], eps, fraction, quiet, max_k);
        mine[i] = {1.0, static_cast<double>(s.k), s.within_eps, static_cast<double>(s.min_dim_bound),
                   static_cast<double>(s.evaluations)};
      } catch (const invalid_argument& e) {
        // Not reached even at max_k: reported as nullopt, as the single-process CLI does. Any
        // other invalid argument (a bad eps) is an error.
        if (std::string(e.what()).find("smallest_dim: even k = ") == std::string::npos) throw;
        mine[i] = {0, 0, 0, 0, 0};
      }
    }
  });
  std::vector<std::optional<SmallestDim>> out;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    mine[i].resize(5);
    comm.broadcast(std::span<double>(mine[i]), static_cast<int>(i % static_cast<std::size_t>(comm.size())));
    if (mine[i][0] == 0) {
      out.emplace_back();
      continue;
    }
    out.push_back(SmallestDim{.k = static_cast<std::int64_t>(mine[i][1]), .within_eps = mine[i][2],
                              .min_dim_bound = static_cast<std::int64_t>(mine[i][3]),
                              .evaluations = static_cast<std::int64_t>(mine[i][4])});
  }
  return out;
}

template LOWDIM_API std::vector<std::optional<SmallestDim>> smallest_dims<float>(const Communicator&,
                                                                                ConstMatrixView<float>,
                                                                                std::span<const SketchKind>, double,
                                                                                double, const DistortionOptions&,
                                                                                std::int64_t);
template LOWDIM_API std::vector<std::optional<SmallestDim>> smallest_dims<double>(const Communicator&,
                                                                                 ConstMatrixView<double>,
                                                                                 std::span<const SketchKind>, double,
                                                                                 double, const DistortionOptions&,
                                                                                 std::int64_t);

}  // namespace lowdim::mpi
