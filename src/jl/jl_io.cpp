// RandomProjection save/load: the description (kind, d, k, seed, options),
// never the matrix, in an io.hpp archive of kind "lowdim.random_projection".

#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>

#include <bit>
#include <cmath>

namespace lowdim {
namespace {
constexpr const char* kArchiveKind = "lowdim.random_projection";
constexpr std::uint32_t kArchiveVersion = 1;
}  // namespace

void RandomProjection::save(const std::string& path) const {
  LOWDIM_CHECK(fitted(), "RandomProjection::save: the projection is not fitted");
  const SketchOperator& op = sketch();
  ArchiveWriter archive(kArchiveKind, kArchiveVersion);
  archive.put("kind", std::string(to_string(op.kind())));
  archive.put("input_dim", op.input_dim());
  archive.put("output_dim", op.output_dim());
  archive.put("seed", std::bit_cast<std::int64_t>(op.seed()));
  archive.put("density", op.options().density);
  archive.put("jl_scaling", std::int64_t{op.options().jl_scaling ? 1 : 0});
  archive.save(path);
}

RandomProjection RandomProjection::load(const std::string& path) {
  const ArchiveReader archive(path, kArchiveKind);
  if (archive.version() != kArchiveVersion)
    LOWDIM_THROW(io_error, "RandomProjection::load: {}: format version {} is not supported (expected {})", path,
                 archive.version(), kArchiveVersion);
  RandomProjectionOptions options;
  const std::string kind = archive.get_string("kind");
  try {
    options.kind = parse_sketch_kind(kind);
  } catch (const invalid_argument&) {
    LOWDIM_THROW(io_error, "RandomProjection::load: {}: unknown sketch kind '{}'", path, kind);
  }
  const std::int64_t d = archive.get_int("input_dim");
  options.k = archive.get_int("output_dim");
  options.seed = std::bit_cast<std::uint64_t>(archive.get_int("seed"));
  options.sketch.density = archive.get_double("density");
  const std::int64_t jl_scaling = archive.get_int("jl_scaling");
  if (d < 1 || options.k < 1 || (jl_scaling != 0 && jl_scaling != 1) || !std::isfinite(options.sketch.density))
    LOWDIM_THROW(io_error, "RandomProjection::load: {}: invalid description (d = {}, k = {}, jl_scaling = {})", path,
                 d, options.k, jl_scaling);
  options.sketch.jl_scaling = jl_scaling == 1;
  RandomProjection p;
  try {
    p.fit(d, options);
  } catch (const invalid_argument& e) {
    LOWDIM_THROW(io_error, "RandomProjection::load: {}: {}", path, e.what());
  }
  return p;
}

}  // namespace lowdim
