// Whitening and PCA models to and from files (through io.hpp's archive), and the
// moments of a file streamed in bounded blocks.

#include <lowdim/io.hpp>
#include <lowdim/whitening.hpp>

#include <algorithm>
#include <cmath>
#include <utility>

namespace lowdim {
namespace {

constexpr std::uint32_t kWhiteningFormat = 1;
constexpr std::uint32_t kPcaFormat = 1;

Matrix<double> row_of(std::span<const double> values) {
  auto m = Matrix<double>::uninitialized(1, static_cast<std::int64_t>(values.size()));
  std::copy(values.begin(), values.end(), m.data());
  return m;
}

void check_version(const ArchiveReader& in, std::uint32_t supported, const std::string& path, const char* what) {
  if (in.version() > supported)
    LOWDIM_THROW(io_error, "{}: {} was written in {} format version {}; this build reads up to version {}", what, path,
                 what, in.version(), supported);
}

// Reads a matrix entry and checks its shape and that every value is finite.
// m, read from the archive entry `name`, checked to be rows × cols and finite.
Matrix<double> checked(Matrix<double> m, const std::string& name, std::int64_t rows, std::int64_t cols,
                       const std::string& path, const char* what) {
  if (m.rows() != rows || m.cols() != cols)
    LOWDIM_THROW(io_error, "{}: {} is corrupt: '{}' is {} x {}, expected {} x {}", what, path, name, m.rows(),
                 m.cols(), rows, cols);
  if (auto bad = find_non_finite<double>(m.cview()))
    LOWDIM_THROW(io_error, "{}: {} is corrupt: '{}' holds {} at row {}, column {}", what, path, name, bad->value,
                 bad->row, bad->col);
  return m;
}

Matrix<double> get_checked(const ArchiveReader& in, const std::string& name, std::int64_t rows, std::int64_t cols,
                           const std::string& path, const char* what) {
  return checked(in.get_matrix<double>(name), name, rows, cols, path, what);
}

std::vector<double> flat(const Matrix<double>& m) { return {m.data(), m.data() + m.size()}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Whitening

void Whitening::save(const std::string& path) const {
  LOWDIM_CHECK(!w_.empty(), "whitening: save before fit");
  ArchiveWriter out("lowdim.whitening", kWhiteningFormat);
  out.put("kind", std::string(to_string(options_.kind)));
  out.put("components", options_.components);
  out.put("epsilon", options_.epsilon);
  out.put("rank_tolerance", options_.rank_tolerance);
  out.put("normalize", std::int64_t{options_.normalize ? 1 : 0});
  out.put("ddof", options_.ddof);
  out.put("samples", samples_);
  out.put<double>("mean", row_of(mean_).cview());
  out.put<double>("eigenvalues", row_of(eigenvalues_).cview());
  out.put<double>("W", w_.cview());
  out.put<double>("M", m_.cview());
  out.save(path);
}

Whitening Whitening::load(const std::string& path) {
  constexpr const char* what = "whitening";
  ArchiveReader in(path, "lowdim.whitening");
  check_version(in, kWhiteningFormat, path, what);
  Whitening w;
  const std::string kind = in.get_string("kind");
  try {
    w.options_.kind = parse_whitening_kind(kind);
  } catch (const invalid_argument&) {
    LOWDIM_THROW(io_error, "whitening: {} is corrupt: unknown kind '{}'", path, kind);
  }
  w.options_.components = in.get_int("components");
  w.options_.epsilon = in.get_double("epsilon");
  w.options_.rank_tolerance = in.get_double("rank_tolerance");
  w.options_.normalize = in.get_int("normalize") != 0;
  w.options_.ddof = in.get_int("ddof");
  w.samples_ = in.get_int("samples");
  auto mean = in.get_matrix<double>("mean");
  const std::int64_t d = mean.cols();
  auto wm = in.get_matrix<double>("W");
  const std::int64_t k = wm.cols();
  if (mean.rows() != 1 || d < 1 || k < 1 || k > d || w.samples_ < 2)
    LOWDIM_THROW(io_error, "whitening: {} is corrupt: mean is {} x {}, W is {} x {}, {} samples", path, mean.rows(),
                 mean.cols(), wm.rows(), wm.cols(), w.samples_);
  w.mean_ = flat(checked(std::move(mean), "mean", 1, d, path, what));
  w.eigenvalues_ = flat(get_checked(in, "eigenvalues", 1, d, path, what));
  w.w_ = checked(std::move(wm), "W", d, k, path, what);
  w.m_ = get_checked(in, "M", k, d, path, what);
  w.prepare_float_copies();
  return w;
}

// ---------------------------------------------------------------------------------------------
// PCA

void Pca::save(const std::string& path) const {
  LOWDIM_CHECK(!components_.empty(), "pca: save before fit");
  ArchiveWriter out("lowdim.pca", kPcaFormat);
  out.put("samples", samples_);
  out.put("total_variance", total_variance_);
  out.put<double>("mean", row_of(mean_).cview());
  out.put<double>("explained_variance", row_of(variance_).cview());
  out.put<double>("components", components_.cview());
  out.save(path);
}

Pca Pca::load(const std::string& path) {
  constexpr const char* what = "pca";
  ArchiveReader in(path, "lowdim.pca");
  check_version(in, kPcaFormat, path, what);
  Pca p;
  p.samples_ = in.get_int("samples");
  p.total_variance_ = in.get_double("total_variance");
  auto c = in.get_matrix<double>("components");
  const std::int64_t k = c.rows(), d = c.cols();
  if (k < 1 || d < 1 || k > d || p.samples_ < 2 || !(p.total_variance_ >= 0))
    LOWDIM_THROW(io_error, "pca: {} is corrupt: components are {} x {}, {} samples, total variance {}", path, k, d,
                 p.samples_, p.total_variance_);
  p.mean_ = flat(get_checked(in, "mean", 1, d, path, what));
  p.variance_ = flat(get_checked(in, "explained_variance", 1, k, path, what));
  p.components_ = checked(std::move(c), "components", k, d, path, what);
  // The components are orthonormal rows: a row of another length is a corrupt file (O(k·d)).
  for (std::int64_t i = 0; i < k; ++i) {
    double norm2 = 0;
    for (std::int64_t j = 0; j < d; ++j) norm2 += p.components_(i, j) * p.components_(i, j);
    if (!(std::abs(norm2 - 1) <= 1e-6))
      LOWDIM_THROW(io_error, "pca: {} is corrupt: component {} has norm {}, not 1", path, i, std::sqrt(norm2));
  }
  p.prepare_float_copies();
  return p;
}

// ---------------------------------------------------------------------------------------------
// Moments of a file

Moments Moments::from_file(const std::string& path, std::int64_t block_rows, ScatterPrecision precision,
                           const std::function<void(std::int64_t, std::int64_t)>& progress) {
  LOWDIM_CHECK(block_rows >= 1, "moments: block_rows must be positive, not {}", block_rows);
  const ArrayInfo info = probe(path);
  LOWDIM_CHECK(info.rows() >= 1 && info.cols() >= 1, "moments: {} holds no data ({} x {})", path, info.rows(),
               info.cols());
  Moments m(info.cols(), precision);
  const auto feed = [&](auto view) {
    // Row numbers in a NaN message are relative to the block: make them absolute.
    for (std::int64_t r0 = 0; r0 < view.rows(); r0 += block_rows) {
      const std::int64_t nr = std::min(block_rows, view.rows() - r0);
      try {
        m.update(view.row_block(r0, nr));
      } catch (const invalid_argument&) {
        if (auto bad = find_non_finite(view.row_block(r0, nr)))
          LOWDIM_THROW(invalid_argument, "moments: {}: non-finite value {} at row {}, column {}", path, bad->value,
                       r0 + bad->row, bad->col);
        throw;
      }
      if (progress) progress(r0 + nr, view.rows());
    }
  };
  if (info.format == FileFormat::npy && !info.gzip) {
    MappedNpy map(path);
    // Zero-copy: the kernel pages the file in and out; our memory is one block's scratch.
    if (map.viewable<float>()) {
      feed(map.view<float>());
      return m;
    }
    if (map.viewable<double>()) {
      feed(map.view<double>());
      return m;
    }
  }
  RowReader reader(path);
  const auto read_all = [&](auto tag) {
    using T = decltype(tag);
    auto buffer = Matrix<T>::uninitialized(std::min(block_rows, reader.rows()), reader.cols());
    std::int64_t done = 0;
    while (const std::int64_t got = reader.read<T>(buffer.view())) {
      auto block = buffer.cview().row_block(0, got);
      if (auto bad = find_non_finite<T>(block))
        LOWDIM_THROW(invalid_argument, "moments: {}: non-finite value {} at row {}, column {}", path, bad->value,
                     done + bad->row, bad->col);
      m.update<T>(block);
      done += got;
      if (progress) progress(done, reader.rows());
    }
  };
  // float32 and the small integer dtypes (IDX is uint8) are exact in float; the rest go to double.
  const bool fits_float = info.dtype == DType::float32 || info.dtype == DType::uint8 || info.dtype == DType::int8 ||
                          info.dtype == DType::uint16 || info.dtype == DType::int16;
  if (fits_float)
    read_all(float{});
  else
    read_all(double{});
  return m;
}

}  // namespace lowdim
