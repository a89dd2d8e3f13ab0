// The energy network for narrow layers (H <= 16), one candidate per vector lane.
//
// At H = 10 the matrix form (each layer one H x (E*C) product) spends most of its time in
// Eigen's GEMM on 10-row panels, where the 24 x 4 register kernel is mostly padding and
// operands are re-packed on every call. Here the candidates are the vector dimension: a
// block of 8 candidates goes through all layers in registers and L1, with no packing and
// no intermediate H x (E*C) matrices. Every operation is the same instruction sequence
// for every lane, so a candidate's energy does not depend on its neighbours, its position
// in a block or the chunking of rows (determinism across --threads).
//
// The network as a list of steps (docs/maths.md, "Energy network"):
//   y-branch layers    in = y (dy) or h (H)  ->  pre = W in + b,          out = act(pre)
//   joint input layer  in = hy (H)           ->  pre = Wy hy + (Wx hx + b), out = act(pre)
//   residual blocks    in = a (H)            ->  pre = W in + b,          out = act(pre) + in
//   output layer       in = a (H)            ->  f = pre = w in + c
// For each block the cache keeps every step's input and pre-activation.
#include "ebm/energy_lanes.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "ebm/activations.h"
#include "ebm/errors.h"
#include "ebm/model.h"

namespace ebm {
namespace {

using Lanes = EnergyLanes;

inline Lanes broadcast(float value) { return Lanes{value, value, value, value, value, value, value, value}; }

inline float lane_sum(const Lanes& v) {
  float total = 0.0f;
  for (int l = 0; l < 8; ++l) total += v[l];
  return total;
}

// One EnergyLanes as a fixed-size Eigen array of 8 floats: the activations of
// activations.h then run as whole AVX packets (Eigen's vectorised tanh and exp, as in the
// matrix path), with no scalar tail.
using LaneArray = Eigen::Array<float, 8, 1>;
inline Eigen::Map<LaneArray> as_array(Lanes& lanes) { return Eigen::Map<LaneArray>(reinterpret_cast<float*>(&lanes)); }
inline Eigen::Map<const LaneArray> as_array(const Lanes& lanes) {
  return Eigen::Map<const LaneArray>(reinterpret_cast<const float*>(&lanes));
}

void activate_lanes(Activation activation, const Lanes* pre, Lanes* out, int count) {
  dispatch_activation(activation, [&](auto a) {
    for (int i = 0; i < count; ++i) activation_values<a>(as_array(pre[i]), as_array(out[i]));
  });
}

// gradient *= act'(pre), element-wise.
void multiply_by_derivative_lanes(Activation activation, const Lanes* pre, Lanes* gradient, int count) {
  dispatch_activation(activation, [&](auto a) {
    for (int i = 0; i < count; ++i) multiply_by_derivative<a>(as_array(pre[i]), as_array(gradient[i]));
  });
}

// out[r0 .. r0+G) += M(r0 .. r0+G, :) in for a matrix M with M(r, k) = m[r * row_stride +
// k * col_stride] (W itself: strides (1, rows); W^T: strides (rows_of_W, 1)). G
// accumulators stay in registers over the whole depth: G independent FMA chains, each
// coefficient broadcast once against 8 candidates.
template <int G>
inline void accumulate_rows(const float* m, std::size_t row_stride, std::size_t col_stride, int r0, int depth,
                            const Lanes* in, Lanes* out) {
  Lanes acc[G];
  for (int g = 0; g < G; ++g) acc[g] = out[r0 + g];
  for (int k = 0; k < depth; ++k) {
    const Lanes input = in[k];
    const float* coefficient = m + static_cast<std::size_t>(r0) * row_stride + static_cast<std::size_t>(k) * col_stride;
    for (int g = 0; g < G; ++g) acc[g] += coefficient[g * row_stride] * input;
  }
  for (int g = 0; g < G; ++g) out[r0 + g] = acc[g];
}

// out += M in for all `rows` rows of M, in groups of 8, 4 and 1 rows.
inline void accumulate_product(const float* m, std::size_t row_stride, std::size_t col_stride, int rows, int depth,
                               const Lanes* in, Lanes* out) {
  int r = 0;
  for (; r + 8 <= rows; r += 8) accumulate_rows<8>(m, row_stride, col_stride, r, depth, in, out);
  for (; r + 4 <= rows; r += 4) accumulate_rows<4>(m, row_stride, col_stride, r, depth, in, out);
  for (; r < rows; ++r) accumulate_rows<1>(m, row_stride, col_stride, r, depth, in, out);
}

using Step = EnergyLaneStep;
using Plan = EnergyLanePlan;

}  // namespace

// The backward pass keeps one layer's gradients in stack arrays of kLaneMaxWidth lanes,
// so it refuses wider networks rather than overflow them.
static void require_narrow(bool lanes_apply, int hidden, int y_dim) {
  if (!lanes_apply) {
    throw UsageError("the lane form's backward pass needs hidden width and y dimension <= " +
                     std::to_string(EnergyModel::kLaneMaxWidth) + ", found " + std::to_string(hidden) + " and " +
                     std::to_string(y_dim));
  }
}

Plan EnergyModel::build_lane_plan() const {
  Plan plan;
  auto add = [&](Step step) {
    step.in_slot = plan.block_size;
    step.pre_slot = plan.block_size + static_cast<std::size_t>(step.in_dim);
    plan.block_size += static_cast<std::size_t>(step.in_dim + step.out_dim);
    step.grad_slot = plan.grad_size;
    plan.grad_size += static_cast<std::size_t>(step.out_dim) * (step.in_dim + 1);  // W, then b
    plan.steps.push_back(step);
  };
  auto from_layer = [](const DenseLayer& layer) {
    Step step;
    step.weight_offset = layer.weight_offset;
    step.bias_offset = layer.bias_offset;
    step.in_dim = layer.in_features;
    step.out_dim = layer.out_features;
    step.activation = layer.activation;
    step.residual = layer.residual;
    return step;
  };
  for (const DenseLayer& layer : y_net_.layers()) add(from_layer(layer));
  Step joint;
  joint.weight_offset = joint_wy_;
  joint.in_dim = joint.out_dim = arch_.hidden;
  joint.activation = arch_.activation;
  joint.joint = true;
  add(joint);
  for (const DenseLayer& layer : joint_rest_.layers()) add(from_layer(layer));
  return plan;
}

// Runs one block through all steps. block[steps[0].in_slot ...] holds the candidates' y;
// x_part is Wx hx + b of the block's example (H values). Returns the energies.
static Lanes forward_block(const float* params, const Plan& plan, const float* x_part, Lanes* block) {
  const std::size_t count = plan.steps.size();
  Lanes f = broadcast(0.0f);
  for (std::size_t s = 0; s < count; ++s) {
    const Step& step = plan.steps[s];
    const Lanes* in = block + step.in_slot;
    Lanes* pre = block + step.pre_slot;
    const float* bias = step.joint ? x_part : params + step.bias_offset;
    for (int r = 0; r < step.out_dim; ++r) pre[r] = broadcast(bias[r]);
    accumulate_product(params + step.weight_offset, 1, static_cast<std::size_t>(step.out_dim), step.out_dim,
                       step.in_dim, in, pre);
    if (s + 1 == count) {
      f = pre[0];  // output layer: identity, one unit
      break;
    }
    Lanes* out = block + plan.steps[s + 1].in_slot;
    activate_lanes(step.activation, pre, out, step.out_dim);
    if (step.residual) {
      for (int r = 0; r < step.out_dim; ++r) out[r] += in[r];
    }
  }
  return f;
}

RowVector<float> EnergyModel::energy_lanes(const float* params, const Matrix<float>& hx, const Matrix<float>& y,
                                           int candidates, EnergyLaneCache* cache) const {
  const Plan& plan = lane_plan_;
  const int h = arch_.hidden, dy = arch_.y_dim;
  const Eigen::Index examples = hx.cols();
  const int blocks_per_example = (candidates + 7) / 8;
  // Joint pre-activation, x part: Wx hx + b once per example (H x E), as in the matrix path.
  Matrix<float> x_part = Eigen::Map<const Matrix<float>>(params + joint_wx_, h, h) * hx;
  x_part.colwise() += Eigen::Map<const Vector<float>>(params + joint_bias_, h);
  std::vector<Lanes> scratch;
  if (cache != nullptr) {
    cache->hx = hx;
    cache->candidates = candidates;
    cache->blocks_per_example = blocks_per_example;
    cache->values.resize(plan.block_size * static_cast<std::size_t>(blocks_per_example) * examples);
  } else {
    scratch.resize(plan.block_size);
  }
  RowVector<float> f(y.cols());
  for (Eigen::Index e = 0; e < examples; ++e) {
    const Eigen::Index first = e * candidates;
    for (int b = 0; b < blocks_per_example; ++b) {
      const int c0 = 8 * b, width = std::min(8, candidates - c0);
      Lanes* block = cache != nullptr
                         ? cache->values.data() + (static_cast<std::size_t>(e) * blocks_per_example + b) * plan.block_size
                         : scratch.data();
      // Unused lanes of the last block get y = 0; their energies are computed and dropped
      // (and their gradient is zero).
      Lanes* y_lanes = block + plan.steps.front().in_slot;
      for (int d = 0; d < dy; ++d) {
        y_lanes[d] = broadcast(0.0f);
        for (int l = 0; l < width; ++l) y_lanes[d][l] = y(d, first + c0 + l);
      }
      const Lanes energies = forward_block(params, plan, x_part.col(e).data(), block);
      for (int l = 0; l < width; ++l) f(first + c0 + l) = energies[l];
    }
  }
  return f;
}

// Backward through the steps of each block, from dL/df:
//   dz = dout .* act'(pre)                    (dout = dL/d(output of the step))
//   dW += dz in^T, db += dz                   per-lane accumulators, summed over lanes at
//                                             the end in a fixed order
//   din = W^T dz [+ dout if residual]         (not needed below the first y layer)
// The joint layer's dz, summed over an example's candidates, is dz_x (H x E): it gives
// the gradients of Wx and of the joint bias and dL/dhx exactly as in the matrix path.
void EnergyModel::energy_backward_lanes(const float* params, const EnergyLaneCache& cache,
                                        const RowVector<float>& d_f, float* grads, Matrix<float>* d_hx) const {
  require_narrow(lanes_apply(), arch_.hidden, arch_.y_dim);
  const Plan& plan = lane_plan_;
  const int h = arch_.hidden, candidates = cache.candidates;
  const Eigen::Index examples = cache.hx.cols();
  const std::size_t count = plan.steps.size();
  std::vector<Lanes> accumulators(plan.grad_size, broadcast(0.0f));
  std::vector<Lanes> joint_sum(static_cast<std::size_t>(h));
  Matrix<float> dz_x(h, examples);
  Lanes d_out[kLaneMaxWidth], dz[kLaneMaxWidth], d_in[kLaneMaxWidth];
  for (Eigen::Index e = 0; e < examples; ++e) {
    const Eigen::Index first = e * candidates;
    std::fill(joint_sum.begin(), joint_sum.end(), broadcast(0.0f));
    for (int b = 0; b < cache.blocks_per_example; ++b) {
      const int c0 = 8 * b, width = std::min(8, candidates - c0);
      const Lanes* block = cache.values.data() + (static_cast<std::size_t>(e) * cache.blocks_per_example + b) * plan.block_size;
      d_out[0] = broadcast(0.0f);
      for (int l = 0; l < width; ++l) d_out[0][l] = d_f(first + c0 + l);
      for (std::size_t s = count; s-- > 0;) {
        const Step& step = plan.steps[s];
        const Lanes* in = block + step.in_slot;
        const Lanes* pre = block + step.pre_slot;
        for (int r = 0; r < step.out_dim; ++r) dz[r] = d_out[r];
        multiply_by_derivative_lanes(step.activation, pre, dz, step.out_dim);
        // dW (out x in, column-major like W) and db accumulators of this step.
        Lanes* grad_weight = accumulators.data() + step.grad_slot;
        for (int k = 0; k < step.in_dim; ++k) {
          const Lanes input = in[k];
          Lanes* column = grad_weight + static_cast<std::size_t>(k) * step.out_dim;
          for (int r = 0; r < step.out_dim; ++r) column[r] += dz[r] * input;
        }
        Lanes* grad_bias = step.joint ? joint_sum.data()
                                      : grad_weight + static_cast<std::size_t>(step.in_dim) * step.out_dim;
        for (int r = 0; r < step.out_dim; ++r) grad_bias[r] += dz[r];
        if (s == 0) break;  // dL/dy is not needed for training
        for (int k = 0; k < step.in_dim; ++k) d_in[k] = step.residual ? d_out[k] : broadcast(0.0f);
        // d_in += W^T dz: W^T(k, r) = W(r, k) = w[r + k * out_dim].
        accumulate_product(params + step.weight_offset, static_cast<std::size_t>(step.out_dim), 1, step.in_dim,
                           step.out_dim, dz, d_in);
        for (int k = 0; k < step.in_dim; ++k) d_out[k] = d_in[k];
      }
    }
    for (int r = 0; r < h; ++r) dz_x(r, e) = lane_sum(joint_sum[static_cast<std::size_t>(r)]);
  }
  if (grads != nullptr) {
    for (const Step& step : plan.steps) {
      const Lanes* grad_weight = accumulators.data() + step.grad_slot;
      const std::size_t weights = static_cast<std::size_t>(step.in_dim) * step.out_dim;
      for (std::size_t i = 0; i < weights; ++i) grads[step.weight_offset + i] += lane_sum(grad_weight[i]);
      if (!step.joint) {
        for (int r = 0; r < step.out_dim; ++r) grads[step.bias_offset + r] += lane_sum(grad_weight[weights + r]);
      }
    }
    Eigen::Map<Matrix<float>>(grads + joint_wx_, h, h).noalias() += dz_x * cache.hx.transpose();
    add_column_sum(Eigen::Map<Vector<float>>(grads + joint_bias_, h), dz_x);
  }
  if (d_hx != nullptr) {
    d_hx->noalias() = Eigen::Map<const Matrix<float>>(params + joint_wx_, h, h).transpose() * dz_x;
  }
}

}  // namespace ebm
