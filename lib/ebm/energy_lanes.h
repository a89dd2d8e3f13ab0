// Types of the lane form of the energy network (energy_lanes.cpp), the path
// EnergyModel::energy takes for narrow float networks: one candidate per vector lane.
// model.h includes this header because EnergyModel holds the step plan and its public
// energy_lanes / energy_backward_lanes take the cache; the definitions live here so that
// model.h shows only the model itself.
#pragma once

#include <cstddef>
#include <vector>

#include "ebm/nn.h"

namespace ebm {

// Eight candidates side by side in one GCC/Clang vector (one AVX register or two SSE
// registers).
typedef float EnergyLanes __attribute__((vector_size(32)));

// What the lane path's backward pass needs: for every block of 8 candidates, the input
// and the pre-activation of every layer (EnergyLanes each), and hx.
struct EnergyLaneCache {
  std::vector<EnergyLanes> values;
  Matrix<float> hx;
  int candidates = 0, blocks_per_example = 0;
};

// The energy network as the lane form runs it: one step per layer (y-branch layers, the
// joint input layer, residual blocks, output layer), with where each step's input and
// pre-activation sit in a block of EnergyLanes and where its gradient accumulators sit.
// Depends only on the architecture; built once by the EnergyModel constructor.
struct EnergyLaneStep {
  std::size_t weight_offset = 0, bias_offset = 0;  // bias unused for the joint layer
  int in_dim = 0, out_dim = 0;
  Activation activation = Activation::identity;
  bool residual = false, joint = false;
  std::size_t in_slot = 0, pre_slot = 0;  // offsets in a block's EnergyLanes
  std::size_t grad_slot = 0;              // offset of the weight-gradient accumulators
};
struct EnergyLanePlan {
  std::vector<EnergyLaneStep> steps;
  std::size_t block_size = 0;  // EnergyLanes per block (inputs and pre-activations)
  std::size_t grad_size = 0;   // EnergyLanes of weight and bias accumulators
};

}  // namespace ebm
