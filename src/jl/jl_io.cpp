// RandomProjection save/load: the description (kind, d, k, seed, options),
// never the matrix, in an io.hpp archive of kind "lowdim.random_projection".

#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>


namespace lowdim {
namespace {
constexpr const char* kArchiveKind = "lowdim.random_projection";
constexpr std::uint32_t kArchiveVersion = 1;
}  // namespace

void RandomProjection::save(const std::string& path) const {
  LOWDIM_CHECK(fitted(), "RandomProjection::save: the projection is not fitted");
  ArchiveWriter archive(kArchiveKind, kArchiveVersion);
  sketch().save_description(archive);
  archive.save(path);
}

RandomProjection RandomProjection::load(const std::string& path) {
  const ArchiveReader archive(path, kArchiveKind);
  const std::string context = fmt::format("RandomProjection::load: {}", path);
  if (archive.version() != kArchiveVersion)
    LOWDIM_THROW(io_error, "{}: format version {} is not supported (expected {})", context, archive.version(),
                 kArchiveVersion);
  RandomProjection p;
  p.adopt(SketchOperator::load_description(archive, "", context));
  return p;
}

}  // namespace lowdim
