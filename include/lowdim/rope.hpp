#ifndef LOWDIM_ROPE_HPP
#define LOWDIM_ROPE_HPP

/// \file
/// Rotary position embeddings (RoFormer, Su et al. 2021) and positions (docs/rope.md).
/// A head vector x (d values, d even) at position p has its pairs rotated by the angles p·θ_t,
/// θ_t = base^(−2t/d), t < d/2, so that ⟨R(m)q, R(n)k⟩ depends on m − n only.
///   layouts    interleaved pairs (2t, 2t + 1) (RoFormer, Meta's Llama) or half-split pairs
///              (t, t + d/2) (rotate_half: GPT-NeoX, Hugging Face Llama), and the permutation
///              between them for activations and weights;
///   scalings   long-context frequency rules as Hugging Face's rope_utils: linear position
///              interpolation, NTK-aware, dynamic NTK, YaRN, Llama 3.1;
///   2D         axial (half the dimensions for x, half for y) and RoPE-Mixed (per-head
///              frequency pairs), for image patches on a grid;
///   sinusoidal the absolute encoding of "Attention is all you need".
/// Tensors are heads × L × d, stored as (heads·L) × d matrices.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowdim {

/// Which dimensions form the rotated pairs.
enum class RopeLayout {
  interleaved,  ///< pairs (2t, 2t + 1)
  half_split,   ///< pairs (t, t + d/2): Hugging Face's rotate_half
};
/// "interleaved", "half_split".
LOWDIM_API const char* to_string(RopeLayout layout) noexcept;
/// Parses "interleaved" or "half_split" ("half", "neox", "rotate_half" too); invalid_argument listing the names.
LOWDIM_API RopeLayout parse_rope_layout(std::string_view name);

/// Long-context frequency rules (Hugging Face transformers, modeling_rope_utils).
enum class RopeScaling {
  none,         ///< θ_t = base^(−2t/d)
  linear,       ///< position interpolation (Chen et al. 2023): θ_t / s
  ntk,          ///< NTK-aware: base' = base·s^(d/(d−2))
  dynamic_ntk,  ///< base' = base·(s·L/L₀ − (s − 1))^(d/(d−2)) when the length L exceeds L₀
  yarn,         ///< YaRN (Peng et al. 2023): ramp between θ_t/s and θ_t, cos and sin × (0.1·ln s + 1)
  llama3,       ///< Llama 3.1: wavelengths above L₀/low_freq_factor divided by s, a smooth band between
};
/// "none", "linear", "ntk", "dynamic_ntk", "yarn", "llama3".
LOWDIM_API const char* to_string(RopeScaling scaling) noexcept;
/// Parses a scaling name ('-'/'_' interchangeable; "dynamic", "llama3.1" too); invalid_argument listing the names.
LOWDIM_API RopeScaling parse_rope_scaling(std::string_view name);
/// "none, linear, ntk, dynamic_ntk, yarn, llama3".
LOWDIM_API std::string rope_scaling_names();

/// RoPE frequencies and their scaling. Options a scaling does not read must keep their defaults.
struct RopeOptions {
  double base = 10000;                 ///< b > 1.
  RopeScaling scaling = RopeScaling::none;  ///< The long-context rule.
  double factor = 1;                   ///< s ≥ 1 (must be 1 with none).
  /// L₀, the pre-training context (dynamic_ntk, yarn, llama3: ≥ 1; 0 for the others).
  std::int64_t original_length = 0;
  double beta_fast = 32;               ///< yarn: rotations where interpolation stops (β_fast > β_slow).
  double beta_slow = 1;                ///< yarn: rotations where interpolation is full.
  /// yarn: the factor on cos and sin; 0 means 0.1·ln s + 1 (1 when s = 1).
  double attention_factor = 0;
  double low_freq_factor = 1;          ///< llama3 (0 < low < high).
  double high_freq_factor = 4;         ///< llama3.
};

/// θ_t for t < dim/2 after the scaling; length is the sequence length dynamic_ntk reads (the
/// others ignore it; 0 means ≤ L₀). Throws invalid_argument for an odd or non-positive dim and
/// for options out of range or given to a scaling that does not read them.
LOWDIM_API std::vector<double> rope_frequencies(std::int64_t dim, const RopeOptions& options,
                                                std::int64_t length = 0);
/// The factor on cos and sin: yarn's attention factor, 1 for the other scalings.
LOWDIM_API double rope_attention_factor(const RopeOptions& options);

/// Rotates x ((heads·L) × d, in place) by RoPE: row r of each head at position positions[r]
/// (L values; empty: 0 … L − 1), with rope_frequencies(d, options, max position + 1) and
/// rope_attention_factor. Cost O(heads·L·d). Throws invalid_argument for rows not a multiple
/// of heads, a wrong number of positions, or a negative position.
template <class T>
LOWDIM_API void apply_rope(MatrixView<T> x, std::int64_t heads, RopeLayout layout, const RopeOptions& options = {},
                           std::span<const std::int64_t> positions = {});

/// The column permutation p (y[:, c] = x[:, p[c]], within each head of head_dim columns) that
/// takes head vectors from layout `from` to layout `to`. head_dim even ≥ 2.
LOWDIM_API std::vector<std::int64_t> rope_layout_permutation(std::int64_t head_dim, RopeLayout from, RopeLayout to);
/// y = x with the columns of each head (x.cols() a multiple of head_dim) permuted from one
/// layout to the other: for activations (L × heads·head_dim) and for weights stored
/// in × out (y = x·W). x and y must not overlap.
template <class T>
LOWDIM_API void permute_rope_columns(In<T> x, MatrixView<T> y, std::int64_t head_dim, RopeLayout from, RopeLayout to);
/// As permute_rope_columns on the rows: for PyTorch weights W_q, W_k stored out × in
/// (x.rows() a multiple of head_dim), what Hugging Face's Llama conversion does.
template <class T>
LOWDIM_API void permute_rope_rows(In<T> x, MatrixView<T> y, std::int64_t head_dim, RopeLayout from, RopeLayout to);

/// Positions of the tokens of an h × w grid in row-major order: x (column) and y (row), h·w each.
struct GridPositions {
  std::vector<std::int64_t> x;  ///< column of token r·w + c: c
  std::vector<std::int64_t> y;  ///< row of token r·w + c: r
};
/// The positions of an h × w grid (h, w ≥ 1).
LOWDIM_API GridPositions grid_positions(std::int64_t height, std::int64_t width);

/// Axial 2D RoPE: the first d/2 columns rotated as 1D RoPE of dimension d/2 by the x positions,
/// the last d/2 by the y positions (d a multiple of 4), both in `layout` within their half.
/// x: (heads·L) × d in place; px, py: L values each. Throws invalid_argument as apply_rope.
template <class T>
LOWDIM_API void apply_rope_axial(MatrixView<T> x, std::int64_t heads, std::span<const std::int64_t> px,
                                 std::span<const std::int64_t> py, RopeLayout layout = RopeLayout::interleaved,
                                 const RopeOptions& options = {});
/// RoPE-Mixed (Heo et al. 2024): pair t of head h is rotated by θx[h][t]·px + θy[h][t]·py
/// (interleaved pairs); theta_x and theta_y are heads × d/2 (learned frequencies given as input).
template <class T>
LOWDIM_API void apply_rope_mixed(MatrixView<T> x, std::int64_t heads, std::span<const std::int64_t> px,
                                 std::span<const std::int64_t> py, ConstMatrixView<double> theta_x,
                                 ConstMatrixView<double> theta_y);

/// The sinusoidal absolute encoding: out (L × d, d even) row p = positions offset + p,
/// out(p, 2t) = sin(p·base^(−2t/d)), out(p, 2t + 1) = cos(p·base^(−2t/d)).
template <class T>
LOWDIM_API void sinusoidal_encoding(MatrixView<T> out, std::int64_t offset = 0, double base = 10000);

}  // namespace lowdim

#endif
