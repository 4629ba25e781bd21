// The extension module `lowdim._lowdim` (the package `lowdim` re-exports it; python/lowdim/):
// NumPy arrays in and out, no copy of an input
// whose rows are contiguous (any row stride), the GIL released during work.
// float32 arrays run the float path, float64 the double path; other dtypes are
// converted to float64.

#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>
#include <lowdim/linalg.hpp>
#include <lowdim/rsvd.hpp>
#include <lowdim/sketch.hpp>
#include <lowdim/version.hpp>
#include <lowdim/whitening.hpp>

#include "common.hpp"

#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

namespace py = pybind11;
using namespace lowdim;
using namespace lowdim::python;

namespace {

py::array sketch_apply(const SketchOperator& op, const py::array& x, bool transpose) {
  return by_dtype(x, [&]<class T>() -> py::array {
    auto in = as_input<T>(x, transpose ? "Sketch.apply_transpose" : "Sketch.apply");
    auto out = new_array<T>(in.view.rows(), transpose ? op.input_dim() : op.output_dim());
    auto view = as_output(out);
    {
      py::gil_scoped_release release;
      if (transpose) {
        op.apply_transpose<T>(in.view, view);
      } else {
        op.apply<T>(in.view, view);
      }
    }
    return out;
  });
}

// An option a method does not use is refused by lowdim::svd (InvalidArgument naming it).
py::tuple svd_py(const py::array& a, std::int64_t rank, const std::string& method, std::uint64_t seed, double tol,
                 std::int64_t oversampling, int power_iterations, std::int64_t block_size, const std::string& sketch) {
  SvdOptions options;
  options.method = parse_svd_method(method);
  options.rank = rank;
  options.tol = tol;
  options.seed = seed;
  options.oversampling = oversampling;
  options.power_iterations = power_iterations;
  options.block_size = block_size;
  options.sketch = parse_sketch_kind(sketch);
  return by_dtype(a, [&]<class T>() -> py::object {
           auto in = as_input<T>(a, "svd");
           std::optional<SvdResult<T>> result;
           {
             py::gil_scoped_release release;
             result.emplace(lowdim::svd<T>(in.view, options));
           }
           return py::make_tuple(to_numpy(result->u), to_numpy(result->s), to_numpy(result->vt));
         })
      .cast<py::tuple>();
}

Whitening fit_whitening(const py::array& x, const std::string& kind, std::int64_t k, double epsilon,
                        double rank_tolerance, bool normalize) {
  WhiteningOptions options;
  options.kind = parse_whitening_kind(kind);
  options.components = k;
  options.epsilon = epsilon;
  options.rank_tolerance = rank_tolerance;
  options.normalize = normalize;
  std::optional<Whitening> model;
  by_dtype(x, [&]<class T>() -> py::object {
    auto in = as_input<T>(x, "Whitening.fit");
    {
      py::gil_scoped_release release;
      model.emplace(Whitening::fit<T>(in.view, options));
    }
    return py::none();  // with the GIL held again
  });
  return std::move(*model);
}

py::array whitening_apply(const Whitening& w, const py::array& x, bool inverse) {
  return by_dtype(x, [&]<class T>() -> py::array {
    auto in = as_input<T>(x, inverse ? "Whitening.inverse_transform" : "Whitening.transform");
    auto out = new_array<T>(in.view.rows(), inverse ? w.dim() : w.output_dim());
    auto view = as_output(out);
    {
      py::gil_scoped_release release;
      if (inverse) {
        w.inverse_transform<T>(in.view, view);
      } else {
        w.transform<T>(in.view, view);
      }
    }
    return out;
  });
}

Pca fit_pca(const py::array& x, std::int64_t k, const std::string& solver, std::uint64_t seed,
            std::int64_t sketch_size) {
  PcaOptions options;
  options.components = k;
  LOWDIM_CHECK(solver == "exact" || solver == "randomized", "Pca.fit: solver must be exact or randomized, not '{}'",
               solver);
  options.solver = solver == "exact" ? PcaSolver::exact : PcaSolver::randomized;
  LOWDIM_CHECK(options.solver == PcaSolver::randomized || (seed == 0 && sketch_size == 0),
               "Pca.fit: seed and sketch_size are used by the randomized solver only (solver = '{}')", solver);
  options.seed = seed;
  options.sketch_size = sketch_size;
  std::optional<Pca> model;
  by_dtype(x, [&]<class T>() -> py::object {
    auto in = as_input<T>(x, "Pca.fit");
    {
      py::gil_scoped_release release;
      model.emplace(Pca::fit<T>(in.view, options));
    }
    return py::none();
  });
  return std::move(*model);
}

// transform / inverse_transform of a fitted model with dim() inputs and output_dim() outputs.
template <class Model>
py::array model_apply(const Model& model, const py::array& x, bool inverse, const char* name) {
  return by_dtype(x, [&]<class T>() -> py::array {
    const std::string who = fmt::format("{}.{}", name, inverse ? "inverse_transform" : "transform");
    auto in = as_input<T>(x, who.c_str());
    const std::int64_t out_dim = inverse ? model.dim() : model.components_count();
    auto out = new_array<T>(in.view.rows(), out_dim);
    auto view = as_output(out);
    {
      py::gil_scoped_release release;
      if (inverse)
        model.template inverse_transform<T>(in.view, view);
      else
        model.template transform<T>(in.view, view);
    }
    return out;
  });
}

py::array projection_apply(const RandomProjection& p, const py::array& x, bool inverse) {
  return by_dtype(x, [&]<class T>() -> py::array {
    auto in = as_input<T>(x, inverse ? "RandomProjection.inverse_transform" : "RandomProjection.transform");
    auto out = new_array<T>(in.view.rows(), inverse ? p.input_dim() : p.output_dim());
    auto view = as_output(out);
    {
      py::gil_scoped_release release;
      if (inverse) {
        p.inverse_transform<T>(in.view, view);
      } else {
        p.transform<T>(in.view, view);
      }
    }
    return out;
  });
}

py::dict distortion_to_dict(const DistortionReport& report) {
  py::dict d;
  d["n_points"] = report.n_points;
  d["dim"] = report.dim;
  d["pairs"] = report.pairs;
  d["zero_distance_pairs"] = report.zero_distance_pairs;
  d["eps"] = report.eps;
  d["min_dim_bound"] = report.min_dim_bound;
  py::list results;
  for (const auto& r : report.results) {
    py::dict row;
    row["kind"] = to_string(r.kind);
    row["k"] = r.k;
    row["mean"] = r.mean;
    row["std"] = r.std;
    row["min"] = r.min;
    row["max"] = r.max;
    row["q01"] = r.q01;
    row["q05"] = r.q05;
    row["q50"] = r.q50;
    row["q95"] = r.q95;
    row["q99"] = r.q99;
    row["within_eps"] = r.within_eps;
    row["inner_mean_abs_error"] = r.inner_mean_abs_error;
    row["cosine_mean_abs_error"] = r.cosine_mean_abs_error;
    if (!r.ratios.empty()) row["ratios"] = to_numpy(r.ratios);
    results.append(row);
  }
  d["results"] = results;
  return d;
}

}  // namespace

PYBIND11_MODULE(_lowdim, m) {
  m.doc() = "lowdim: dimensionality reduction and randomized linear algebra (Johnson-Lindenstrauss)";
  m.attr("__version__") = version();

  // lowdim errors become Python exceptions of matching kinds.
  static py::exception<lowdim::error> base(m, "Error", PyExc_RuntimeError);
  static py::exception<lowdim::invalid_argument> invalid(m, "InvalidArgument", PyExc_ValueError);
  static py::exception<lowdim::io_error> io(m, "IoError", PyExc_OSError);
  static py::exception<lowdim::numerical_error> numerical(m, "NumericalError", base.ptr());
  base.attr("__doc__") = "Base of the errors lowdim raises (a failed computation or a user error).";
  invalid.attr("__doc__") = "An argument lowdim cannot accept: a value, a shape or a dtype (also a ValueError).";
  io.attr("__doc__") = "A file that cannot be opened, read, parsed or written (also an OSError).";
  numerical.attr("__doc__") = "A numerical routine failed, e.g. a factorization (a lowdim.Error).";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const lowdim::invalid_argument& e) {
      PyErr_SetString(invalid.ptr(), e.what());
    } catch (const lowdim::io_error& e) {
      PyErr_SetString(io.ptr(), e.what());
    } catch (const lowdim::numerical_error& e) {
      PyErr_SetString(numerical.ptr(), e.what());
    } catch (const lowdim::error& e) {
      PyErr_SetString(base.ptr(), e.what());
    }
  });

  m.def("set_num_threads", &linalg::set_num_threads, py::arg("threads"),
        "Threads for lowdim's OpenMP loops and OpenBLAS.");
  m.def("blas_info", &linalg::blas_info,
        "OpenBLAS's configuration, the core it runs on and its thread count, as one line.");
  m.def(
      "sketch_kinds",
      [] {
        py::list kinds;
        for (const auto kind : sketch_kinds()) kinds.append(py::make_tuple(kind.name(), kind.summary()));
        return kinds;
      },
      "The registered operator kinds as (name, summary) pairs.");
  m.def("dense_kernel_isa", [] { return std::string(dense_kernel_isa()); },
        "Instruction set of the dense kernel: avx512, avx2 or generic (identical results).");

  py::class_<SketchOperator>(m, "Sketch", "A random k x d sketch S applied to rows: Y = X S^T (n x d -> n x k).")
      .def(py::init([](const std::string& kind, std::int64_t d, std::int64_t k, std::uint64_t seed, double density,
                       bool jl_scaling, const std::string& row_norms) {
             return SketchOperator(parse_sketch_kind(kind), d, k, seed,
                                   SketchOptions{density, jl_scaling, parse_row_norms(row_norms)});
           }),
           py::arg("kind"), py::arg("input_dim"), py::arg("output_dim"), py::arg("seed") = 0,
           py::arg("density") = 0.0, py::arg("jl_scaling") = true, py::arg("row_norms") = "chi",
           "kind: one of sketch_kinds(). density: 0 = the kind's default. jl_scaling: E|Sx|^2 = |x|^2. "
           "row_norms: chi or sqrt_d (orthogonal and simplex).")
      .def_property_readonly("kind", [](const SketchOperator& s) { return to_string(s.kind()); },
                             "The kind's registered name")
      .def_property_readonly("input_dim", &SketchOperator::input_dim, "d, the dimension of the input rows")
      .def_property_readonly("output_dim", &SketchOperator::output_dim, "k, the dimension of the output rows")
      .def_property_readonly("seed", &SketchOperator::seed, "The seed S is drawn from")
      .def_property_readonly("orthogonal", &SketchOperator::orthogonal, "True when S S^T = gram_scale I")
      .def_property_readonly("gram_scale", &SketchOperator::gram_scale, "c when S S^T = c I, else 0")
      .def_property_readonly("padded_dim", &SketchOperator::padded_dim,
                             "The power of two the Hadamard kinds pad d to (d for the others)")
      .def_property_readonly("cached", &SketchOperator::cached, "True for the materialized (cached) form")
      .def_property_readonly("cached_bytes", &SketchOperator::cached_bytes,
                             "Bytes the cached form keeps in memory (0 when matrix-free)")
      .def("materialized", &SketchOperator::materialized,
           "The cached form: same output bits, S (or what is regenerated per call) kept in memory, "
           "for small batches such as one query")
      .def("apply", [](const SketchOperator& s, const py::array& x) { return sketch_apply(s, x, false); },
           py::arg("x"), "Y (n x k) = X (n x d) S^T")
      .def("apply_transpose", [](const SketchOperator& s, const py::array& y) { return sketch_apply(s, y, true); },
           py::arg("y"), "X (n x d) = Y (n x k) S")
      .def("materialize",
           [](const SketchOperator& s, const std::string& dtype) -> py::array {
             if (dtype == "float32") return to_numpy(s.materialize<float>());
             LOWDIM_CHECK(dtype == "float64", "Sketch.materialize: dtype must be float32 or float64, not {}", dtype);
             return to_numpy(s.materialize<double>());
           },
           py::arg("dtype") = "float64", "The dense k x d matrix S");

  m.def(
      "min_dim",
      [](std::int64_t n, double eps, std::optional<double> delta) {
        return delta ? lowdim::min_dim(n, eps, *delta) : lowdim::min_dim(n, eps);
      },
      py::arg("n_points"), py::arg("eps"), py::arg("delta") = py::none(),
      "Smallest k of the JL bound ceil(4 ln n / (eps^2/2 - eps^3/3)), rounded up (optionally with failure "
      "probability delta).");
  m.def(
      "guaranteed_eps",
      [](std::int64_t k, std::int64_t n, std::optional<double> delta) {
        return delta ? lowdim::guaranteed_eps(k, n, *delta) : lowdim::guaranteed_eps(k, n);
      },
      py::arg("k"), py::arg("n_points"), py::arg("delta") = py::none(), "The eps that k dimensions guarantee.");

  py::class_<RandomProjection>(m, "RandomProjection", "f(x) = S x with a sketch operator (description only).")
      .def(py::init([](std::int64_t input_dim, std::int64_t k, const std::string& kind, double eps,
                       std::int64_t n_points, std::uint64_t seed, double density) {
             RandomProjectionOptions options;
             options.kind = parse_sketch_kind(kind);
             options.k = k;
             options.eps = eps;
             options.n_points = n_points;
             options.seed = seed;
             options.sketch.density = density;
             RandomProjection p;
             p.fit(input_dim, options);
             return p;
           }),
           py::arg("input_dim"), py::arg("k") = 0, py::arg("kind") = "gaussian", py::arg("eps") = 0.1,
           py::arg("n_points") = 0, py::arg("seed") = 0, py::arg("density") = 0.0,
           "k = 0 picks min_dim(n_points, eps).")
      .def_property_readonly("input_dim", &RandomProjection::input_dim, "d, the dimension of the input rows")
      .def_property_readonly("output_dim", &RandomProjection::output_dim, "k, the dimension of the output rows")
      .def_property_readonly("sketch", &RandomProjection::sketch, "The sketch operator S (k x d) of the projection")
      .def("transform", [](const RandomProjection& p, const py::array& x) { return projection_apply(p, x, false); },
           py::arg("x"), "y (n x k) = S x for the rows of x (n x d); float32 stays float32")
      .def("inverse_transform",
           [](const RandomProjection& p, const py::array& y) { return projection_apply(p, y, true); }, py::arg("y"),
           "x (n x d) = S^+ y, the least-squares preimage of minimal norm")
      .def("save", &RandomProjection::save, py::arg("path"), "Write the description (kind, d, k, seed) atomically")
      .def_static("load", &RandomProjection::load, py::arg("path"),
                  "Read a saved projection; IoError for a missing, corrupt or foreign file");

  m.def(
      "measure_distortion",
      [](const py::array& x, const std::vector<std::string>& kinds, const std::vector<std::int64_t>& dims, double eps,
         std::int64_t pairs, std::uint64_t seed, bool keep_ratios) {
        DistortionOptions options;
        options.kinds.clear();
        for (const auto& k : kinds) options.kinds.push_back(parse_sketch_kind(k));
        options.dims = dims;
        options.eps = eps;
        options.pairs = pairs;
        options.seed = seed;
        options.keep_ratios = keep_ratios;
        std::optional<DistortionReport> report;
        by_dtype(x, [&]<class T>() -> py::object {
          auto in = as_input<T>(x, "measure_distortion");
          {
            py::gil_scoped_release release;
            report.emplace(lowdim::measure_distortion<T>(in.view, options));
          }
          return py::none();  // with the GIL held again
        });
        return distortion_to_dict(*report);
      },
      py::arg("x"), py::arg("kinds") = std::vector<std::string>{"gaussian", "sparse", "srht"},
      py::arg("dims") = std::vector<std::int64_t>{16, 32, 64, 128, 256}, py::arg("eps") = 0.1,
      py::arg("pairs") = 10000, py::arg("seed") = 0, py::arg("keep_ratios") = false,
      "JL distortion experiment: squared-distance ratios of sampled pairs for each kind and k.");

  m.def(
      "dense_product",
      [](const py::array& a, const py::array& b, bool trans_a, bool trans_b) -> py::array {
        const bool single = is_float32(a) && is_float32(b);
        const auto run = [&]<class T>() -> py::array {
          auto in_a = as_input<T>(a, "dense_product");
          auto in_b = as_input<T>(b, "dense_product");
          const std::int64_t m = trans_a ? in_a.view.cols() : in_a.view.rows();
          const std::int64_t n = trans_b ? in_b.view.rows() : in_b.view.cols();
          auto out = new_array<T>(m, n);
          auto view = as_output(out);
          {
            py::gil_scoped_release release;
            linalg::gemm_reproducible<T>(trans_a ? Op::transpose : Op::none, trans_b ? Op::transpose : Op::none,
                                         T(1), in_a.view, in_b.view, T(0), view);
          }
          return out;
        };
        return single ? run.template operator()<float>() : run.template operator()<double>();
      },
      py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
      "op(a) @ op(b) by lowdim's reproducible dense product: the same bits on any thread count and for\n"
      "any split of the rows of op(a) into separate calls. float32 when both are float32, else float64.");

  m.def("svd", &svd_py, py::arg("a"), py::arg("rank") = 0, py::arg("method") = "krylov", py::arg("seed") = 0,
        py::arg("tol") = 0.0, py::arg("oversampling") = -1, py::arg("power_iterations") = -1,
        py::arg("block_size") = -1, py::arg("sketch") = "gaussian",
        "Randomized SVD of a (m x n): returns U (m x k), s (k), Vt (k x n). method: krylov (default: block "
        "Krylov, depth chosen by a residual check), rsvd, qb (fixed accuracy: tol), single-pass. -1 means the "
        "method's default; an option the method does not use raises InvalidArgument.");

  py::class_<Whitening>(m, "Whitening", "y = (x - mu) W with cov(y) = I (Kessy, Lewin & Strimmer 2018).")
      .def_static("fit", &fit_whitening, py::arg("x"), py::arg("kind") = "zca", py::arg("k") = 0,
                  py::arg("epsilon") = 0.0, py::arg("rank_tolerance") = 0.0, py::arg("normalize") = false,
                  "Fit on the rows of x (n x d). kind: pca, zca, cholesky, zca-cor, pca-cor.")
      .def_static("load", &Whitening::load, py::arg("path"),
                  "Read a saved model; IoError for a missing, corrupt or foreign file")
      .def("save", &Whitening::save, py::arg("path"), "Write the fitted model atomically")
      .def_property_readonly("kind", [](const Whitening& w) { return to_string(w.kind()); }, "The whitening kind")
      .def_property_readonly("input_dim", &Whitening::dim, "d, the dimension of the input rows")
      .def_property_readonly("output_dim", &Whitening::output_dim, "k, the dimension of the output rows")
      .def_property_readonly("mean", [](const Whitening& w) { return to_numpy(w.mean()); }, "mu, the mean (d)")
      .def_property_readonly(
          "matrix", [](const Whitening& w) { return to_numpy(Matrix<double>::copy_of(w.matrix())); },
          "W (d x k), the whitening matrix: y = (x - mu) W")
      .def("transform", [](const Whitening& w, const py::array& x) { return whitening_apply(w, x, false); },
           py::arg("x"), "y (n x k) = (x - mu) W for the rows of x (n x d)")
      .def("inverse_transform", [](const Whitening& w, const py::array& y) { return whitening_apply(w, y, true); },
           py::arg("y"), "x (n x d) = y W^+ + mu, exact when k = d");

  py::class_<Pca>(m, "Pca", "Principal component analysis: y = (x - mu) C^T, C the k x d unit components.")
      .def_static("fit", &fit_pca, py::arg("x"), py::arg("k") = 0, py::arg("solver") = "exact",
                  py::arg("seed") = 0, py::arg("sketch_size") = 0,
                  "Fit on the rows of x (n x d, n >= 2). k = 0: min(d, n - 1) (exact solver). solver: exact "
                  "(eigh of the covariance) or randomized (single-pass sketch, then Rayleigh-Ritz).")
      .def_static("load", &Pca::load, py::arg("path"),
                  "Read a saved model; IoError for a missing, corrupt or foreign file")
      .def("save", &Pca::save, py::arg("path"), "Write the fitted model atomically")
      .def_property_readonly("input_dim", &Pca::dim, "d, the dimension of the input rows")
      .def_property_readonly("output_dim", &Pca::components_count, "k, the number of components")
      .def_property_readonly("samples", &Pca::samples, "n, the rows the model was fitted on")
      .def_property_readonly("mean", [](const Pca& p) { return to_numpy(p.mean()); }, "mu, the mean (d)")
      .def_property_readonly("components",
                             [](const Pca& p) { return to_numpy(Matrix<double>::copy_of(p.components())); },
                             "k x d, one unit component per row, largest variance first")
      .def_property_readonly("explained_variance", [](const Pca& p) { return to_numpy(p.explained_variance()); },
                             "Variance along each component (k), the covariance's eigenvalues")
      .def_property_readonly("explained_variance_ratio",
                             [](const Pca& p) { return to_numpy(p.explained_variance_ratio()); },
                             "explained_variance / total_variance (k)")
      .def_property_readonly("singular_values", [](const Pca& p) { return to_numpy(p.singular_values()); },
                             "Singular values of the centred data, sqrt((n - 1) explained_variance) (k)")
      .def_property_readonly("total_variance", &Pca::total_variance, "The trace of the covariance")
      .def("transform", [](const Pca& p, const py::array& x) { return model_apply(p, x, false, "Pca"); },
           py::arg("x"), "y (n x k) = (x - mu) C^T for the rows of x (n x d)")
      .def("inverse_transform", [](const Pca& p, const py::array& y) { return model_apply(p, y, true, "Pca"); },
           py::arg("y"), "x (n x d) = y C + mu, the reconstruction from k components");

  m.def(
      "bert_whitening",
      [](const py::array& x, std::int64_t k, bool normalize, bool fast) {
        BertWhiteningOptions options;
        options.components = k;
        options.normalize = normalize;
        options.precision = fast ? ScatterPrecision::block_float : ScatterPrecision::double_precision;
        std::optional<Whitening> model;
        by_dtype(x, [&]<class T>() -> py::object {
          auto in = as_input<T>(x, "bert_whitening");
          {
            py::gil_scoped_release release;
            model.emplace(fit_bert_whitening<T>(in.view, options));
          }
          return py::none();  // with the GIL held again
        });
        return std::move(*model);
      },
      py::arg("x"), py::arg("k") = 256, py::arg("normalize") = false, py::arg("fast") = false,
      "BERT-whitening (Su et al. 2021): PCA whitening keeping k dimensions. fast=True sums the\n"
      "covariance in float32 panels (float32 or float64 input): about 1.8x faster, ~1e-5 relative error.");

  m.def(
      "read",
      [](const std::string& path, const std::string& dtype, bool mmap) -> py::array {
        LOWDIM_CHECK(dtype == "float32" || dtype == "float64", "read: dtype must be float32 or float64, not {}", dtype);
        const auto load = [&]<class T>() -> py::array {
          std::unique_ptr<MatrixFile<T>> file;
          std::optional<Matrix<T>> copy;
          {
            py::gil_scoped_release release;
            if (mmap)
              file = std::make_unique<MatrixFile<T>>(path);
            else
              copy.emplace(read_matrix<T>(path));
          }
          if (!mmap) return to_numpy(*copy);
          // The array reads the file (or MatrixFile's own copy) in place; the capsule keeps it alive.
          const ConstMatrixView<T> v = file->view();
          const bool mapped = file->mapped();
          py::capsule owner(file.release(), [](void* p) { delete static_cast<MatrixFile<T>*>(p); });
          py::array_t<T> out({v.rows(), v.cols()},
                             {static_cast<py::ssize_t>(sizeof(T)) * v.stride(), static_cast<py::ssize_t>(sizeof(T))},
                             v.data(), owner);
          if (mapped) py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
          return out;
        };
        return dtype == "float32" ? load.operator()<float>() : load.operator()<double>();
      },
      py::arg("path"), py::arg("dtype") = "float32", py::arg("mmap") = true,
      "Read .npy, IDX (.gz too) or .fvecs as a rows x cols array of dtype. With mmap=True (the\n"
      "default) an uncompressed .npy already of that dtype, C order, is memory-mapped: the array is\n"
      "read-only and reads the file in place (no copy); every other file is read into memory.\n"
      "mmap=False always returns a writeable copy.");
  m.def(
      "write_npy",
      [](const std::string& path, const py::array& x) {
        by_dtype(x, [&]<class T>() -> py::object {
          auto in = as_input<T>(x, "write_npy");
          {
            py::gil_scoped_release release;
            write_npy<T>(path, in.view);
          }
          return py::none();  // with the GIL held again
        });
      },
      py::arg("path"), py::arg("x"), "Write a 2-D array as .npy, atomically.");

  for (Binder bind : binders()) bind(m);
}
