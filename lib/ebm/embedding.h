// Numerical feature embeddings at the start of the x-branch.
//
// PLR ("periodic -> linear -> ReLU", Gorishniy et al., NeurIPS 2022, "On embeddings for
// numerical features in tabular deep learning"). Each standardised feature x_j (a scalar)
// is mapped on its own to d values:
//
//   a_j = 2π c_j x_j                         K angles, c_j (K) trainable frequencies
//   v_j = [sin a_j ; cos a_j]                2K periodic features
//   u_j = ReLU(W_j v_j + b_j)                d values, W_j (d x 2K), b_j (d)
//
// and the x-branch MLP reads the concatenation [u_1; ...; u_dx] (dx*d values) instead of
// x. W_j and b_j belong to feature j (the paper's PLR, not the "lite" variant that shares
// one W across features): with the few features of tabular regression data the extra
// parameters cost nothing, and the paper found the per-feature map the stronger one.
// The ReLU is fixed (it is part of PLR), independent of --activation.
#pragma once

#include <cstddef>
#include <string>

#include "ebm/nn.h"
#include "ebm/rng.h"

namespace ebm {

enum class XEmbedding { none, periodic };

XEmbedding x_embedding_from_name(const std::string& name);  // throws UsageError
std::string x_embedding_name(XEmbedding embedding);

// Values the backward pass needs, over E examples.
template <typename S>
struct PeriodicEmbeddingCache {
  Matrix<S> x;              // dx x E, the input
  Matrix<S> periodic;       // dx*2K x E; rows j*2K .. j*2K+K-1: sin a_j, the next K: cos a_j
  Matrix<S> preactivation;  // dx*d x E; rows j*d .. j*d+d-1: W_j v_j + b_j
};

class PeriodicEmbedding {
 public:
  PeriodicEmbedding() = default;
  // Registers three blocks in `layout`:
  //   x_embedding.frequencies  [K, dx]      column j is c_j
  //   x_embedding.weight       [d, 2K*dx]   columns j*2K .. j*2K+2K-1 are W_j
  //   x_embedding.bias         [d, dx]      column j is b_j
  PeriodicEmbedding(ParameterLayout& layout, int features, int frequencies, int dim);

  int out_features() const { return features_ * dim_; }

  // c ~ N(0, sigma^2); W_j, b_j ~ U(-1/sqrt(2K), 1/sqrt(2K)) (PyTorch's Linear default,
  // fan-in 2K), in this order, from `rng`.
  template <typename S>
  void initialize(S* params, Rng& rng, double sigma) const;

  // x (dx x E) -> u (dx*d x E); keeps what backward needs.
  template <typename S>
  void forward(const S* params, const Matrix<S>& x, PeriodicEmbeddingCache<S>& cache, Matrix<S>& out) const;
  template <typename S>
  Matrix<S> predict(const S* params, const Matrix<S>& x) const;

  // Given dL/du (dx*d x E), accumulates dL/dc, dL/dW and dL/db into grads. No dL/dx:
  // the input is data.
  template <typename S>
  void backward(const S* params, const PeriodicEmbeddingCache<S>& cache, const Matrix<S>& d_out, S* grads) const;

 private:
  int features_ = 0, frequencies_ = 0, dim_ = 0;
  std::size_t frequency_offset_ = 0, weight_offset_ = 0, bias_offset_ = 0;
};

}  // namespace ebm
