#ifndef LOWDIM_DETAIL_OPERATOR_KIND_HPP
#define LOWDIM_DETAIL_OPERATOR_KIND_HPP

// The operator layer's private interface. A kind is one self-contained unit
// (src/operators/<kind>.cpp): an OperatorKindEntry (name, validation, factory)
// and an OperatorImpl (apply, apply_transpose, columns of S, cached form).
// registry.cpp lists the entries in one table and does everything that is
// the same for every kind: shape checks, overlap checks, scaling of extreme
// rows, non-finite detection. A kind only computes.

#include <lowdim/sketch.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace lowdim::detail {

/// What a kind is built from.
struct OperatorDescription {
  SketchKind kind;
  std::int64_t d = 0, k = 0;
  std::uint64_t seed = 0;
  SketchOptions options;
};

/// Which options a kind reads (the others must keep their defaults).
enum OptionUse : unsigned { kUsesDensity = 1u, kUsesRowNorms = 2u };

struct OperatorKindEntry {
  const char* name;
  const char* summary;
  unsigned options_used;  ///< OptionUse bits
  /// Kind-specific reasons to reject (d, k, options); "" when accepted. Dims ≥ 1 and the
  /// option-use rules are checked before.
  std::string (*check)(const OperatorDescription& description);
  std::shared_ptr<const OperatorImpl> (*make)(const OperatorDescription& description);
};

/// The implementation of one operator. Inputs are checked by the caller (shapes, no
/// overlap, n ≥ 1); implementations compute only. A kind whose apply can skip a
/// non-finite input (an all-zero column of S) reports it through the return value of
/// apply: false means "x may hold a non-finite value the output does not show".
class OperatorImpl : public std::enable_shared_from_this<OperatorImpl> {
 public:
  explicit OperatorImpl(const OperatorDescription& description) : desc(description) {}
  virtual ~OperatorImpl() = default;
  OperatorImpl(const OperatorImpl&) = delete;
  OperatorImpl& operator=(const OperatorImpl&) = delete;

  virtual double density() const noexcept { return 1.0; }
  virtual double scale() const noexcept = 0;
  virtual std::int64_t padded_dim() const noexcept { return desc.d; }
  virtual double gram_scale() const noexcept { return 0.0; }
  virtual bool cached() const noexcept { return true; }
  /// The cached form; the implementation itself when it is already cached.
  virtual std::shared_ptr<const OperatorImpl> materialized() const { return shared_from_this(); }
  virtual std::int64_t cached_bytes() const noexcept { return 0; }

  virtual bool apply(ConstMatrixView<float> x, MatrixView<float> y) const = 0;
  virtual bool apply(ConstMatrixView<double> x, MatrixView<double> y) const = 0;
  virtual void apply_transpose(ConstMatrixView<float> y, MatrixView<float> x) const = 0;
  virtual void apply_transpose(ConstMatrixView<double> y, MatrixView<double> x) const = 0;
  /// out (k × count) = S[:, first : first + count].
  virtual void columns(std::int64_t first, MatrixView<float> out) const = 0;
  virtual void columns(std::int64_t first, MatrixView<double> out) const = 0;

  const OperatorDescription desc;
};

/// Forwards the virtual float/double pairs to a kind's templates apply_t, apply_transpose_t
/// and columns_t (Impl derives from Typed<Impl>).
template <class Impl>
class Typed : public OperatorImpl {
 public:
  using OperatorImpl::OperatorImpl;
  bool apply(ConstMatrixView<float> x, MatrixView<float> y) const final { return self().apply_t(x, y); }
  bool apply(ConstMatrixView<double> x, MatrixView<double> y) const final { return self().apply_t(x, y); }
  void apply_transpose(ConstMatrixView<float> y, MatrixView<float> x) const final { self().apply_transpose_t(y, x); }
  void apply_transpose(ConstMatrixView<double> y, MatrixView<double> x) const final {
    self().apply_transpose_t(y, x);
  }
  void columns(std::int64_t first, MatrixView<float> out) const final { self().columns_t(first, out); }
  void columns(std::int64_t first, MatrixView<double> out) const final { self().columns_t(first, out); }

 private:
  const Impl& self() const { return static_cast<const Impl&>(*this); }
};

/// m ← s·m (nothing when s = 1). OpenMP-parallel for large m.
template <class T>
void scale_rows(MatrixView<T> m, T s);

/// The registered entries (registry.cpp's table), each defined in its kind's file.
extern const OperatorKindEntry gaussian_entry, rademacher_entry, sparse_entry, srht_entry, countsketch_entry,
    orthogonal_entry, structured_orthogonal_entry, hadamard_rotation_entry, simplex_entry;

}  // namespace lowdim::detail

#endif
