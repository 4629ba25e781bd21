// libFuzzer target: the model loaders (RandomProjection, Whitening, Pca, LshIndex<float>,
// LshIndex<double>). The first byte picks the loader (low bits) and the mode (bit 3): with it
// set, the rest is archive content whose prelude and CRC are computed here, so the loaders'
// own consistency checks are reached behind a valid CRC; otherwise the rest is the whole file.
// A model that loads is then used: it transforms (or answers a query for) a few rows of the
// dimension it claims, when that dimension is small enough to try.
#include "fuzz_common.hpp"

#include <lowdim/jl.hpp>
#include <lowdim/lsh.hpp>
#include <lowdim/whitening.hpp>

#include <zlib.h>

#include <vector>

namespace {

constexpr std::int64_t kMaxDim = 1 << 12;  // larger claimed models load, but are not applied

template <class T>
lowdim::Matrix<T> rows(std::int64_t n, std::int64_t d) {
  lowdim::Matrix<T> x(n, d);
  for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>((i % 7) - 3) * T(0.5);
  return x;
}

template <class T>
void lsh(const std::string& path) {
  const auto index = lowdim::LshIndex<T>::load(path);
  if (index.dim() < 1 || index.dim() > kMaxDim || index.size() < 1) return;
  const auto q = rows<T>(2, index.dim());
  const std::int64_t k = std::min<std::int64_t>(3, index.size());
  lowdim::Matrix<std::int64_t> ids(2, k);
  lowdim::Matrix<T> distances(2, k);
  index.knn(q.cview(), k, {}, ids.view(), distances.view());
  for (std::int64_t i = 0; i < ids.size(); ++i)
    if (!index.contains(ids.data()[i])) std::abort();  // exactly k live points, as documented
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  ++data;
  --size;
  std::vector<std::uint8_t> file;
  if (mode & 8) {
    file = {'L', 'O', 'W', 'D', 'I', 'M', 'A', 'R', 1, 0, 0, 0};
    for (int k = 0; k < 8; ++k) file.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(size) >> (8 * k)));
    file.insert(file.end(), data, data + size);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size));
    for (int k = 0; k < 4; ++k) file.push_back(static_cast<std::uint8_t>(crc >> (8 * k)));
  } else {
    file.assign(data, data + size);
  }
  const std::string path = lowdim::fuzz::write_input("model.ldm", file.data(), file.size());
  try {
    switch ((mode & 7) % 5) {
      case 0: {
        const auto p = lowdim::RandomProjection::load(path);
        if (p.input_dim() <= kMaxDim && p.output_dim() <= kMaxDim) {
          const auto y = p.transform<float>(rows<float>(3, p.input_dim()).cview());
          if (y.rows() != 3 || y.cols() != p.output_dim()) std::abort();
        }
        break;
      }
      case 1: {
        const auto w = lowdim::Whitening::load(path);
        if (w.dim() >= 1 && w.dim() <= kMaxDim) {
          const auto y = w.transform<double>(rows<double>(3, w.dim()).cview());
          if (y.rows() != 3 || y.cols() != w.output_dim()) std::abort();
        }
        break;
      }
      case 2: {
        const auto p = lowdim::Pca::load(path);
        if (p.dim() >= 1 && p.dim() <= kMaxDim) {
          const auto y = p.transform<float>(rows<float>(3, p.dim()).cview());
          if (y.rows() != 3 || y.cols() != p.components_count()) std::abort();
          (void)p.inverse_transform<float>(y.cview());
        }
        break;
      }
      case 3: lsh<float>(path); break;
      default: lsh<double>(path); break;
    }
  } catch (const lowdim::error&) {
    // io_error from the loader; a model that loads may still refuse an input with a clear
    // lowdim error (a finite but huge mean makes x − μ overflow, say).
  }
  // Anything else (std::bad_alloc, std::out_of_range, a crash, a sanitizer report) escapes
  // and is reported by libFuzzer as a finding.
  return 0;
}
