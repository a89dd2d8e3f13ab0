// Dense layers, activations and multi-layer perceptrons with hand-written backprop.
//
// Conventions used throughout the library:
//  * All parameters of a model live in one flat vector; a layer only knows the offsets
//    of its weight matrix (out x in, column-major) and bias (out) inside it. Gradients
//    use the same layout, so the optimiser and the checkpoint see a single vector.
//  * Activations are (features x columns) matrices, column-major, one column per
//    evaluated point. Matrix products are then W (out x in) * A (in x N): long, cache-
//    friendly GEMMs that Eigen vectorises.
//  * Everything numeric is a template on the scalar type: float in production, double
//    for the finite-difference gradient checks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/StdVector>

namespace ebm {

template <typename S>
using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
template <typename S>
using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <typename S>
using RowVector = Eigen::Matrix<S, 1, Eigen::Dynamic>;

// Marks a template parameter as non-deduced, so that nullptr can be passed for
// optional outputs such as `S* grads` (C++20's std::type_identity_t).
template <typename T>
struct NonDeduced {
  using type = T;
};
template <typename T>
using nondeduced_t = typename NonDeduced<T>::type;

// Flat parameter (and gradient, optimiser-state) storage, aligned like Eigen's own
// matrices. The alignment matters for reproducibility, not only speed: Eigen's
// vectorised kernels treat an unaligned head differently (scalar exp/log, a different
// summation order), so a buffer whose address alignment varies between runs could change
// the last bits of a result.
using ParamVector = std::vector<float, Eigen::aligned_allocator<float>>;

enum class Activation { identity, relu, tanh, silu };

Activation activation_from_name(const std::string& name);  // throws UsageError
std::string activation_name(Activation activation);

// Named block of the flat parameter vector (a weight matrix or a bias vector).
struct ParameterBlock {
  std::string name;
  std::size_t offset;
  int rows, cols;
  std::size_t size() const { return static_cast<std::size_t>(rows) * cols; }
};

// Allocates consecutive blocks in the flat parameter vector.
class ParameterLayout {
 public:
  std::size_t add(const std::string& name, int rows, int cols);
  std::size_t size() const { return size_; }
  const std::vector<ParameterBlock>& blocks() const { return blocks_; }

 private:
  std::size_t size_ = 0;
  std::vector<ParameterBlock> blocks_;
};

// out = act(W in + b), plus `in` when residual (requires in_features == out_features).
struct DenseLayer {
  int in_features = 0, out_features = 0;
  Activation activation = Activation::identity;
  bool residual = false;
  std::size_t weight_offset = 0, bias_offset = 0;
  int fan_in() const { return in_features; }
};

// Values a backward pass needs from the forward pass.
template <typename S>
struct MlpCache {
  std::vector<Matrix<S>> inputs;          // input of each layer (in x N)
  std::vector<Matrix<S>> preactivations;  // W in + b of each layer (out x N)
  Matrix<S> output;                       // output of the last layer (out x N)
};

class Mlp {
 public:
  Mlp() = default;
  // Registers the layer's parameters in `layout` under "PREFIX.lK.weight"/".bias".
  void add_layer(ParameterLayout& layout, const std::string& prefix, int in_features,
                 int out_features, Activation activation, bool residual = false);

  const std::vector<DenseLayer>& layers() const { return layers_; }
  int in_features() const { return layers_.front().in_features; }
  int out_features() const { return layers_.back().out_features; }
  bool empty() const { return layers_.empty(); }

  // Forward over the columns of `input`; fills `cache` (its output is the result).
  template <typename S>
  void forward(const S* params, const Matrix<S>& input, MlpCache<S>& cache) const;

  // Inference-only forward: returns the output without keeping intermediate values.
  template <typename S>
  Matrix<S> predict(const S* params, const Matrix<S>& input) const;

  // Backward: given dL/d(output) (out x N), accumulates dL/dW and dL/db into `grads`
  // (same layout as params; pass nullptr to skip) and, if d_input is non-null, writes
  // dL/d(input) (in x N). d_output is consumed (used as scratch).
  template <typename S>
  void backward(const S* params, const MlpCache<S>& cache, Matrix<S>& d_output,
                nondeduced_t<S*> grads, nondeduced_t<Matrix<S>*> d_input) const;

 private:
  std::vector<DenseLayer> layers_;
};

// grad += dz * a^T for dz (out x N) and a (in x N), the weight gradient of a dense layer.
// Done in column blocks of 512: with one long product Eigen re-packs both operands for
// every depth slice of the long N dimension and ran at ~20 GFLOP/s on Zen 3 for H = 32..128;
// blocks keep the packed panels in cache (~35 GFLOP/s measured, bench notes in
// docs/benchmarks.md). Block boundaries depend only on N, so results stay deterministic.
template <typename S, typename Dest>
void accumulate_weight_gradient(Dest&& grad, const Matrix<S>& dz, const Matrix<S>& a) {
  constexpr Eigen::Index kBlock = 512;
  const Eigen::Index n = dz.cols();
  for (Eigen::Index start = 0; start < n; start += kBlock) {
    const Eigen::Index count = std::min(kBlock, n - start);
    grad.noalias() += dz.middleCols(start, count) * a.middleCols(start, count).transpose();
  }
}

// total += sum of the columns of m (rows x N). Eigen 3.4's m.rowwise().sum() walks each
// row with a strided scalar loop (9% of a training epoch at H = 10 for bias gradients);
// a matrix-vector product with a vector of ones runs Eigen's vectorised GEMV kernel.
template <typename Dest, typename Derived>
void add_column_sum(Dest&& total, const Eigen::MatrixBase<Derived>& m) {
  using S = typename Derived::Scalar;
  total.noalias() += m * Eigen::Matrix<S, Eigen::Dynamic, 1>::Ones(m.cols());
}

// Applies the activation in place; multiply_by_activation_derivative multiplies a
// gradient by act'(pre) element-wise. Both use the formulas of activations.h.
template <typename S>
void apply_activation(Activation activation, Matrix<S>& values);
template <typename S>
void multiply_by_activation_derivative(Activation activation, const Matrix<S>& pre,
                                       Matrix<S>& gradient);

}  // namespace ebm
