#include "ebm/embedding.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ebm/errors.h"

namespace ebm {

namespace {
constexpr double kTwoPi = 6.283185307179586476925286766559;
}  // namespace

XEmbedding x_embedding_from_name(const std::string& name) {
  if (name == "none") return XEmbedding::none;
  if (name == "periodic") return XEmbedding::periodic;
  throw UsageError("unknown x-embedding '" + name + "' (expected none or periodic)");
}

std::string x_embedding_name(XEmbedding embedding) {
  return embedding == XEmbedding::periodic ? "periodic" : "none";
}

PeriodicEmbedding::PeriodicEmbedding(ParameterLayout& layout, int features, int frequencies, int dim)
    : features_(features), frequencies_(frequencies), dim_(dim) {
  if (features < 1 || frequencies < 1 || dim < 1) throw UsageError("the periodic embedding needs positive sizes");
  // Block widths and the x-branch's input width are ints.
  const long long widest = static_cast<long long>(features) * std::max(2LL * frequencies, static_cast<long long>(dim));
  if (widest > std::numeric_limits<int>::max()) throw UsageError("the periodic embedding is too large");
  frequency_offset_ = layout.add("x_embedding.frequencies", frequencies, features);
  weight_offset_ = layout.add("x_embedding.weight", dim, 2 * frequencies * features);
  bias_offset_ = layout.add("x_embedding.bias", dim, features);
}

template <typename S>
void PeriodicEmbedding::initialize(S* params, Rng& rng, double sigma) const {
  const std::size_t k = static_cast<std::size_t>(frequencies_), dx = static_cast<std::size_t>(features_);
  const std::size_t d = static_cast<std::size_t>(dim_);
  for (std::size_t i = 0; i < k * dx; ++i) params[frequency_offset_ + i] = S(sigma * rng.normal());
  const double bound = 1.0 / std::sqrt(2.0 * static_cast<double>(k));
  for (std::size_t i = 0; i < d * 2 * k * dx; ++i) params[weight_offset_ + i] = S((2.0 * rng.uniform() - 1.0) * bound);
  for (std::size_t i = 0; i < d * dx; ++i) params[bias_offset_ + i] = S((2.0 * rng.uniform() - 1.0) * bound);
}

template <typename S>
void PeriodicEmbedding::forward(const S* params, const Matrix<S>& x, PeriodicEmbeddingCache<S>& cache,
                                Matrix<S>& out) const {
  const int k = frequencies_, d = dim_;
  const Eigen::Index examples = x.cols();
  const Eigen::Map<const Matrix<S>> frequencies(params + frequency_offset_, k, features_);
  const Eigen::Map<const Matrix<S>> biases(params + bias_offset_, d, features_);
  cache.x = x;
  cache.periodic.resize(2 * k * features_, examples);
  cache.preactivation.resize(d * features_, examples);
  for (int j = 0; j < features_; ++j) {
    // a_j = 2π c_j x_j: the outer product (K x 1)(1 x E) -> K x E, one column per example.
    const Matrix<S> angles = (S(kTwoPi) * frequencies.col(j)) * x.row(j);
    auto periodic = cache.periodic.middleRows(2 * k * j, 2 * k);  // v_j, 2K x E
    periodic.topRows(k) = angles.array().sin().matrix();
    periodic.bottomRows(k) = angles.array().cos().matrix();
    // z_j = W_j v_j + b_j, W_j (d x 2K) at columns j*2K.. of the weight block.
    const Eigen::Map<const Matrix<S>> weight(params + weight_offset_ + static_cast<std::size_t>(d) * 2 * k * j, d,
                                             2 * k);
    auto pre = cache.preactivation.middleRows(d * j, d);
    pre.noalias() = weight * periodic;
    pre.colwise() += biases.col(j);
  }
  out = cache.preactivation;
  apply_activation(Activation::relu, out);
}

template <typename S>
Matrix<S> PeriodicEmbedding::predict(const S* params, const Matrix<S>& x) const {
  PeriodicEmbeddingCache<S> scratch;
  Matrix<S> out;
  forward(params, x, scratch, out);
  return out;
}

template <typename S>
void PeriodicEmbedding::backward(const S* params, const PeriodicEmbeddingCache<S>& cache, const Matrix<S>& d_out,
                                 S* grads) const {
  if (grads == nullptr) return;
  const int k = frequencies_, d = dim_;
  // dZ = dU ⊙ [Z > 0]   (dx*d x E), the ReLU.
  Matrix<S> dz = d_out;
  multiply_by_activation_derivative(Activation::relu, cache.preactivation, dz);
  Eigen::Map<Matrix<S>> d_frequencies(grads + frequency_offset_, k, features_);
  Eigen::Map<Matrix<S>> d_biases(grads + bias_offset_, d, features_);
  for (int j = 0; j < features_; ++j) {
    const std::size_t weight_at = static_cast<std::size_t>(d) * 2 * k * j;
    const Eigen::Map<const Matrix<S>> weight(params + weight_at + weight_offset_, d, 2 * k);
    Eigen::Map<Matrix<S>> d_weight(grads + weight_offset_ + weight_at, d, 2 * k);
    const auto dz_j = dz.middleRows(d * j, d);                    // d x E
    const auto periodic = cache.periodic.middleRows(2 * k * j, 2 * k);  // v_j, 2K x E
    // Linear: dW_j += dZ_j v_jᵀ (d x 2K), db_j += dZ_j 1 (d), dv_j = W_jᵀ dZ_j (2K x E).
    d_weight.noalias() += dz_j * periodic.transpose();
    add_column_sum(d_biases.col(j), dz_j);
    const Matrix<S> d_periodic = weight.transpose() * dz_j;
    // v = [sin a; cos a]: da = dv_sin ⊙ cos a − dv_cos ⊙ sin a   (K x E), both read back
    // from the cached v.
    const Matrix<S> d_angles =
        d_periodic.topRows(k).cwiseProduct(periodic.bottomRows(k)) - d_periodic.bottomRows(k).cwiseProduct(periodic.topRows(k));
    // a[k, e] = 2π c_jk x_j[e]: dc_jk = 2π Σ_e da[k, e] x_j[e], i.e. dc_j = 2π da x_jᵀ (K).
    d_frequencies.col(j).noalias() += S(kTwoPi) * (d_angles * cache.x.row(j).transpose());
  }
}

#define EBM_INSTANTIATE_EMBEDDING(S)                                                                      \
  template void PeriodicEmbedding::initialize<S>(S*, Rng&, double) const;                                 \
  template void PeriodicEmbedding::forward<S>(const S*, const Matrix<S>&, PeriodicEmbeddingCache<S>&,     \
                                              Matrix<S>&) const;                                          \
  template Matrix<S> PeriodicEmbedding::predict<S>(const S*, const Matrix<S>&) const;                     \
  template void PeriodicEmbedding::backward<S>(const S*, const PeriodicEmbeddingCache<S>&, const Matrix<S>&, \
                                               S*) const;
EBM_INSTANTIATE_EMBEDDING(float)
EBM_INSTANTIATE_EMBEDDING(double)

}  // namespace ebm
