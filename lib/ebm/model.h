// The conditional energy-based model f(x, y) and its mixture-density proposal q(y|x).
//
//   hx = x_net(x)                         x-branch, computed once per example   (H x E);
//                                         with --x-embedding periodic x_net reads the
//                                         embedding PLR(x) (dx*d x E, embedding.h)
//   hy = y_net(y)                         y-branch, once per candidate y        (H x E*C)
//   a  = act(Wx hx + Wy hy + b)           joint input layer; Wx hx is computed once
//                                         per example and broadcast over its C
//                                         candidates (equivalent to Linear(2H, H) on
//                                         concat[hx, hy])
//   a  = act(W a + b) + a                 residual blocks
//   f  = w^T a + c                        scalar energy (higher = more likely)
//
//   q(y|x) = sum_k pi_k N(y; mu_k, diag sigma_k^2), with three heads on hx (treated as a
//   constant: the proposal never moves the shared x-features), each
//   Linear(H,H)-ReLU-Linear(H,.): means (K*dy), log-variances (K*dy), weight logits (K).
//
// Candidates are grouped by example: columns e*C .. e*C+C-1 of the y matrix belong to
// example e. All quantities are in standardised units; see Standardizer for the mapping
// to the user's units.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ebm/embedding.h"
#include "ebm/energy_lanes.h"  // the lane form's cache and plan (energy_lanes, lane_plan_)
#include "ebm/nn.h"
#include "ebm/rng.h"

namespace ebm {

// What the network's output is: the energy itself, or a correction g of the proposal's
// log-density, f(x,y) = log q(y|x) + g(x,y) (maths.md §3c).
enum class EnergyForm { absolute, relative };
std::string energy_form_name(EnergyForm form);
EnergyForm energy_form_from_name(const std::string& name);  // throws UsageError

struct Architecture {
  int x_dim = 1;
  int y_dim = 1;
  int hidden = 64;
  int x_layers = 2;         // layers of the x-branch (first maps x_dim -> hidden)
  int y_layers = 2;         // layers of the y-branch
  int residual_blocks = 1;  // residual blocks after the joint input layer
  int components = 4;       // K of the mixture-density proposal
  Activation activation = Activation::relu;
  // Numerical feature embedding before the x-branch (embedding.h). The sizes below are
  // used only when it is not none.
  XEmbedding x_embedding = XEmbedding::none;
  int embedding_frequencies = 16;  // K: frequencies per feature
  int embedding_dim = 16;          // d: values per feature after the linear map
  double embedding_sigma = 1.0;    // initial frequencies ~ N(0, sigma^2), standardised units
  // relative: the energy is log q(y|x) + g(x,y), the network's output g a correction of
  // the proposal (which is then fitted to the data by maximum likelihood, training.h);
  // absolute: the network's output is the energy.
  EnergyForm energy_form = EnergyForm::absolute;
};

// Bounds on the proposal's log-variances (standardised units): sigma in [1.2e-4, 148].
// Outside them the gradient is zero. Without the lower bound a component can collapse
// onto a single training point and produce infinite densities.
constexpr double kMinLogVariance = -18.0;
constexpr double kMaxLogVariance = 10.0;

// What the x-branch's backward pass needs; mlp.output is hx.
template <typename S>
struct XBranchCache {
  PeriodicEmbeddingCache<S> embedding;  // empty without an embedding
  MlpCache<S> mlp;
};

template <typename S>
struct EnergyCache {
  MlpCache<S> y_branch;
  Matrix<S> hx;              // H x E
  Matrix<S> joint_pre;       // Wx hx + Wy hy + b, H x E*C
  MlpCache<S> joint;         // residual blocks + output layer, input = act(joint_pre)
  Matrix<S> d_log_q_dy;      // relative energy: d log q(y|x) / dy, y_dim x E*C
  int candidates_per_example = 0;
};

// Forward-mode differentiation of the energy w.r.t. one coordinate y_d of the target
// (model_derivatives.cpp, maths.md "Derivatives of f with respect to y"): every layer
// carries its value a, first derivative da = d a / d y_d and second derivative
// dda = d^2 a / d y_d^2, all (features x N). One entry per dense layer, in network order:
// the y-branch's layers, the joint input layer, then the residual blocks and the output.
template <typename S>
struct TangentLayerCache {
  Matrix<S> a, da, dda;  // the layer's input and its derivatives (in x N)
  Matrix<S> z, dz, ddz;  // pre-activation W a + b and its derivatives (out x N)
};
template <typename S>
struct YDerivativeCache {
  std::vector<TangentLayerCache<S>> layers;
  Matrix<S> hx;
  int candidates_per_example = 0;
};
// f, df/dy_d and d^2 f/dy_d^2 of E*C candidates (each 1 x E*C).
template <typename S>
struct EnergyYDerivatives {
  RowVector<S> f, df, d2f;
};

template <typename S>
struct MdnOutput {
  Matrix<S> means;          // (K*dy) x E, row k*dy + d
  Matrix<S> log_variances;  // (K*dy) x E, clamped to [kMinLogVariance, kMaxLogVariance]
  Matrix<S> log_weights;    // K x E, log-softmax of the logits
  int components = 0;
  int y_dim = 0;
  int examples() const { return static_cast<int>(log_weights.cols()); }
};

template <typename S>
struct MdnCache {
  MlpCache<S> means, log_variances, logits;
};

class EnergyModel {
 public:
  explicit EnergyModel(const Architecture& architecture);

  const Architecture& architecture() const { return arch_; }
  const ParameterLayout& layout() const { return layout_; }
  std::size_t parameter_count() const { return layout_.size(); }

  // PyTorch's default initialisation: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)).
  template <typename S>
  void initialize(S* params, Rng& rng) const;

  // x-branch (embedding, if any, then x_net). x: x_dim x E; hx is cache.mlp.output.
  template <typename S>
  void x_features(const S* params, const Matrix<S>& x, XBranchCache<S>& cache) const;
  template <typename S>
  Matrix<S> x_features(const S* params, const Matrix<S>& x) const;
  // dL/dhx (H x E, consumed) -> parameter gradients of the x-branch (embedding included).
  template <typename S>
  void x_features_backward(const S* params, const XBranchCache<S>& cache, Matrix<S>& d_hx,
                           nondeduced_t<S*> grads) const;

  // Energies of E*C candidates (1 x E*C); keeps what energy_backward needs.
  template <typename S>
  RowVector<S> energy(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                      int candidates_per_example, EnergyCache<S>& cache) const;
  // Same without a cache (inference).
  template <typename S>
  RowVector<S> energy(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                      int candidates_per_example) const;
  // The matrix path of energy() in two steps. The joint input layer computes
  // Wx hx + b + Wy y_net(y); its y-side Wy y_net(y) (H x C) is a function of y alone, so
  // candidates that many rows share (a quadrature grid) need it once: joint_y_part(y) once,
  // then energy_from_joint_y_part for each row, which runs only the layers after it.
  // energy() itself is energy_from_joint_y_part(hx, y, joint_y_part(y)), bit for bit
  // (outside lanes_apply()). y is read again only by the relative energy form.
  template <typename S>
  Matrix<S> joint_y_part(const S* params, const Matrix<S>& y) const;
  template <typename S>
  RowVector<S> energy_from_joint_y_part(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                                        Matrix<S> y_part, int candidates_per_example) const;
  // Whether energy() takes the matrix path, so that a y-side computed once for candidates
  // many rows share gives energy()'s own bits. The lane path (lanes_apply()) runs each
  // candidate through the whole network in a vector lane and has no such split.
  bool shares_joint_y_part() const { return !lanes_apply(); }
  // Same as energy() for narrow float networks (hidden width and y_dim at most
  // kLaneMaxWidth): each candidate runs through the whole network in one lane of an
  // 8-wide vector instead of as a column of a (H x C) matrix product. Used by energy()
  // when lanes_apply(); public so that tests can compare it with the matrix path.
  static constexpr int kLaneMaxWidth = 16;
  bool lanes_apply() const {
    return arch_.hidden <= kLaneMaxWidth && arch_.y_dim <= kLaneMaxWidth && arch_.energy_form == EnergyForm::absolute;
  }
  // With a cache, keeps every layer's input and pre-activation for energy_backward_lanes.
  RowVector<float> energy_lanes(const float* params, const Matrix<float>& hx, const Matrix<float>& y,
                                int candidates_per_example, EnergyLaneCache* cache = nullptr) const;
  // The lane path's backward pass (training): given dL/df (1 x E*C), accumulates the
  // energy's parameter gradients into grads and writes dL/dhx (H x E) when requested.
  // Throws UsageError unless lanes_apply().
  void energy_backward_lanes(const float* params, const EnergyLaneCache& cache, const RowVector<float>& d_f,
                             float* grads, Matrix<float>* d_hx) const;
  // Given dL/df (1 x E*C): accumulates parameter gradients (grads may be null), and
  // writes dL/dhx (H x E) and dL/dy (y_dim x E*C) when requested.
  template <typename S>
  void energy_backward(const S* params, EnergyCache<S>& cache, const RowVector<S>& d_f,
                       nondeduced_t<S*> grads, nondeduced_t<Matrix<S>*> d_hx,
                       nondeduced_t<Matrix<S>*> d_y) const;

  // f, df/dy_d and d^2 f/dy_d^2 for target coordinate `dim` at the E*C candidates y
  // (y_dim x E*C; hx: H x E), by forward-mode differentiation through the y-branch and the
  // joint network; keeps what energy_y_derivatives_backward needs when cache is not null.
  // Used by score matching (dsm, sm); model_derivatives.cpp.
  template <typename S>
  EnergyYDerivatives<S> energy_y_derivatives(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                                             int candidates_per_example, int dim,
                                             nondeduced_t<YDerivativeCache<S>*> cache) const;
  // Reverse pass through that computation: given dL/df, dL/d(df/dy_d) and
  // dL/d(d^2 f/dy_d^2) (each 1 x E*C; an empty d_f means zero), accumulates the energy's
  // parameter gradients into grads and adds dL/dhx (H x E) into *d_hx when not null
  // (resized and zeroed if it is empty).
  template <typename S>
  void energy_y_derivatives_backward(const S* params, const YDerivativeCache<S>& cache, const RowVector<S>& d_f,
                                     const RowVector<S>& d_df, const RowVector<S>& d_d2f, nondeduced_t<S*> grads,
                                     nondeduced_t<Matrix<S>*> d_hx) const;

  // Multiplies the network's output by `factor` by scaling the output layer: used to
  // apply a fitted temperature, f / T (relative energy: log q + g / T).
  template <typename S>
  void scale_energy(S* params, S factor) const {
    const DenseLayer& out = joint_rest_.layers().back();
    for (int i = 0; i < out.in_features; ++i) params[out.weight_offset + i] *= factor;
    params[out.bias_offset] *= factor;
  }

  // Adds `shift` to every log-variance the proposal outputs (before clamping) by shifting
  // the bias of the head's output layer: multiplies the proposal's standard deviations
  // by exp(shift / 2). Used to apply a fitted proposal width.
  template <typename S>
  void shift_proposal_log_variances(S* params, S shift) const {
    const DenseLayer& out = log_variance_head_.layers().back();
    for (int i = 0; i < out.out_features; ++i) params[out.bias_offset + i] += shift;
  }

  // Relative energy: adds log q(y|x) of the E*C candidates y (y_dim x E*C) to f and, when
  // d_log_q_dy is not null, writes d log q / dy (y_dim x E*C). The proposal's parameters get
  // no gradient through this term: it is the base measure of the correction g.
  template <typename S>
  void add_log_proposal(const S* params, const Matrix<S>& hx, const Matrix<S>& y, int candidates_per_example,
                        RowVector<S>& f, nondeduced_t<Matrix<S>*> d_log_q_dy) const;

  // Proposal parameters for each example from hx (H x E).
  template <typename S>
  void proposal(const S* params, const Matrix<S>& hx, MdnOutput<S>& out,
                nondeduced_t<MdnCache<S>*> cache) const;
  // Given dL/dmeans, dL/dlog_variances (after clamping) and dL/dlogits, accumulates the
  // gradients of the three heads.
  template <typename S>
  void proposal_backward(const S* params, const MdnCache<S>& cache, const MdnOutput<S>& out,
                         Matrix<S> d_means, Matrix<S> d_log_variances, Matrix<S> d_logits,
                         nondeduced_t<S*> grads) const;

 private:
  Architecture arch_;
  ParameterLayout layout_;
  bool has_embedding_ = false;
  PeriodicEmbedding x_embedding_;  // registered before x_net when has_embedding_
  Mlp x_net_, y_net_, joint_rest_;
  std::size_t joint_wx_ = 0, joint_wy_ = 0, joint_bias_ = 0;
  Mlp mean_head_, log_variance_head_, logit_head_;
  EnergyLanePlan lane_plan_;  // built last, from the layers above (energy_lanes.cpp)
  EnergyLanePlan build_lane_plan() const;
};

}  // namespace ebm
