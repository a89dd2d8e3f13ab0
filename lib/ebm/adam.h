// Adam (Kingma & Ba) over the flat parameter vector, with optional decoupled weight
// decay (AdamW) applied to every parameter.
#pragma once

#include <cmath>
#include <vector>

#include "ebm/nn.h"

namespace ebm {

struct AdamSettings {
  double learning_rate = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  double weight_decay = 0.0;
};

class Adam {
 public:
  Adam(std::size_t size, const AdamSettings& settings)
      : settings_(settings), m_(size, 0.0f), v_(size, 0.0f) {}

  // params -= lr * m_hat / (sqrt(v_hat) + eps) [+ lr * wd * params]
  void step(float* params, const float* grads, double learning_rate) {
    ++t_;
    const double b1 = settings_.beta1, b2 = settings_.beta2;
    const double correction1 = 1.0 - std::pow(b1, static_cast<double>(t_));
    const double correction2 = 1.0 - std::pow(b2, static_cast<double>(t_));
    const float step_size = static_cast<float>(learning_rate / correction1);
    const float inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(correction2));
    const float eps = static_cast<float>(settings_.epsilon);
    const float decay = static_cast<float>(learning_rate * settings_.weight_decay);
    const float fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2);
    // The four arrays never overlap; saying so (__restrict__), and building without errno
    // from sqrt (-fno-math-errno, CMakeLists.txt), lets the compiler vectorise the loop.
    // Every operation is elementwise and correctly rounded (sqrt and division included;
    // not Eigen's array sqrt, which under EIGEN_FAST_MATH is an rsqrt estimate and a Newton
    // step), so the vector loop gives the scalar loop's results bit for bit.
    float* __restrict__ p = params;
    const float* __restrict__ gr = grads;
    float* __restrict__ m = m_.data();
    float* __restrict__ v = v_.data();
    const std::size_t size = m_.size();
    for (std::size_t i = 0; i < size; ++i) {
      const float g = gr[i];
      m[i] = fb1 * m[i] + (1.0f - fb1) * g;
      v[i] = fb2 * v[i] + (1.0f - fb2) * g * g;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps) + decay * p[i];
    }
  }

  long steps() const { return t_; }
  ParamVector& first_moment() { return m_; }
  ParamVector& second_moment() { return v_; }
  void set_steps(long t) { t_ = t; }

 private:
  AdamSettings settings_;
  ParamVector m_, v_;
  long t_ = 0;
};

}  // namespace ebm
