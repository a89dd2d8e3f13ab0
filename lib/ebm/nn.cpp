#include "ebm/nn.h"

#include <cmath>

#include "ebm/activations.h"
#include "ebm/errors.h"

namespace ebm {

Activation activation_from_name(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "tanh") return Activation::tanh;
  if (name == "silu") return Activation::silu;
  throw UsageError("unknown activation '" + name + "' (expected relu, tanh or silu)");
}

std::string activation_name(Activation activation) {
  switch (activation) {
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::silu: return "silu";
    case Activation::identity: return "identity";
  }
  return "identity";
}

std::size_t ParameterLayout::add(const std::string& name, int rows, int cols) {
  const std::size_t offset = size_;
  blocks_.push_back({name, offset, rows, cols});
  size_ += static_cast<std::size_t>(rows) * cols;
  return offset;
}

void Mlp::add_layer(ParameterLayout& layout, const std::string& prefix, int in_features,
                    int out_features, Activation activation, bool residual) {
  if (residual && in_features != out_features) {
    throw UsageError("residual layer needs equal input and output widths");
  }
  DenseLayer layer;
  layer.in_features = in_features;
  layer.out_features = out_features;
  layer.activation = activation;
  layer.residual = residual;
  const std::string name = prefix + ".l" + std::to_string(layers_.size());
  layer.weight_offset = layout.add(name + ".weight", out_features, in_features);
  layer.bias_offset = layout.add(name + ".bias", out_features, 1);
  layers_.push_back(layer);
}

// The formulas themselves are in activations.h, shared with the lane form.
template <typename S>
void apply_activation(Activation activation, Matrix<S>& values) {
  dispatch_activation(activation, [&](auto a) {
    // In place: element i is read before it is written, and only by element i.
    if constexpr (a != Activation::identity) activation_values<a>(values.array(), values.array());
  });
}

template <typename S>
void multiply_by_activation_derivative(Activation activation, const Matrix<S>& pre,
                                       Matrix<S>& gradient) {
  dispatch_activation(activation, [&](auto a) { multiply_by_derivative<a>(pre.array(), gradient.array()); });
}

template <typename S>
static Eigen::Map<const Matrix<S>> weight_map(const S* params, const DenseLayer& layer) {
  return Eigen::Map<const Matrix<S>>(params + layer.weight_offset, layer.out_features,
                                     layer.in_features);
}

template <typename S>
static Eigen::Map<const Vector<S>> bias_map(const S* params, const DenseLayer& layer) {
  return Eigen::Map<const Vector<S>>(params + layer.bias_offset, layer.out_features);
}

// pre = W in + b (out x N). Filling pre with the bias and accumulating the GEMM into it
// (one pass fewer) measured slower than this; a special case for one-input layers (an
// outer product instead of a depth-1 GEMM) made no measurable difference.
template <typename S>
static void affine(const S* params, const DenseLayer& layer, const Matrix<S>& in, Matrix<S>& pre) {
  pre.noalias() = weight_map(params, layer) * in;
  pre.colwise() += bias_map(params, layer);
}

// out = act(pre) in one pass (instead of a copy followed by an in-place activation).
template <typename S>
static void activate(Activation activation, const Matrix<S>& pre, Matrix<S>& out) {
  out.resize(pre.rows(), pre.cols());
  dispatch_activation(activation, [&](auto a) { activation_values<a>(pre.array(), out.array()); });
}

template <typename S>
void Mlp::forward(const S* params, const Matrix<S>& input, MlpCache<S>& cache) const {
  const std::size_t n_layers = layers_.size();
  cache.inputs.resize(n_layers);
  cache.preactivations.resize(n_layers);
  if (n_layers == 0) {
    cache.output = input;
    return;
  }
  cache.inputs[0] = input;
  for (std::size_t l = 0; l < n_layers; ++l) {
    const DenseLayer& layer = layers_[l];
    Matrix<S>& pre = cache.preactivations[l];
    affine(params, layer, cache.inputs[l], pre);
    // The output of layer l is the input of layer l + 1, stored once.
    Matrix<S>& out = (l + 1 == n_layers) ? cache.output : cache.inputs[l + 1];
    activate(layer.activation, pre, out);
    if (layer.residual) out += cache.inputs[l];
  }
}

template <typename S>
Matrix<S> Mlp::predict(const S* params, const Matrix<S>& input) const {
  Matrix<S> current = input;
  Matrix<S> next;
  for (const DenseLayer& layer : layers_) {
    affine(params, layer, current, next);
    apply_activation(layer.activation, next);
    if (layer.residual) next += current;
    current.swap(next);
  }
  return current;
}

template <typename S>
void Mlp::backward(const S* params, const MlpCache<S>& cache, Matrix<S>& d_output,
                   nondeduced_t<S*> grads, nondeduced_t<Matrix<S>*> d_input) const {
  // For out = act(W a + b) [+ a]:
  //   dZ = dOut .* act'(Z)          (out x N)
  //   dW += dZ a^T, db += dZ 1      (out x in), (out)
  //   da = W^T dZ [+ dOut]          (in x N)
  Matrix<S> d_current = std::move(d_output);
  Matrix<S> d_previous;
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const DenseLayer& layer = layers_[l];
    const bool need_input_grad = (l > 0) || (d_input != nullptr);
    Matrix<S> d_pre = layer.residual && need_input_grad ? d_current : Matrix<S>();
    Matrix<S>& dz = layer.residual && need_input_grad ? d_pre : d_current;
    multiply_by_activation_derivative(layer.activation, cache.preactivations[l], dz);
    if (grads != nullptr) {
      Eigen::Map<Matrix<S>> d_weight(grads + layer.weight_offset, layer.out_features,
                                     layer.in_features);
      Eigen::Map<Vector<S>> d_bias(grads + layer.bias_offset, layer.out_features);
      accumulate_weight_gradient<S>(d_weight, dz, cache.inputs[l]);
      add_column_sum(d_bias, dz);
    }
    if (!need_input_grad) break;
    d_previous.noalias() = weight_map(params, layer).transpose() * dz;
    if (layer.residual) d_previous += d_current;
    d_current.swap(d_previous);
  }
  if (d_input != nullptr) *d_input = std::move(d_current);
}

template void apply_activation<float>(Activation, Matrix<float>&);
template void apply_activation<double>(Activation, Matrix<double>&);
template void multiply_by_activation_derivative<float>(Activation, const Matrix<float>&,
                                                       Matrix<float>&);
template void multiply_by_activation_derivative<double>(Activation, const Matrix<double>&,
                                                        Matrix<double>&);
template void Mlp::forward<float>(const float*, const Matrix<float>&, MlpCache<float>&) const;
template void Mlp::forward<double>(const double*, const Matrix<double>&,
                                   MlpCache<double>&) const;
template Matrix<float> Mlp::predict<float>(const float*, const Matrix<float>&) const;
template Matrix<double> Mlp::predict<double>(const double*, const Matrix<double>&) const;
template void Mlp::backward<float>(const float*, const MlpCache<float>&, Matrix<float>&, float*,
                                   Matrix<float>*) const;
template void Mlp::backward<double>(const double*, const MlpCache<double>&, Matrix<double>&,
                                    double*, Matrix<double>*) const;

}  // namespace ebm
