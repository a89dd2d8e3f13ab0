#include "ebm/model.h"

#include <cmath>
#include <type_traits>

#include "ebm/errors.h"
#include "ebm/proposal.h"

namespace ebm {

EnergyModel::EnergyModel(const Architecture& a) : arch_(a) {
  if (a.x_dim < 1 || a.y_dim < 1) throw UsageError("the model needs at least one feature and one target");
  if (a.hidden < 1) throw UsageError("--hidden must be at least 1");
  if (a.x_layers < 1 || a.y_layers < 1) throw UsageError("the x and y branches need at least one layer");
  if (a.residual_blocks < 0) throw UsageError("--residual-blocks must be >= 0");
  if (a.components < 1) throw UsageError("--components must be at least 1");
  const int h = a.hidden;
  int x_net_inputs = a.x_dim;
  if (a.x_embedding == XEmbedding::periodic) {
    has_embedding_ = true;
    x_embedding_ = PeriodicEmbedding(layout_, a.x_dim, a.embedding_frequencies, a.embedding_dim);
    x_net_inputs = x_embedding_.out_features();
  }
  for (int l = 0; l < a.x_layers; ++l) x_net_.add_layer(layout_, "x_net", l == 0 ? x_net_inputs : h, h, a.activation);
  for (int l = 0; l < a.y_layers; ++l) y_net_.add_layer(layout_, "y_net", l == 0 ? a.y_dim : h, h, a.activation);
  joint_wx_ = layout_.add("joint.wx", h, h);
  joint_wy_ = layout_.add("joint.wy", h, h);
  joint_bias_ = layout_.add("joint.bias", h, 1);
  for (int b = 0; b < a.residual_blocks; ++b) {
    joint_rest_.add_layer(layout_, "joint_rest", h, h, a.activation, /*residual=*/true);
  }
  joint_rest_.add_layer(layout_, "joint_rest", h, 1, Activation::identity);
  const int k = a.components;
  mean_head_.add_layer(layout_, "mdn_mean", h, h, Activation::relu);
  mean_head_.add_layer(layout_, "mdn_mean", h, k * a.y_dim, Activation::identity);
  log_variance_head_.add_layer(layout_, "mdn_log_variance", h, h, Activation::relu);
  log_variance_head_.add_layer(layout_, "mdn_log_variance", h, k * a.y_dim, Activation::identity);
  logit_head_.add_layer(layout_, "mdn_logit", h, h, Activation::relu);
  logit_head_.add_layer(layout_, "mdn_logit", h, k, Activation::identity);
  lane_plan_ = build_lane_plan();
}

template <typename S>
void EnergyModel::initialize(S* params, Rng& rng) const {
  auto fill = [&](std::size_t offset, std::size_t count, int fan_in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (std::size_t i = 0; i < count; ++i) params[offset + i] = S((2.0 * rng.uniform() - 1.0) * bound);
  };
  auto init_mlp = [&](const Mlp& mlp) {
    for (const DenseLayer& layer : mlp.layers()) {
      fill(layer.weight_offset, static_cast<std::size_t>(layer.out_features) * layer.in_features, layer.fan_in());
      fill(layer.bias_offset, layer.out_features, layer.fan_in());
    }
  };
  const int h = arch_.hidden;
  if (has_embedding_) x_embedding_.initialize(params, rng, arch_.embedding_sigma);
  init_mlp(x_net_);
  init_mlp(y_net_);
  // The joint input layer is Linear(2H, H) on concat[hx, hy]: fan-in 2H for all parts.
  fill(joint_wx_, static_cast<std::size_t>(h) * h, 2 * h);
  fill(joint_wy_, static_cast<std::size_t>(h) * h, 2 * h);
  fill(joint_bias_, h, 2 * h);
  init_mlp(joint_rest_);
  init_mlp(mean_head_);
  init_mlp(log_variance_head_);
  init_mlp(logit_head_);
}

template <typename S>
void EnergyModel::x_features(const S* params, const Matrix<S>& x, XBranchCache<S>& cache) const {
  if (!has_embedding_) {
    x_net_.forward(params, x, cache.mlp);
    return;
  }
  Matrix<S> embedded;
  x_embedding_.forward(params, x, cache.embedding, embedded);
  x_net_.forward(params, embedded, cache.mlp);
}

template <typename S>
Matrix<S> EnergyModel::x_features(const S* params, const Matrix<S>& x) const {
  if (!has_embedding_) return x_net_.predict(params, x);
  return x_net_.predict(params, x_embedding_.predict(params, x));
}

template <typename S>
void EnergyModel::x_features_backward(const S* params, const XBranchCache<S>& cache, Matrix<S>& d_hx,
                                      nondeduced_t<S*> grads) const {
  if (!has_embedding_) {
    x_net_.backward(params, cache.mlp, d_hx, grads, nullptr);
    return;
  }
  // Chain rule: dL/du = x_net's input gradient (dx*d x E), then the embedding's own.
  Matrix<S> d_embedded;
  x_net_.backward(params, cache.mlp, d_hx, grads, &d_embedded);
  x_embedding_.backward(params, cache.embedding, d_embedded, grads);
}

// Adds the x-side of the joint input layer, Wx hx[:, e] + b, to the columns of example e
// of `pre` (H x E*C), which holds the y-side Wy hy.
template <typename S>
static void add_joint_x_part(const S* params, std::size_t wx_offset, std::size_t bias_offset, int h,
                             const Matrix<S>& hx, int candidates, Matrix<S>& pre) {
  const Eigen::Map<const Matrix<S>> wx(params + wx_offset, h, h);
  const Eigen::Map<const Vector<S>> bias(params + bias_offset, h);
  Matrix<S> x_part = wx * hx;  // H x E: once per example, not once per candidate
  x_part.colwise() += bias;
  for (Eigen::Index e = 0; e < hx.cols(); ++e) {
    pre.middleCols(e * candidates, candidates).colwise() += x_part.col(e);
  }
}

template <typename S>
static Matrix<S> joint_preactivation(const S* params, std::size_t wx_offset, std::size_t wy_offset,
                                     std::size_t bias_offset, int h, const Matrix<S>& hx,
                                     const Matrix<S>& hy, int candidates) {
  const Eigen::Map<const Matrix<S>> wy(params + wy_offset, h, h);
  Matrix<S> pre(h, hy.cols());
  pre.noalias() = wy * hy;
  add_joint_x_part(params, wx_offset, bias_offset, h, hx, candidates, pre);
  return pre;
}

template <typename S>
RowVector<S> EnergyModel::energy(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                                 int candidates, EnergyCache<S>& cache) const {
  y_net_.forward(params, y, cache.y_branch);
  cache.hx = hx;
  cache.candidates_per_example = candidates;
  cache.joint_pre = joint_preactivation(params, joint_wx_, joint_wy_, joint_bias_, arch_.hidden, hx,
                                        cache.y_branch.output, candidates);
  Matrix<S> a = cache.joint_pre;
  apply_activation(arch_.activation, a);
  joint_rest_.forward(params, a, cache.joint);
  RowVector<S> f = cache.joint.output;
  if (arch_.energy_form == EnergyForm::relative) add_log_proposal(params, hx, y, candidates, f, &cache.d_log_q_dy);
  return f;
}

template <typename S>
RowVector<S> EnergyModel::energy(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                                 int candidates) const {
  if constexpr (std::is_same_v<S, float>) {
    if (lanes_apply()) return energy_lanes(params, hx, y, candidates);
  }
  return energy_from_joint_y_part(params, hx, y, joint_y_part(params, y), candidates);
}

template <typename S>
Matrix<S> EnergyModel::joint_y_part(const S* params, const Matrix<S>& y) const {
  const int h = arch_.hidden;
  const Eigen::Map<const Matrix<S>> wy(params + joint_wy_, h, h);
  Matrix<S> part(h, y.cols());
  part.noalias() = wy * y_net_.predict(params, y);
  return part;
}

template <typename S>
RowVector<S> EnergyModel::energy_from_joint_y_part(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                                                   Matrix<S> y_part, int candidates) const {
  add_joint_x_part(params, joint_wx_, joint_bias_, arch_.hidden, hx, candidates, y_part);
  apply_activation(arch_.activation, y_part);
  RowVector<S> f = joint_rest_.predict(params, y_part);
  if (arch_.energy_form == EnergyForm::relative) add_log_proposal(params, hx, y, candidates, f, nullptr);
  return f;
}

template <typename S>
void EnergyModel::add_log_proposal(const S* params, const Matrix<S>& hx, const Matrix<S>& y, int candidates,
                                   RowVector<S>& f, nondeduced_t<Matrix<S>*> d_log_q_dy) const {
  MdnOutput<S> q;
  proposal(params, hx, q, nullptr);
  const int dy = arch_.y_dim, k_count = arch_.components;
  RowVector<S> log_q(candidates);
  Matrix<S> responsibilities;  // K x C
  if (d_log_q_dy != nullptr) d_log_q_dy->resize(dy, y.cols());
  for (Eigen::Index e = 0; e < hx.cols(); ++e) {
    const Eigen::Index first = e * candidates;
    const auto y_e = y.middleCols(first, candidates);
    mdn_log_density_batch(q, static_cast<int>(e), y_e, log_q.data(), d_log_q_dy != nullptr ? &responsibilities : nullptr);
    f.segment(first, candidates) += log_q;
    if (d_log_q_dy == nullptr) continue;
    // d log q / dy_d = sum_k r_k (mu_kd - y_d) / sigma_kd^2 (r_k: the responsibilities).
    for (int d = 0; d < dy; ++d) {
      auto out = d_log_q_dy->row(d).segment(first, candidates);
      out.setZero();
      for (int k = 0; k < k_count; ++k) {
        const S inv_var = std::exp(-q.log_variances(k * dy + d, e));
        out.array() += responsibilities.row(k).array() * (q.means(k * dy + d, e) - y_e.row(d).array()) * inv_var;
      }
    }
  }
}

template <typename S>
void EnergyModel::energy_backward(const S* params, EnergyCache<S>& cache, const RowVector<S>& d_f,
                                  nondeduced_t<S*> grads, nondeduced_t<Matrix<S>*> d_hx,
                                  nondeduced_t<Matrix<S>*> d_y) const {
  const int h = arch_.hidden;
  const int candidates = cache.candidates_per_example;
  const Eigen::Index examples = cache.hx.cols();
  Matrix<S> d_out = d_f;
  Matrix<S> dz;  // dL/d(joint_pre), H x E*C
  joint_rest_.backward(params, cache.joint, d_out, grads, &dz);
  multiply_by_activation_derivative(arch_.activation, cache.joint_pre, dz);
  // joint_pre[:, e*C + c] = Wx hx[:, e] + b + Wy hy[:, e*C + c], so
  //   dWy = dz hy^T, db = sum of dz over all columns,
  //   dWx = dz_x hx^T and dhx = Wx^T dz_x with dz_x[:, e] = sum_c dz[:, e*C + c].
  Matrix<S> dz_x(h, examples);
  for (Eigen::Index e = 0; e < examples; ++e) {
    dz_x.col(e).setZero();
    add_column_sum(dz_x.col(e), dz.middleCols(e * candidates, candidates));
  }
  if (grads != nullptr) {
    accumulate_weight_gradient<S>(Eigen::Map<Matrix<S>>(grads + joint_wy_, h, h), dz, cache.y_branch.output);
    Eigen::Map<Matrix<S>>(grads + joint_wx_, h, h).noalias() += dz_x * cache.hx.transpose();
    add_column_sum(Eigen::Map<Vector<S>>(grads + joint_bias_, h), dz_x);
  }
  if (d_hx != nullptr) {
    d_hx->noalias() = Eigen::Map<const Matrix<S>>(params + joint_wx_, h, h).transpose() * dz_x;
  }
  if (grads != nullptr || d_y != nullptr) {
    Matrix<S> d_hy = Eigen::Map<const Matrix<S>>(params + joint_wy_, h, h).transpose() * dz;
    y_net_.backward(params, cache.y_branch, d_hy, grads, d_y);
  }
  // Relative energy: f = log q + g adds dL/df * d log q/dy to dL/dy (the proposal's
  // parameters and hx get nothing from this term).
  if (d_y != nullptr && arch_.energy_form == EnergyForm::relative) {
    d_y->array() += cache.d_log_q_dy.array().rowwise() * d_f.array();
  }
}

template <typename S>
void EnergyModel::proposal(const S* params, const Matrix<S>& hx, MdnOutput<S>& out,
                           nondeduced_t<MdnCache<S>*> cache) const {
  out.components = arch_.components;
  out.y_dim = arch_.y_dim;
  if (cache != nullptr) {
    mean_head_.forward(params, hx, cache->means);
    log_variance_head_.forward(params, hx, cache->log_variances);
    logit_head_.forward(params, hx, cache->logits);
    out.means = cache->means.output;
    out.log_variances = cache->log_variances.output;
    out.log_weights = cache->logits.output;
  } else {
    out.means = mean_head_.predict(params, hx);
    out.log_variances = log_variance_head_.predict(params, hx);
    out.log_weights = logit_head_.predict(params, hx);
  }
  out.log_variances = out.log_variances.array().max(S(kMinLogVariance)).min(S(kMaxLogVariance)).matrix();
  // Log-softmax per column, shifted by the maximum so that exp never overflows.
  for (Eigen::Index e = 0; e < out.log_weights.cols(); ++e) {
    auto column = out.log_weights.col(e);
    const S top = column.maxCoeff();
    const S log_sum = top + std::log((column.array() - top).exp().sum());
    column.array() -= log_sum;
  }
}

template <typename S>
void EnergyModel::proposal_backward(const S* params, const MdnCache<S>& cache, const MdnOutput<S>&,
                                    Matrix<S> d_means, Matrix<S> d_log_variances, Matrix<S> d_logits,
                                    nondeduced_t<S*> grads) const {
  // The clamp passes the gradient only where the raw output lies inside the bounds.
  const auto& raw = cache.log_variances.output.array();
  d_log_variances = ((raw >= S(kMinLogVariance)) && (raw <= S(kMaxLogVariance)))
                        .select(d_log_variances.array(), S(0))
                        .matrix();
  mean_head_.backward(params, cache.means, d_means, grads, nullptr);
  log_variance_head_.backward(params, cache.log_variances, d_log_variances, grads, nullptr);
  logit_head_.backward(params, cache.logits, d_logits, grads, nullptr);
}

#define EBM_INSTANTIATE_MODEL(S)                                                                  \
  template void EnergyModel::initialize<S>(S*, Rng&) const;                                        \
  template void EnergyModel::x_features<S>(const S*, const Matrix<S>&, XBranchCache<S>&) const;    \
  template Matrix<S> EnergyModel::x_features<S>(const S*, const Matrix<S>&) const;                 \
  template void EnergyModel::x_features_backward<S>(const S*, const XBranchCache<S>&, Matrix<S>&,  \
                                                    S*) const;                                     \
  template RowVector<S> EnergyModel::energy<S>(const S*, const Matrix<S>&, const Matrix<S>&, int, \
                                               EnergyCache<S>&) const;                            \
  template RowVector<S> EnergyModel::energy<S>(const S*, const Matrix<S>&, const Matrix<S>&, int) \
      const;                                                                                       \
  template Matrix<S> EnergyModel::joint_y_part<S>(const S*, const Matrix<S>&) const;              \
  template RowVector<S> EnergyModel::energy_from_joint_y_part<S>(const S*, const Matrix<S>&,      \
                                                                 const Matrix<S>&, Matrix<S>, int) \
      const;                                                                                       \
  template void EnergyModel::energy_backward<S>(const S*, EnergyCache<S>&, const RowVector<S>&,   \
                                                S*, Matrix<S>*, Matrix<S>*) const;                \
  template void EnergyModel::proposal<S>(const S*, const Matrix<S>&, MdnOutput<S>&, MdnCache<S>*) \
      const;                                                                                       \
  template void EnergyModel::add_log_proposal<S>(const S*, const Matrix<S>&, const Matrix<S>&, int, \
                                                 RowVector<S>&, Matrix<S>*) const;                 \
  template void EnergyModel::proposal_backward<S>(const S*, const MdnCache<S>&,                   \
                                                  const MdnOutput<S>&, Matrix<S>, Matrix<S>,       \
                                                  Matrix<S>, S*) const;
EBM_INSTANTIATE_MODEL(float)
EBM_INSTANTIATE_MODEL(double)

}  // namespace ebm
