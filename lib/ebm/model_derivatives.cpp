// Derivatives of the energy f(x, y) w.r.t. one target coordinate y_d, and the reverse pass
// through them to the parameters: what score matching (dsm, sm) minimises. The maths, with
// the chain rule of every step, is in docs/maths.md ("Derivatives of f with respect to y").
//
// Forward mode: every dense layer out = act(z) [+ a], z = W a + b, carries the value and
// its first and second derivatives along y_d (all features x N, one column per candidate):
//   dz = W da,                ddz = W dda
//   dout = act'(z) dz [+ da], ddout = act''(z) dz^2 + act'(z) ddz [+ dda]
// starting from y (da = e_d, dda = 0) through the y-branch, the joint input layer (whose
// x-part Wx hx + b does not depend on y) and the joint network; the output layer's
// (out, dout, ddout) are f, df/dy_d and d^2 f/dy_d^2.
// Reverse mode through that: the adjoints (o, p, q) of (out, dout, ddout) give
//   zbar   = o act' + p act'' dz + q (act''' dz^2 + act'' ddz)
//   dzbar  = p act' + 2 q act'' dz
//   ddzbar = q act'
//   dW += zbar a^T + dzbar da^T + ddzbar dda^T,  db += zbar 1
//   (o, p, q) of the input = W^T (zbar, dzbar, ddzbar) [+ (o, p, q) for a residual layer].
#include <vector>

#include "ebm/activations.h"
#include "ebm/model.h"
#include "ebm/proposal.h"

namespace ebm {

namespace {

template <typename S>
Eigen::Map<const Matrix<S>> weights_of(const S* params, const DenseLayer& layer) {
  return Eigen::Map<const Matrix<S>>(params + layer.weight_offset, layer.out_features, layer.in_features);
}

// (out, dout, ddout) of a layer from its cached (z, dz, ddz) and, for a residual layer, its input.
template <typename S>
void tangent_activation(Activation activation, bool residual, const TangentLayerCache<S>& c, Matrix<S>& out,
                        Matrix<S>& dout, Matrix<S>& ddout) {
  Matrix<S> d1, d2, d3;
  activation_derivatives(activation, c.z, d1, d2, d3);
  out = c.z;
  apply_activation(activation, out);
  dout = (d1.array() * c.dz.array()).matrix();
  ddout = (d2.array() * c.dz.array().square() + d1.array() * c.ddz.array()).matrix();
  if (residual) {
    out += c.a;
    dout += c.da;
    ddout += c.dda;
  }
}

// The adjoints of (z, dz, ddz) from those (o, p, q) of (out, dout, ddout); see the top.
template <typename S>
void tangent_activation_backward(Activation activation, const TangentLayerCache<S>& c, const Matrix<S>& o,
                                 const Matrix<S>& p, const Matrix<S>& q, Matrix<S>& zbar, Matrix<S>& dzbar,
                                 Matrix<S>& ddzbar) {
  Matrix<S> d1, d2, d3;
  activation_derivatives(activation, c.z, d1, d2, d3);
  const auto dz = c.dz.array();
  zbar = (o.array() * d1.array() + p.array() * d2.array() * dz +
          q.array() * (d3.array() * dz.square() + d2.array() * c.ddz.array()))
             .matrix();
  dzbar = (p.array() * d1.array() + S(2) * q.array() * d2.array() * dz).matrix();
  ddzbar = (q.array() * d1.array()).matrix();
}

// dW += zbar a^T + dzbar da^T + ddzbar dda^T for the weight block at `offset` (out x in).
template <typename S>
void accumulate_tangent_weight_gradient(S* grads, std::size_t offset, const TangentLayerCache<S>& c,
                                        const Matrix<S>& zbar, const Matrix<S>& dzbar, const Matrix<S>& ddzbar) {
  Eigen::Map<Matrix<S>> d_weight(grads + offset, zbar.rows(), c.a.rows());
  accumulate_weight_gradient<S>(d_weight, zbar, c.a);
  accumulate_weight_gradient<S>(d_weight, dzbar, c.da);
  accumulate_weight_gradient<S>(d_weight, ddzbar, c.dda);
}

// Forward through one dense layer of an Mlp; c.a/da/dda hold its input, (out, dout, ddout) receive its output.
template <typename S>
void dense_forward(const S* params, const DenseLayer& layer, TangentLayerCache<S>& c, Matrix<S>& out,
                   Matrix<S>& dout, Matrix<S>& ddout) {
  const auto w = weights_of(params, layer);
  c.z.noalias() = w * c.a;
  c.z.colwise() += Eigen::Map<const Vector<S>>(params + layer.bias_offset, layer.out_features);
  c.dz.noalias() = w * c.da;
  c.ddz.noalias() = w * c.dda;
  tangent_activation(layer.activation, layer.residual, c, out, dout, ddout);
}

// Reverse through one dense layer: (o, p, q) hold the adjoints of its output and, when
// need_input, receive those of its input.
template <typename S>
void dense_backward(const S* params, const DenseLayer& layer, const TangentLayerCache<S>& c, Matrix<S>& o,
                    Matrix<S>& p, Matrix<S>& q, S* grads, bool need_input) {
  Matrix<S> zbar, dzbar, ddzbar;
  tangent_activation_backward(layer.activation, c, o, p, q, zbar, dzbar, ddzbar);
  if (grads != nullptr) {
    accumulate_tangent_weight_gradient(grads, layer.weight_offset, c, zbar, dzbar, ddzbar);
    add_column_sum(Eigen::Map<Vector<S>>(grads + layer.bias_offset, layer.out_features), zbar);
  }
  if (!need_input) return;
  const auto w = weights_of(params, layer);
  Matrix<S> o_in = w.transpose() * zbar, p_in = w.transpose() * dzbar, q_in = w.transpose() * ddzbar;
  if (layer.residual) {
    o_in += o;
    p_in += p;
    q_in += q;
  }
  o.swap(o_in);
  p.swap(p_in);
  q.swap(q_in);
}

}  // namespace

template <typename S>
EnergyYDerivatives<S> EnergyModel::energy_y_derivatives(const S* params, const Matrix<S>& hx, const Matrix<S>& y,
                                                        int candidates, int dim,
                                                        nondeduced_t<YDerivativeCache<S>*> cache) const {
  const int h = arch_.hidden;
  const Eigen::Index n = y.cols();
  YDerivativeCache<S> local;
  YDerivativeCache<S>& c = cache != nullptr ? *cache : local;
  const std::size_t y_layers = y_net_.layers().size(), rest_layers = joint_rest_.layers().size();
  c.layers.resize(y_layers + 1 + rest_layers);
  c.hx = hx;
  c.candidates_per_example = candidates;
  // The input: y, d y / d y_dim = e_dim, second derivative 0.
  Matrix<S> out = y, dout = Matrix<S>::Zero(y.rows(), n), ddout = Matrix<S>::Zero(y.rows(), n);
  dout.row(dim).setOnes();
  std::size_t l = 0;
  for (const DenseLayer& layer : y_net_.layers()) {
    TangentLayerCache<S>& t = c.layers[l++];
    t.a.swap(out);
    t.da.swap(dout);
    t.dda.swap(ddout);
    dense_forward(params, layer, t, out, dout, ddout);
  }
  // Joint input layer: z = Wx hx[:, e] + b + Wy hy; only the hy part depends on y.
  {
    TangentLayerCache<S>& t = c.layers[l++];
    t.a.swap(out);
    t.da.swap(dout);
    t.dda.swap(ddout);
    const Eigen::Map<const Matrix<S>> wx(params + joint_wx_, h, h), wy(params + joint_wy_, h, h);
    Matrix<S> x_part = wx * hx;
    x_part.colwise() += Eigen::Map<const Vector<S>>(params + joint_bias_, h);
    t.z.noalias() = wy * t.a;
    for (Eigen::Index e = 0; e < hx.cols(); ++e) t.z.middleCols(e * candidates, candidates).colwise() += x_part.col(e);
    t.dz.noalias() = wy * t.da;
    t.ddz.noalias() = wy * t.dda;
    tangent_activation(arch_.activation, false, t, out, dout, ddout);
  }
  for (const DenseLayer& layer : joint_rest_.layers()) {
    TangentLayerCache<S>& t = c.layers[l++];
    t.a.swap(out);
    t.da.swap(dout);
    t.dda.swap(ddout);
    dense_forward(params, layer, t, out, dout, ddout);
  }
  if (arch_.energy_form == EnergyForm::relative) {
    // f = log q + g: the proposal's log-density and its derivatives along y_dim are added;
    // they are constants for the parameters' gradients (the base measure, maths.md §3c).
    MdnOutput<S> q;
    proposal(params, hx, q, nullptr);
    for (Eigen::Index e = 0; e < hx.cols(); ++e) {
      const Eigen::Index first = e * candidates;
      RowVector<S> log_q(candidates), d1(candidates), d2(candidates);
      mdn_log_density_y_derivatives(q, static_cast<int>(e), y.middleCols(first, candidates), dim, log_q, d1, d2);
      out.middleCols(first, candidates) += log_q;
      dout.middleCols(first, candidates) += d1;
      ddout.middleCols(first, candidates) += d2;
    }
  }
  return {out, dout, ddout};
}

template <typename S>
void EnergyModel::energy_y_derivatives_backward(const S* params, const YDerivativeCache<S>& c, const RowVector<S>& d_f,
                                                const RowVector<S>& d_df, const RowVector<S>& d_d2f,
                                                nondeduced_t<S*> grads, nondeduced_t<Matrix<S>*> d_hx) const {
  const int h = arch_.hidden;
  const int candidates = c.candidates_per_example;
  const Eigen::Index examples = c.hx.cols();
  Matrix<S> o = d_f.size() > 0 ? Matrix<S>(d_f) : Matrix<S>::Zero(1, d_df.size());
  Matrix<S> p = d_df, q = d_d2f;
  const std::size_t y_layers = y_net_.layers().size(), rest_layers = joint_rest_.layers().size();
  for (std::size_t r = rest_layers; r-- > 0;) {
    dense_backward(params, joint_rest_.layers()[r], c.layers[y_layers + 1 + r], o, p, q, grads, true);
  }
  // Joint input layer: Wy gets all three streams; Wx, b and hx only the value's adjoint,
  // summed over each example's candidates (hx is shared by them).
  const TangentLayerCache<S>& t = c.layers[y_layers];
  Matrix<S> zbar, dzbar, ddzbar;
  tangent_activation_backward(arch_.activation, t, o, p, q, zbar, dzbar, ddzbar);
  Matrix<S> zbar_x(h, examples);
  for (Eigen::Index e = 0; e < examples; ++e) {
    zbar_x.col(e).setZero();
    add_column_sum(zbar_x.col(e), zbar.middleCols(e * candidates, candidates));
  }
  if (grads != nullptr) {
    accumulate_tangent_weight_gradient(grads, joint_wy_, t, zbar, dzbar, ddzbar);
    Eigen::Map<Matrix<S>>(grads + joint_wx_, h, h).noalias() += zbar_x * c.hx.transpose();
    add_column_sum(Eigen::Map<Vector<S>>(grads + joint_bias_, h), zbar_x);
  }
  if (d_hx != nullptr) {
    if (d_hx->size() == 0) d_hx->setZero(h, examples);
    d_hx->noalias() += Eigen::Map<const Matrix<S>>(params + joint_wx_, h, h).transpose() * zbar_x;
  }
  if (grads == nullptr) return;
  const Eigen::Map<const Matrix<S>> wy(params + joint_wy_, h, h);
  o.noalias() = wy.transpose() * zbar;
  p.noalias() = wy.transpose() * dzbar;
  q.noalias() = wy.transpose() * ddzbar;
  for (std::size_t r = y_layers; r-- > 0;) {
    dense_backward(params, y_net_.layers()[r], c.layers[r], o, p, q, grads, r > 0);
  }
}

#define EBM_INSTANTIATE_DERIVATIVES(S)                                                                         \
  template EnergyYDerivatives<S> EnergyModel::energy_y_derivatives<S>(const S*, const Matrix<S>&,             \
                                                                      const Matrix<S>&, int, int,             \
                                                                      YDerivativeCache<S>*) const;            \
  template void EnergyModel::energy_y_derivatives_backward<S>(const S*, const YDerivativeCache<S>&,           \
                                                              const RowVector<S>&, const RowVector<S>&,       \
                                                              const RowVector<S>&, S*, Matrix<S>*) const;
EBM_INSTANTIATE_DERIVATIVES(float)
EBM_INSTANTIATE_DERIVATIVES(double)

}  // namespace ebm
