// Small random models and data for the finite-difference tests (test_gradients.cpp,
// test_method_gradients.cpp): tiny layers so that every parameter can be perturbed, and
// weights larger than the default initialisation so that every layer matters numerically.
#pragma once

#include <cstddef>
#include <vector>

#include "ebm/model.h"
#include "ebm/rng.h"

namespace ebm::testing {

inline Matrix<double> random_matrix(int rows, int cols, Rng& rng, double scale = 1.0) {
  Matrix<double> m(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) m(i, j) = scale * rng.normal();
  return m;
}

inline std::vector<double> random_params(const EnergyModel& model, Rng& rng) {
  std::vector<double> p(model.parameter_count());
  model.initialize(p.data(), rng);
  for (double& v : p) v *= 2.0;
  return p;
}

// Indices into the parameter vector of the proposal heads (blocks "mdn_*"), or of the
// energy (every other block: x-branch, y-branch, joint layers).
inline std::vector<std::size_t> parameter_indices(const EnergyModel& model, bool proposal_heads) {
  std::vector<std::size_t> out;
  for (const auto& block : model.layout().blocks()) {
    if ((block.name.rfind("mdn_", 0) == 0) != proposal_heads) continue;
    for (std::size_t i = 0; i < block.size(); ++i) out.push_back(block.offset + i);
  }
  return out;
}

// H = 5, two x- and y-layers, two residual blocks, K = 3 proposal components; the periodic
// embedding (when asked for) with 3 frequencies and 2 values per feature.
inline Architecture small_architecture(Activation activation, int dx = 3, int dy = 2,
                                       XEmbedding embedding = XEmbedding::none) {
  Architecture a;
  a.x_embedding = embedding;
  a.embedding_frequencies = 3;
  a.embedding_dim = 2;
  a.embedding_sigma = 0.5;
  a.x_dim = dx;
  a.y_dim = dy;
  a.hidden = 5;
  a.x_layers = 2;
  a.y_layers = 2;
  a.residual_blocks = 2;
  a.components = 3;
  a.activation = activation;
  return a;
}

}  // namespace ebm::testing
