// The activation functions and their derivatives, defined once for both forms of the
// energy network:
//  * the matrix form (nn.cpp): Eigen arrays of any size over a (features x columns)
//    matrix, float or double;
//  * the lane form (energy_lanes.cpp): one EnergyLanes vector of 8 candidates, viewed as a
//    fixed-size Eigen array of 8 floats.
// Both instantiate the same expressions below, so there is one formula per activation.
// Each form keeps its own Eigen traversal (a dynamic-size array with a scalar tail, a
// fixed-size array of whole packets), exactly as before the formulas were shared: a
// refactoring here must not change which Eigen kernels run, or results change in the
// last bits.
#pragma once

#include <type_traits>

#include <Eigen/Core>

#include "ebm/nn.h"

namespace ebm {

template <Activation A>
using ActivationConstant = std::integral_constant<Activation, A>;

// Calls body(ActivationConstant<activation>{}): the functions below then take the
// activation as a compile-time constant, so a loop inside `body` (over a matrix, over the
// lane blocks of a layer) has no switch inside and its body inlines.
template <typename Body>
void dispatch_activation(Activation activation, Body&& body) {
  switch (activation) {
    case Activation::identity: body(ActivationConstant<Activation::identity>{}); break;
    case Activation::relu: body(ActivationConstant<Activation::relu>{}); break;
    case Activation::tanh: body(ActivationConstant<Activation::tanh>{}); break;
    case Activation::silu: body(ActivationConstant<Activation::silu>{}); break;
  }
}

// out = act(pre), element-wise. `out` may be a Map or an ArrayWrapper (written through
// the const reference, Eigen's idiom for writable temporaries); it must already have the
// size of `pre`, and be either `pre` itself (in place) or not overlap it.
// ReLU is max(z, 0) in both forms: a NaN stays NaN (the lane form's former
// z > 0 ? z : 0 turned it into 0, and -0 into +0; the only inputs where the two differ).
template <Activation A, typename Pre, typename Out>
void activation_values(const Eigen::ArrayBase<Pre>& pre, const Eigen::ArrayBase<Out>& out_) {
  using S = typename Pre::Scalar;
  auto& out = const_cast<Eigen::ArrayBase<Out>&>(out_);
  if constexpr (A == Activation::identity) {
    out = pre;
  } else if constexpr (A == Activation::relu) {
    out = pre.max(S(0));
  } else if constexpr (A == Activation::tanh) {
    out = pre.tanh();
  } else {
    // silu(z) = z * sigmoid(z) = z / (1 + exp(-z)); exp(-z) overflows to inf for very
    // negative z, giving z / inf = -0, which is the correct limit.
    out = pre / (S(1) + (-pre).exp());
  }
}

// gradient *= act'(pre), element-wise; both arrays contiguous and of the same size.
template <Activation A, typename Pre, typename Gradient>
void multiply_by_derivative(const Eigen::ArrayBase<Pre>& pre, const Eigen::ArrayBase<Gradient>& gradient_) {
  using S = typename Pre::Scalar;
  auto& gradient = const_cast<Eigen::ArrayBase<Gradient>&>(gradient_);
  if constexpr (A == Activation::relu) {
    // A plain loop: Eigen 3.4's select() is not vectorised and compiled to a scalar
    // compare-and-branch per element (10% of a training epoch at H = 10); GCC turns this
    // loop into AVX compare-and-mask.
    S* grad = gradient.derived().data();
    const S* z = pre.derived().data();
    const Eigen::Index size = gradient.size();
    for (Eigen::Index i = 0; i < size; ++i) grad[i] = z[i] > S(0) ? grad[i] : S(0);
  } else if constexpr (A == Activation::tanh) {
    gradient = gradient * (S(1) - pre.tanh().square());
  } else if constexpr (A == Activation::silu) {
    // d/dz [z s(z)] = s(z) (1 + z (1 - s(z))), s = sigmoid.
    const auto sigmoid = S(1) / (S(1) + (-pre).exp());
    const auto multiply = [&](const auto& s) { gradient = gradient * (s * (S(1) + pre * (S(1) - s))); };
    // A fixed-size block (8 lanes) evaluates s once into registers: as a lazy expression
    // its exp may be computed twice. A dynamic-size s stays lazy, so the matrix form needs
    // no temporary matrix. Same values either way.
    if constexpr (Pre::SizeAtCompileTime != Eigen::Dynamic) {
      multiply(sigmoid.eval());
    } else {
      multiply(sigmoid);
    }
  }
}

// act'(z), act''(z) and act'''(z) element-wise, for the forward-mode derivatives of the
// energy w.r.t. y and their reverse pass (score matching, model_derivatives.cpp):
//   tanh: t = tanh z: 1 - t^2, -2 t (1 - t^2), (1 - t^2)(6 t^2 - 2);
//   silu: s = sigmoid z, s' = s(1-s), s'' = s'(1-2s), s''' = s'(1-6s+6s^2):
//         s + z s', 2 s' + z s'', 3 s'' + z s''';
//   relu: 1[z > 0], 0, 0 (its second derivative is 0 almost everywhere: a ReLU network
//         is piecewise linear in y, see maths.md on what sm and dsm do with it);
//   identity: 1, 0, 0.
template <typename S>
void activation_derivatives(Activation activation, const Matrix<S>& z, Matrix<S>& d1, Matrix<S>& d2,
                            Matrix<S>& d3) {
  const auto zz = z.array();
  switch (activation) {
    case Activation::identity:
      d1.setOnes(z.rows(), z.cols());
      d2.setZero(z.rows(), z.cols());
      d3.setZero(z.rows(), z.cols());
      return;
    case Activation::relu:
      d1 = (zz > S(0)).template cast<S>().matrix();
      d2.setZero(z.rows(), z.cols());
      d3.setZero(z.rows(), z.cols());
      return;
    case Activation::tanh: {
      const Matrix<S> t = zz.tanh().matrix();
      d1 = (S(1) - t.array().square()).matrix();
      d2 = (S(-2) * t.array() * d1.array()).matrix();
      d3 = (d1.array() * (S(6) * t.array().square() - S(2))).matrix();
      return;
    }
    case Activation::silu: {
      const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> s = S(1) / (S(1) + (-zz).exp());
      const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> s1 = s * (S(1) - s);
      const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> s2 = s1 * (S(1) - S(2) * s);
      const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> s3 = s1 * (S(1) - S(6) * s + S(6) * s.square());
      d1 = (s + zz * s1).matrix();
      d2 = (S(2) * s1 + zz * s2).matrix();
      d3 = (S(3) * s2 + zz * s3).matrix();
      return;
    }
  }
}

}  // namespace ebm
