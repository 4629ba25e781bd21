#ifndef LOWDIM_ATTENTION_HPP
#define LOWDIM_ATTENTION_HPP

/// \file
/// Attention on heads × L × d tensors, stored as (heads·L) × d matrices (head h is rows
/// [h·L, (h + 1)·L)). out_i = Σ_j k(q_i, k_j) v_j / Σ_j k(q_i, k_j), k(q, k) = exp(scale·q·k).
///   softmax_attention   exact, blocked with an online softmax: memory O(block² + block·d) per thread.
///   linear_attention    random features (random_features.hpp): bidirectional, or causal by a
///                       chunked scan (masked product in a chunk, a state between chunks), all on
///                       linalg::gemm_reproducible. Time O(L·m·d), memory O(chunk·m + m·d),
///                       independent of L. Keys are stabilised by a running maximum of their log
///                       scales that rescales the state, so no output depends on a later position
///                       and nothing overflows (docs/attention.md).
///   RecurrentAttention  the causal state one token at a time, same outputs as the causal scan.
/// Same inputs, same bits, on any thread count.

#include <lowdim/linalg.hpp>
#include <lowdim/matrix.hpp>
#include <lowdim/random_features.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace lowdim {

/// Rotary embedding of the feature vectors inside linear attention (RoFormer §3.3): the
/// numerator uses R(i)φ(q_i)·R(j)φ(k_j), the denominator the unrotated φ(q_i)·φ(k_j). The
/// rotation acts on consecutive pairs (2t, 2t + 1) of features with angle position·frequencies[t].
struct FeatureRotation {
  /// θ_t, features/2 values (see rope_frequencies in rope.hpp); empty: no rotation.
  std::vector<double> frequencies;
  /// Position of row 0 of each head (positions are offset + row index).
  std::int64_t offset = 0;
};

/// Options of the attention functions.
struct AttentionOptions {
  /// Causal: query i attends to keys j ≤ i only (needs as many queries as keys).
  bool causal = false;
  /// Query and key block of softmax_attention, chunk of linear_attention (≥ 1). Results do not
  /// depend on it beyond rounding.
  std::int64_t block = 128;
  /// The score scale; 0 means 1/√d.
  double scale = 0;
  /// Key padding mask: empty (every key), L_k entries (one mask for all heads) or heads·L_k;
  /// non-zero = attend. A query with no key to attend to gets a zero output.
  std::span<const std::uint8_t> key_mask = {};
  /// linear_attention only: rotate the features (RoPE inside linear attention); the others
  /// refuse a non-empty rotation.
  FeatureRotation feature_rotation = {};
};

/// Exact softmax attention. q: (heads·L_q) × d, k: (heads·L_k) × d, v: (heads·L_k) × d_v,
/// out: (heads·L_q) × d_v. Cost 4·heads·L_q·L_k·d (half of it when causal); memory
/// O(block·(block + d_v)) per thread. Non-finite input, shapes that do not fit, heads < 1 or a
/// block < 1 are an invalid_argument naming the values.
template <class T>
LOWDIM_API void softmax_attention(In<T> q, In<T> k, In<T> v, std::int64_t heads, MatrixView<T> out,
                                  const AttentionOptions& options = {});

/// Linear attention with a feature map: out_i = φ(q_i)·Σ_j φ(k_j) v_jᵀ / φ(q_i)·Σ_j φ(k_j), the
/// features taken of √scale·q and √scale·k, so the positive maps estimate softmax attention.
/// Shapes as softmax_attention; the features' d must be the columns of q and k. Cost
/// O(heads·L·m·(d + d_v)) (causal adds heads·L·block·(m + d_v)); memory O(block·(m + d_v) +
/// m·d_v), independent of L. The optimal map's A is fitted from q and k when unset in
/// bidirectional mode; in causal mode that would look at later positions, so it must be set
/// (RandomFeatures::with_optimal_a). A denominator that is zero or not finite (all features
/// underflowed) is a numerical_error naming the head and the position, never an Inf/NaN output.
template <class T>
LOWDIM_API void linear_attention(const RandomFeatures& features, In<T> q, In<T> k, In<T> v, std::int64_t heads,
                                 MatrixView<T> out, const AttentionOptions& options = {});

/// The causal linear-attention state of one head, advanced one token at a time: after the
/// tokens 0 … i, step's output equals row i of the causal linear_attention (up to rounding).
/// State: S (features × d_v), z (features) and the running maximum M of the key log scales.
template <class T>
class LOWDIM_API RecurrentAttention {
 public:
  /// A state with no token yet. scale 0 means 1/√d. The optimal map's A must be set. Throws
  /// invalid_argument for value_dim < 1 or a negative / non-finite scale.
  RecurrentAttention(const RandomFeatures& features, std::int64_t value_dim, double scale = 0);
  /// Feeds token (q, k, v) (d, d, d_v values) and writes its output (d_v values). key_valid =
  /// false: the key is masked (the query still attends to the earlier keys). A rotation with
  /// frequencies rotates the features at the current position (as FeatureRotation).
  void step(std::span<const T> q, std::span<const T> k, std::span<const T> v, std::span<T> out,
            bool key_valid = true);
  /// Rotates the features by the current position (RoPE inside linear attention); empty: none.
  void set_feature_rotation(std::vector<double> frequencies);
  /// Back to no token.
  void reset();
  /// Tokens fed since the last reset.
  std::int64_t position() const noexcept { return position_; }
  /// The feature map.
  const RandomFeatures& features() const noexcept { return features_; }
  /// d_v, the columns of the values.
  std::int64_t value_dim() const noexcept { return value_dim_; }

 private:
  RandomFeatures features_;
  std::int64_t value_dim_;
  double scale_;
  std::vector<double> frequencies_;
  Matrix<T> state_;           // features × (d_v + 1): Σ e^{s_j − M} φ(k_j) [v_j, 1]
  Matrix<T> rotated_state_;   // with rotated features, when a rotation is set
  double max_;                // M
  std::int64_t valid_ = 0, position_ = 0;
  Matrix<T> phi_q_, phi_k_;
};

/// The kernel-error experiment of `lowdim attention error`.
struct AttentionErrorOptions {
  std::int64_t dim = 64;                 ///< d of q and k (and of v).
  std::int64_t length = 1024;            ///< L, queries and keys of one head.
  /// Rows of the L × L kernel matrices compared (the first kernel_rows queries and keys;
  /// ≤ length): the kernel estimate costs 2·rows²·m per draw.
  std::int64_t kernel_rows = 256;
  std::vector<std::int64_t> features = {16, 32, 64, 128, 256, 512, 1024};  ///< m values.
  std::int64_t repeats = 32;             ///< Independent draws of W per figure.
  std::uint64_t seed = 0;                ///< Seed of the data and of the draws.
  /// Entries of q, k, v are N(0, input_std²). 0.5 in d = 64 gives ‖q‖²/√d ≈ 2, where the estimators
  /// separate; at 1 the positive features' variance, e^{O(‖q + k‖²/√d)}, swamps every difference.
  double input_std = 0.5;
  bool causal = false;                   ///< Output error of causal (else bidirectional) attention.
  /// Projections compared.
  std::vector<FeatureProjection> projections = {FeatureProjection::iid, FeatureProjection::orf,
                                                FeatureProjection::sorf, FeatureProjection::simplex};
  /// Maps compared (softmax-kernel maps only: positive, optimal, trig_softmax, hyperbolic).
  std::vector<FeatureMapKind> maps = {FeatureMapKind::positive, FeatureMapKind::optimal,
                                      FeatureMapKind::trig_softmax};
};

/// One figure of the experiment: R draws of one (map, projection, m).
struct AttentionErrorResult {
  FeatureMapKind map;                ///< The feature map.
  FeatureProjection projection;      ///< The projection.
  std::int64_t features;             ///< m (directions).
  double kernel_mse;                 ///< Mean over draws of the MSE of exp(q·k/√d).
  double kernel_mse_median;          ///< Median over draws of the same.
  double output_mse;                 ///< Mean over draws of the MSE of the attention output against exact.
  double output_mse_median;          ///< Median over draws of the same.
};

/// Runs the experiment in double: q, k, v drawn once from the seed, exact kernel and exact
/// attention once, then for every (map, projection, m) R draws of W. progress (optional) is
/// called after each figure with (done, total). Throws invalid_argument for sizes < 1,
/// kernel_rows > length, a map that does not estimate the softmax kernel, or d < 2 with simplex.
LOWDIM_API std::vector<AttentionErrorResult> attention_error_experiment(
    const AttentionErrorOptions& options, const std::function<void(std::int64_t, std::int64_t)>& progress = {});

}  // namespace lowdim

#endif
