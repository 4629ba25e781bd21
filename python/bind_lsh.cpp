// The LSH module in Python: exact_knn, LshHasher and LshIndex (build, knn with per-query
// statistics, kneighbors as scikit-learn's NearestNeighbors, insert, remove, save, load).
// An index holds float32 or float64 data, by the dtype of the array it is built from; queries
// are converted to it. The GIL is released for every computation and file access; NumPy
// objects are made and read only with it held. A shared mutex makes concurrent Python threads
// safe: queries run together, insert/remove wait for them.

#include <lowdim/io.hpp>
#include <lowdim/lsh.hpp>

#include "common.hpp"

#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <variant>

using namespace lowdim;
using namespace lowdim::python;

namespace {

LshFamilyOptions family_options(double width, std::int64_t cp_dim) {
  LshFamilyOptions o;
  o.width = width;
  o.cp_dim = cp_dim;
  return o;
}

/// The per-query statistics as a dict of NumPy arrays (one entry per query).
py::dict stats_to_dict(const std::vector<LshQueryStats>& stats) {
  const auto n = static_cast<py::ssize_t>(stats.size());
  py::array_t<std::int64_t> candidates(n), unique(n), probes(n);
  py::array_t<bool> extra(n), scanned(n);
  py::array_t<double> th(n), tl(n), tr(n);
  for (py::ssize_t i = 0; i < n; ++i) {
    const auto& s = stats[static_cast<std::size_t>(i)];
    candidates.mutable_at(i) = s.candidates;
    unique.mutable_at(i) = s.unique_candidates;
    probes.mutable_at(i) = s.probes;
    extra.mutable_at(i) = s.extra_probes;
    scanned.mutable_at(i) = s.scanned;
    th.mutable_at(i) = s.hash_seconds;
    tl.mutable_at(i) = s.lookup_seconds;
    tr.mutable_at(i) = s.rerank_seconds;
  }
  py::dict d;
  d["candidates"] = candidates;
  d["unique_candidates"] = unique;
  d["probes"] = probes;
  d["extra_probes"] = extra;
  d["scanned"] = scanned;
  d["hash_seconds"] = th;
  d["lookup_seconds"] = tl;
  d["rerank_seconds"] = tr;
  py::array_t<double> er(n);
  for (py::ssize_t i = 0; i < n; ++i) er.mutable_at(i) = stats[static_cast<std::size_t>(i)].estimated_recall;
  d["estimated_recall"] = er;
  return d;
}

/// An LshIndex<float> or LshIndex<double>, with the lock that orders queries and updates.
class PyLshIndex {
 public:
  using Variant = std::variant<LshIndex<float>, LshIndex<double>>;
  explicit PyLshIndex(Variant v) : index_(std::move(v)) {}

  static PyLshIndex build(const py::array& data, const std::string& family, std::int64_t tables,
                          std::int64_t hashes, std::uint64_t seed, const std::string& metric, double width,
                          std::int64_t cp_dim, bool center, std::int64_t sketch_dim) {
    LshIndexOptions o;
    o.family = parse_lsh_family(family);
    o.tables = tables;
    o.hashes = hashes;
    o.seed = seed;
    o.metric = parse_metric(metric);
    o.family_options = family_options(width, cp_dim);
    o.center = center;
    o.sketch_dim = sketch_dim;
    return by_dtype(data, [&]<class T>() {
      auto in = as_input<T>(data, "LshIndex.build");
      py::gil_scoped_release release;
      return PyLshIndex(Variant(std::in_place_type<LshIndex<T>>, in.view, o));
    });
  }

  static py::tuple tune(const py::array& data, std::int64_t k, double target_recall, std::int64_t memory_bytes,
                        const std::string& family, const std::string& metric, std::int64_t max_tables,
                        std::int64_t holdout, std::int64_t sketch_dim, bool center, double width, std::int64_t cp_dim,
                        std::uint64_t seed) {
    const LshTuneOptions o = tune_options(k, target_recall, memory_bytes, family, metric, max_tables, holdout,
                                          sketch_dim, center, width, cp_dim, seed);
    LshTuneResult r;
    std::optional<PyLshIndex> index;
    by_dtype(data, [&]<class T>() -> py::object {
      auto in = as_input<T>(data, "LshIndex.tune");
      {
        py::gil_scoped_release release;
        index.emplace(Variant(build_tuned_lsh<T>(in.view, o, &r)));
      }
      return py::none();
    });
    return py::make_tuple(std::move(*index), tune_to_dict(r));
  }

  static LshTuneOptions tune_options(std::int64_t k, double target_recall, std::int64_t memory_bytes,
                                     const std::string& family, const std::string& metric, std::int64_t max_tables,
                                     std::int64_t holdout, std::int64_t sketch_dim, bool center, double width,
                                     std::int64_t cp_dim, std::uint64_t seed) {
    LshTuneOptions o;
    o.family = parse_lsh_family(family);
    o.metric = parse_metric(metric);
    o.k = k;
    o.target_recall = target_recall;
    o.memory_bytes = memory_bytes;
    o.max_tables = max_tables;
    o.holdout = holdout;
    o.sketch_dim = sketch_dim;
    o.center = center;
    o.family_options = family_options(width, cp_dim);
    o.seed = seed;
    return o;
  }

  static py::dict tune_to_dict(const LshTuneResult& r) {
    py::dict d;
    d["family"] = std::string(r.options.family.name());
    d["tables"] = r.options.tables;
    d["hashes"] = r.options.hashes;
    d["probes"] = r.probes;
    d["bucket_width"] = r.options.family_options.width;
    d["cp_dim"] = r.options.family_options.cp_dim;
    d["model_recall"] = r.model_recall;
    d["recall"] = r.recall;
    d["candidates"] = r.candidates;
    d["adaptive_recall"] = r.adaptive_recall;
    d["adaptive_probes"] = r.adaptive_probes;
    d["memory_bytes"] = r.memory_bytes;
    d["holdout"] = r.holdout;
    return d;
  }

  static PyLshIndex load(const std::string& path) {
    py::gil_scoped_release release;
    const std::string precision = ArchiveReader(path, "lowdim.lsh").get_string("precision");
    if (precision == "float") return PyLshIndex(Variant(LshIndex<float>::load(path)));
    return PyLshIndex(Variant(LshIndex<double>::load(path)));
  }

  py::tuple knn(const py::array& queries, std::int64_t k, std::int64_t probes, std::int64_t candidates,
                std::int64_t rerank, double target_recall) const {
    LshQueryOptions q;
    q.probes = probes;
    q.candidates = candidates;
    q.rerank = rerank;
    q.target_recall = target_recall;
    return std::visit(
        [&]<class T>(const LshIndex<T>& index) -> py::tuple {
          auto in = as_input<T>(queries, "LshIndex.knn");
          LOWDIM_CHECK(k >= 1, "LshIndex.knn: k must be ≥ 1, got {}", k);
          auto ids = new_array<std::int64_t>(in.view.rows(), k);
          auto dist = new_array<T>(in.view.rows(), k);
          auto ids_view = as_output(ids);
          auto dist_view = as_output(dist);
          std::vector<LshQueryStats> stats;
          {
            py::gil_scoped_release release;
            std::shared_lock lock(*mutex_);
            index.knn(in.view, k, q, ids_view, dist_view, &stats);
          }
          return py::make_tuple(ids, dist, stats_to_dict(stats));
        },
        index_);
  }

  std::int64_t insert(const py::array& rows) {
    return std::visit(
        [&]<class T>(LshIndex<T>& index) {
          auto in = as_input<T>(rows, "LshIndex.insert");
          py::gil_scoped_release release;
          std::unique_lock lock(*mutex_);
          return index.insert(in.view);
        },
        index_);
  }

  void remove(const py::array& ids) {
    auto typed = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(ids);
    LOWDIM_CHECK(typed && typed.ndim() <= 1, "LshIndex.remove: ids must be a 1-D array of integers");
    LOWDIM_CHECK(ids.size() == 0 || py::dtype(ids.dtype()).kind() == 'i' || py::dtype(ids.dtype()).kind() == 'u',
                 "LshIndex.remove: ids must be integers, got dtype kind '{}'", py::dtype(ids.dtype()).kind());
    const std::vector<std::int64_t> list(typed.data(), typed.data() + typed.size());
    py::gil_scoped_release release;
    std::unique_lock lock(*mutex_);
    std::visit([&](auto& index) { index.remove(list); }, index_);
  }

  void save(const std::string& path) const {
    py::gil_scoped_release release;
    std::shared_lock lock(*mutex_);
    std::visit([&](const auto& index) { index.save(path); }, index_);
  }

  template <class Fn>
  auto with(Fn&& fn) const {
    std::shared_lock lock(*mutex_);
    return std::visit([&](const auto& index) { return fn(index); }, index_);
  }

  bool is_float32() const { return std::holds_alternative<LshIndex<float>>(index_); }

 private:
  Variant index_;
  std::unique_ptr<std::shared_mutex> mutex_ = std::make_unique<std::shared_mutex>();
};

py::tuple exact_knn_py(const py::array& base, const py::array& queries, std::int64_t k, const std::string& metric) {
  const Metric m = parse_metric(metric);
  const bool single = is_float32(base) && is_float32(queries);
  const auto run = [&]<class T>() -> py::tuple {
    auto b = as_input<T>(base, "exact_knn: base");
    auto q = as_input<T>(queries, "exact_knn: queries");
    LOWDIM_CHECK(k >= 1, "exact_knn: k must be ≥ 1, got {}", k);
    auto ids = new_array<std::int64_t>(q.view.rows(), k);
    auto dist = new_array<T>(q.view.rows(), k);
    auto ids_view = as_output(ids);
    auto dist_view = as_output(dist);
    {
      py::gil_scoped_release release;
      lowdim::exact_knn<T>(b.view, q.view, k, m, ids_view, dist_view);
    }
    return py::make_tuple(ids, dist);
  };
  return single ? run.template operator()<float>() : run.template operator()<double>();
}

template <class Fn>
py::array hasher_apply(const py::array& x, const char* name, Fn&& fn) {
  return by_dtype(x, [&]<class T>() -> py::array { return fn.template operator()<T>(as_input<T>(x, name).view); });
}

void bind_lsh(py::module_& m) {
  m.def(
      "lsh_families",
      [] {
        py::list out;
        for (const auto f : lsh_families()) out.append(py::make_tuple(f.name(), f.summary()));
        return out;
      },
      "The registered LSH families as (name, summary) pairs: simhash, cross_polytope, pstable.");

  m.def(
      "lsh_collision_probability",
      [](const std::string& family, double s, double width, std::int64_t cp_dim) {
        return lowdim::lsh_collision_probability(parse_lsh_family(family), s, family_options(width, cp_dim));
      },
      py::arg("family"), py::arg("s"), py::arg("width") = 0.0, py::arg("cp_dim") = 0,
      "The collision probability of one hash function for a pair at s: the angle in [0, pi] for\n"
      "simhash (1 - s/pi) and cross_polytope (simulated for cp_dim, cached), the distance for pstable\n"
      "(Datar et al., bucket width `width`).");
  m.def(
      "tune_lsh",
      [](const py::array& data, std::int64_t k, double target_recall, std::int64_t memory_bytes,
         const std::string& family, const std::string& metric, std::int64_t max_tables, std::int64_t holdout,
         std::int64_t sketch_dim, bool center, double width, std::int64_t cp_dim, std::uint64_t seed) {
        const LshTuneOptions o = PyLshIndex::tune_options(k, target_recall, memory_bytes, family, metric, max_tables,
                                                          holdout, sketch_dim, center, width, cp_dim, seed);
        std::optional<LshTuneResult> r;
        by_dtype(data, [&]<class T>() -> py::object {
          auto in = as_input<T>(data, "tune_lsh");
          {
            py::gil_scoped_release release;
            r.emplace(lowdim::tune_lsh<T>(in.view, o));
          }
          return py::none();
        });
        return PyLshIndex::tune_to_dict(*r);
      },
      py::arg("data"), py::arg("k") = 10, py::arg("target_recall") = 0.9, py::arg("memory_bytes") = 0,
      py::arg("family") = "simhash", py::arg("metric") = "euclidean", py::arg("max_tables") = 32,
      py::arg("holdout") = 0, py::arg("sketch_dim") = 0, py::arg("center") = true, py::arg("width") = 0.0,
      py::arg("cp_dim") = 0, py::arg("seed") = 0,
      "The tuner alone (no index over all of data): the report of LshIndex.tune, as a dict.");

  m.def("exact_knn", &exact_knn_py, py::arg("base"), py::arg("queries"), py::arg("k") = 10,
        py::arg("metric") = "euclidean",
        "Exact k nearest neighbours of each query row among the base rows, by blocks of the reproducible\n"
        "dense product (|q|^2 - 2 q.x + |x|^2). Returns (ids, distances), both q x k, ascending, ties to\n"
        "the smaller id. metric: euclidean, cosine or inner_product. float32 when both are float32.");

  py::class_<LshHasher>(m, "LshHasher",
                        "m hash functions of one LSH family on d-dimensional rows, drawn from a seed; a batch is\n"
                        "hashed through one product.")
      .def(py::init([](const std::string& family, std::int64_t dim, std::int64_t functions, std::uint64_t seed,
                       double width, std::int64_t cp_dim) {
             return LshHasher(parse_lsh_family(family), dim, functions, seed, family_options(width, cp_dim));
           }),
           py::arg("family"), py::arg("dim"), py::arg("functions"), py::arg("seed") = 0, py::arg("width") = 0.0,
           py::arg("cp_dim") = 0,
           "family: simhash, cross_polytope or pstable. width: the pstable bucket width w (> 0, pstable\n"
           "only). cp_dim: the cross_polytope dimension, a power of two (0: min(2^ceil(log2 d), 256)).")
      .def_property_readonly("family", [](const LshHasher& h) { return std::string(h.family().name()); },
                             "The family's registered name")
      .def_property_readonly("dim", &LshHasher::dim, "d, the dimension of the input rows")
      .def_property_readonly("functions", &LshHasher::functions, "m, the number of hash functions")
      .def_property_readonly("seed", &LshHasher::seed, "The seed the functions are drawn from")
      .def_property_readonly("bucket_width", [](const LshHasher& h) { return h.options().width; },
                             "The pstable bucket width w (0 for the other families)")
      .def_property_readonly("cp_dim", [](const LshHasher& h) { return h.options().cp_dim; },
                             "The cross_polytope dimension (0 for the other families)")
      .def_property_readonly("projections_per_function", &LshHasher::width,
                             "Projections per function: 1 (simhash, pstable) or cp_dim (cross_polytope)")
      .def_property_readonly("values", &LshHasher::values,
                             "Distinct values of one function: 2, 2 cp_dim, or 0 (pstable: unbounded)")
      .def(
          "project",
          [](const LshHasher& h, const py::array& x) {
            return hasher_apply(x, "LshHasher.project", [&]<class T>(ConstMatrixView<T> in) -> py::array {
              auto out = new_array<T>(in.rows(), h.functions() * h.width());
              auto view = as_output(out);
              {
                py::gil_scoped_release release;
                h.project<T>(in, view);
              }
              return out;
            });
          },
          py::arg("x"),
          "The projections (n x m projections_per_function): simhash a.x, pstable (a.x + b)/w,\n"
          "cross_polytope the rotated coordinates")
      .def(
          "hash",
          [](const LshHasher& h, const py::array& x) {
            return hasher_apply(x, "LshHasher.hash", [&]<class T>(ConstMatrixView<T> in) -> py::array {
              auto out = new_array<std::int64_t>(in.rows(), h.functions());
              auto view = as_output(out);
              {
                py::gil_scoped_release release;
                h.hash<T>(in, view);
              }
              return out;
            });
          },
          py::arg("x"),
          "The hash values (n x m, int64): simhash 0/1, pstable floor((a.x + b)/w), cross_polytope\n"
          "2 argmax|y_j| + (y_j < 0)")
      .def(
          "hash_projections",
          [](const LshHasher& h, const py::array& p) {
            return hasher_apply(p, "LshHasher.hash_projections", [&]<class T>(ConstMatrixView<T> in) -> py::array {
              auto out = new_array<std::int64_t>(in.rows(), h.functions());
              auto view = as_output(out);
              {
                py::gil_scoped_release release;
                h.hash_projections<T>(in, view);
              }
              return out;
            });
          },
          py::arg("projections"), "The hash values (n x m) from the output of project")
      .def(
          "simhash_codes",
          [](const LshHasher& h, const py::array& x) {
            return hasher_apply(x, "LshHasher.simhash_codes", [&]<class T>(ConstMatrixView<T> in) -> py::array {
              auto out = new_array<std::uint64_t>(in.rows(), (h.functions() + 63) / 64);
              auto view = as_output(out);
              {
                py::gil_scoped_release release;
                h.simhash_codes<T>(in, view);
              }
              return out;
            });
          },
          py::arg("x"),
          "simhash only: the m bits packed into ceil(m/64) uint64 words per row (function j is bit\n"
          "j mod 64 of word j/64)")
      .def_static(
          "hamming",
          [](const py::array& a, const py::array& b) {
            auto ta = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(a);
            auto tb = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(b);
            LOWDIM_CHECK(ta && tb, "LshHasher.hamming: codes must be arrays of uint64 words");
            return LshHasher::hamming(std::span<const std::uint64_t>(ta.data(), static_cast<std::size_t>(ta.size())),
                                      std::span<const std::uint64_t>(tb.data(), static_cast<std::size_t>(tb.size())));
          },
          py::arg("a"), py::arg("b"), "The Hamming distance of two packed codes of equal length (popcounts)");

  py::class_<PyLshIndex>(m, "LshIndex",
                         "An LSH index over the rows of a matrix (ids 0, 1, ...; inserted rows continue the ids):\n"
                         "L tables of K concatenated hashes, query-directed multi-probe, exact re-ranking to\n"
                         "exactly k results, insert/remove, save/load. Made by LshIndex.build or LshIndex.load;\n"
                         "float32 data stays float32.")
      .def_static("build", &PyLshIndex::build, py::arg("data"), py::arg("family") = "simhash",
                  py::arg("tables") = 20, py::arg("hashes") = 16, py::arg("seed") = 0,
                  py::arg("metric") = "euclidean", py::arg("width") = 0.0, py::arg("cp_dim") = 0,
                  py::arg("center") = true, py::arg("sketch_dim") = 0,
                  "Builds L = tables tables of K = hashes functions over the rows of data (n x d).\n"
                  "family: simhash, cross_polytope or pstable; metric: euclidean, cosine, inner_product;\n"
                  "width: pstable bucket width (0: from the data); cp_dim: cross_polytope dimension (0: auto);\n"
                  "center: hash x - mean with the angular families; sketch_dim: two-stage re-ranking on a\n"
                  "JL sketch of that dimension (0: exact re-ranking only).")
      .def_static("load", &PyLshIndex::load, py::arg("path"),
                  "Reads an index written by save (float32 or float64 as saved); IoError for a missing,\n"
                  "corrupt or truncated file")
      .def("save", &PyLshIndex::save, py::arg("path"), "Writes the index atomically (archive lowdim.lsh)")
      .def_static("tune", &PyLshIndex::tune, py::arg("data"), py::arg("k") = 10, py::arg("target_recall") = 0.9,
                  py::arg("memory_bytes") = 0, py::arg("family") = "simhash", py::arg("metric") = "euclidean",
                  py::arg("max_tables") = 32, py::arg("holdout") = 0, py::arg("sketch_dim") = 0,
                  py::arg("center") = true, py::arg("width") = 0.0, py::arg("cp_dim") = 0, py::arg("seed") = 0,
                  "Tunes K, L and the probes for recall@k >= target_recall on held-out rows of data within\n"
                  "memory_bytes (the index's memory_bytes, data included; 0: no budget), then builds the index\n"
                  "over all of data. Returns (index, report): report a dict with family, tables, hashes, probes,\n"
                  "model_recall, recall (held-out, at probes), candidates, adaptive_recall, adaptive_probes,\n"
                  "memory_bytes, holdout. Query with knn(probes=report['probes']) or knn(target_recall=...).")
      .def("knn", &PyLshIndex::knn, py::arg("queries"), py::arg("k") = 10, py::arg("probes") = 0,
           py::arg("candidates") = 0, py::arg("rerank") = 0, py::arg("target_recall") = 0.0,
           "The k nearest neighbours of each query row: returns (ids, distances, stats), ids and\n"
           "distances q x k (ascending, ties to the smaller id), stats a dict of per-query arrays\n"
           "(candidates, unique_candidates, probes, extra_probes, scanned, hash_seconds,\n"
           "lookup_seconds, rerank_seconds). probes: buckets looked up in all (>= tables; 0: one per\n"
           "table); candidates: probe until this many unique candidates; rerank: exact re-ranks after\n"
           "the sketch stage; target_recall: adaptive mode, probe per query until the collision model's\n"
           "recall reaches it (probes caps; 0: off; stats['estimated_recall'] gives the model's value).\n"
           "Exactly k whenever the index holds k points (more probes, then a scan).")
      .def(
          "kneighbors",
          [](const PyLshIndex& self, const py::array& x, std::int64_t n_neighbors, bool return_distance,
             std::int64_t probes, std::int64_t candidates, double target_recall) -> py::object {
            py::tuple r = self.knn(x, n_neighbors, probes, candidates, 0, target_recall);
            if (!return_distance) return r[0];
            return py::make_tuple(r[1], r[0]);
          },
          py::arg("X"), py::arg("n_neighbors") = 10, py::arg("return_distance") = true, py::arg("probes") = 0,
          py::arg("candidates") = 0, py::arg("target_recall") = 0.0,
          "As scikit-learn's NearestNeighbors.kneighbors: (distances, ids), or ids alone with\n"
          "return_distance=False")
      .def("insert", &PyLshIndex::insert, py::arg("rows"),
           "Appends rows (m x d); returns the id of the first (the others follow). Found by the next query.")
      .def("remove", &PyLshIndex::remove, py::arg("ids"),
           "Removes the ids (all or nothing); a removed id is never returned again. InvalidArgument for an\n"
           "id not in the index")
      .def("contains", [](const PyLshIndex& s, std::int64_t id) { return s.with([&](const auto& i) { return i.contains(id); }); },
           py::arg("id"), "True when id was inserted and not removed")
      .def("__len__", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.size(); }); },
           "The number of live (not removed) points")
      .def_property_readonly("size", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.size(); }); },
                             "Live (not removed) points")
      .def_property_readonly("dim", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.dim(); }); },
                             "d, the dimension of the rows")
      .def_property_readonly("next_id", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.next_id(); }); },
                             "The id the next inserted row gets")
      .def_property_readonly("dtype", [](const PyLshIndex& s) { return s.is_float32() ? "float32" : "float64"; },
                             "float32 or float64: the precision of the data held")
      .def_property_readonly(
          "family", [](const PyLshIndex& s) { return s.with([](const auto& i) { return std::string(i.options().family.name()); }); },
          "The hash family's name")
      .def_property_readonly(
          "metric", [](const PyLshIndex& s) { return s.with([](const auto& i) { return std::string(to_string(i.options().metric)); }); },
          "The distance of the re-ranking: euclidean, cosine or inner_product")
      .def_property_readonly("tables", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.options().tables; }); },
                             "L, the number of tables")
      .def_property_readonly("hashes", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.options().hashes; }); },
                             "K, the hash functions concatenated per table")
      .def_property_readonly("seed", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.options().seed; }); },
                             "The seed of every random draw")
      .def_property_readonly(
          "bucket_width", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.options().family_options.width; }); },
          "The pstable bucket width w as resolved (0 for the other families)")
      .def_property_readonly(
          "cp_dim", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.options().family_options.cp_dim; }); },
          "The cross_polytope dimension as resolved (0 for the other families)")
      .def_property_readonly("sketch_dim", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.options().sketch_dim; }); },
                             "Dimension of the re-ranking sketch (0: exact re-ranking only)")
      .def_property_readonly("memory_bytes", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.memory_bytes(); }); },
                             "Bytes the index holds: data, norms, tables, sketch, live bitset")
      .def_property_readonly(
          "table_bytes_per_point", [](const PyLshIndex& s) { return s.with([](const auto& i) { return i.table_bytes_per_point(); }); },
          "Bytes of the tables alone (keys, offsets, ids) per live point");
}

const RegisterBinder registered{&bind_lsh};

}  // namespace
