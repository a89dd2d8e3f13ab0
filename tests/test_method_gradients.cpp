// Finite-difference checks of the training methods added beside NCE, NCE+ and ML-IS:
// KLD-IS's loss, the energy's derivatives w.r.t. y (forward mode) and their reverse pass
// (score matching), and batch_gradient for kld-is, ml-mcmc, dsm and sm. Double precision,
// relative error below 1e-5 as in test_gradients.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "ebm/errors.h"
#include "ebm/model.h"
#include "ebm/objectives.h"
#include "ebm/proposal.h"
#include "ebm/streams.h"
#include "ebm/training.h"
#include "grad_check.h"
#include "model_fixtures.h"

using namespace ebm;
using ebm::testing::all_indices;
using ebm::testing::max_relative_gradient_error;
using ebm::testing::parameter_indices;
using ebm::testing::random_matrix;
using ebm::testing::random_params;
using ebm::testing::small_architecture;

namespace {

double largest_at(const std::vector<double>& v, const std::vector<std::size_t>& indices) {
  double largest = 0;
  for (std::size_t i : indices) largest = std::max(largest, std::abs(v[i]));
  return largest;
}

}  // namespace

TEST_CASE("KLD-IS loss: gradient w.r.t. the candidate energies") {
  Rng rng(31, 0);
  const int c = 7;
  std::vector<double> f(c), ln(c), lp(c), d(c);
  for (int i = 0; i < c; ++i) {
    f[i] = 2 * rng.normal();
    ln[i] = rng.normal();
    lp[i] = rng.normal();
  }
  auto loss = [&](const std::vector<double>& ff) {
    std::vector<double> scratch(c);
    return kld_is_loss(ff.data(), ln.data(), lp.data(), c, scratch.data());
  };
  kld_is_loss(f.data(), ln.data(), lp.data(), c, d.data());
  CHECK(d[0] == 0.0);
  std::string worst;
  CHECK_MESSAGE(max_relative_gradient_error(loss, f, d, all_indices(c), 1e-6, &worst) < 1e-5, worst);
  // The value: LSE_m(f_m - log q_m) - log M - 1/M sum_m f_m p_m / q_m.
  double top = -INFINITY;
  for (int m = 1; m < c; ++m) top = std::max(top, f[m] - ln[m]);
  double sum = 0, cross = 0;
  for (int m = 1; m < c; ++m) {
    sum += std::exp(f[m] - ln[m] - top);
    cross += f[m] * std::exp(lp[m] - ln[m]) / (c - 1);
  }
  CHECK(loss(f) == doctest::Approx(top + std::log(sum) - std::log(c - 1.0) - cross).epsilon(1e-12));
}

TEST_CASE("energy: df/dy_d and d2f/dy_d^2 by forward mode match finite differences, for every activation") {
  // ReLU: f is piecewise linear in y, so d2f/dy2 = 0 (checked exactly) and df/dy is
  // checked away from kinks (random inputs; a kink crossing would show as one large error).
  for (Activation act : {Activation::relu, Activation::tanh, Activation::silu}) {
    for (int dy : {1, 2}) {
      CAPTURE(activation_name(act));
      CAPTURE(dy);
      const EnergyModel model(small_architecture(act, 2, dy));
      Rng rng(32, static_cast<std::uint64_t>(dy));
      const std::vector<double> params = random_params(model, rng);
      const int examples = 3, candidates = 4;
      const Matrix<double> hx = random_matrix(5, examples, rng);
      const Matrix<double> y = random_matrix(dy, examples * candidates, rng);
      const RowVector<double> f_plain = model.energy(params.data(), hx, y, candidates);
      for (int d = 0; d < dy; ++d) {
        CAPTURE(d);
        const EnergyYDerivatives<double> g = model.energy_y_derivatives(params.data(), hx, y, candidates, d, nullptr);
        CHECK((g.f - f_plain).cwiseAbs().maxCoeff() < 1e-12);
        const double h = 1e-4;
        Matrix<double> up = y, down = y;
        up.row(d).array() += h;
        down.row(d).array() -= h;
        const RowVector<double> f_up = model.energy(params.data(), hx, up, candidates);
        const RowVector<double> f_down = model.energy(params.data(), hx, down, candidates);
        const RowVector<double> first = (f_up - f_down) / (2 * h);
        const RowVector<double> second = (f_up - 2 * f_plain + f_down) / (h * h);
        REQUIRE(g.df.cwiseAbs().maxCoeff() > 0.05);
        for (Eigen::Index i = 0; i < g.df.size(); ++i) {
          CAPTURE(i);
          CHECK(std::abs(g.df(i) - first(i)) < 1e-6 * (1 + std::abs(first(i))));
          if (act == Activation::relu) {
            CHECK(g.d2f(i) == 0.0);
          } else {
            CHECK(std::abs(g.d2f(i) - second(i)) < 1e-4 * (1 + std::abs(second(i))));
          }
        }
        if (act != Activation::relu) REQUIRE(g.d2f.cwiseAbs().maxCoeff() > 0.05);
      }
    }
  }
}

TEST_CASE("energy: the reverse pass through f, df/dy_d and d2f/dy_d^2 matches finite differences") {
  // loss = sum c1 f + c2 df/dy_d + c3 d2f/dy_d^2 over the candidates; its gradient w.r.t.
  // every energy parameter and w.r.t. hx. ReLU: the second-derivative terms vanish almost
  // everywhere, and the gradient of df/dy is exact there.
  for (Activation act : {Activation::relu, Activation::tanh, Activation::silu}) {
    for (int dy : {1, 2}) {
      CAPTURE(activation_name(act));
      CAPTURE(dy);
      const EnergyModel model(small_architecture(act, 2, dy));
      Rng rng(33, static_cast<std::uint64_t>(dy));
      const std::vector<double> params = random_params(model, rng);
      const int examples = 3, candidates = 4, n = examples * candidates;
      const Matrix<double> hx = random_matrix(5, examples, rng);
      const Matrix<double> y = random_matrix(dy, n, rng);
      const RowVector<double> c1 = random_matrix(1, n, rng), c2 = random_matrix(1, n, rng),
                              c3 = random_matrix(1, n, rng);
      const int d = dy - 1;
      auto loss = [&](const std::vector<double>& p, const Matrix<double>& h) {
        const EnergyYDerivatives<double> g = model.energy_y_derivatives(p.data(), h, y, candidates, d, nullptr);
        return (g.f.array() * c1.array() + g.df.array() * c2.array() + g.d2f.array() * c3.array()).sum();
      };
      YDerivativeCache<double> cache;
      model.energy_y_derivatives(params.data(), hx, y, candidates, d, &cache);
      std::vector<double> grads(params.size(), 0.0);
      Matrix<double> d_hx;
      model.energy_y_derivatives_backward(params.data(), cache, c1, c2, c3, grads.data(), &d_hx);
      const std::vector<std::size_t> checked = parameter_indices(model, false);
      REQUIRE(largest_at(grads, checked) > 0.05);
      std::string worst;
      CHECK_MESSAGE(max_relative_gradient_error([&](const std::vector<double>& p) { return loss(p, hx); }, params,
                                                grads, checked, 1e-6, &worst) < 1e-5,
                    worst);
      std::vector<double> hv(hx.data(), hx.data() + hx.size()), dhv(d_hx.data(), d_hx.data() + d_hx.size());
      auto loss_of_hx = [&](const std::vector<double>& v) {
        return loss(params, Eigen::Map<const Matrix<double>>(v.data(), 5, examples));
      };
      CHECK_MESSAGE(max_relative_gradient_error(loss_of_hx, hv, dhv, all_indices(hv.size()), 1e-6, &worst) < 1e-5,
                    worst);
      // Without the value's adjoint (an empty d_f): the same as zeros.
      std::vector<double> grads_empty(params.size(), 0.0), grads_zero(params.size(), 0.0);
      model.energy_y_derivatives_backward(params.data(), cache, RowVector<double>(), c2, c3, grads_empty.data(),
                                          nullptr);
      model.energy_y_derivatives_backward(params.data(), cache, RowVector<double>(RowVector<double>::Zero(n)), c2, c3,
                                          grads_zero.data(), nullptr);
      for (std::size_t i = 0; i < params.size(); ++i) CHECK(std::abs(grads_empty[i] - grads_zero[i]) < 1e-12);
    }
  }
}

namespace {

struct MethodCase {
  EnergyModel model;
  std::vector<double> params;
  Matrix<double> x, y;
  TrainSettings settings;
};

MethodCase method_case(Objective objective, Activation activation, int dy, std::uint64_t seed) {
  MethodCase c{EnergyModel(small_architecture(activation, 2, dy)), {}, {}, {}, {}};
  Rng rng(seed, 0);
  c.params = random_params(c.model, rng);
  c.x = random_matrix(2, 6, rng);
  c.y = random_matrix(dy, 6, rng);
  c.settings.objective = objective;
  c.settings.noise = NoiseKind::gmm;
  c.settings.samples = 9;
  c.settings.seed = 11;
  c.settings.label_sigma = 0.3;  // wide enough that p/q is not negligible for the draws
  c.settings.mcmc_steps = 3;
  c.settings.mcmc_step_size = 0.3;
  return c;
}

// batch_gradient of case c on the examples kBatchIndices (normaliser 4): the gradient, its
// total loss, and the mean loss as a function of the parameters (random streams fixed), for
// finite differences. The loss refers to c, which must outlive it.
const std::vector<int> kBatchIndices{0, 2, 3, 5};
struct BatchGradientCase {
  std::vector<double> grads;
  double total = 0;
  std::function<double(const std::vector<double>&)> loss;
};
BatchGradientCase batch_gradient_case(const MethodCase& c) {
  BatchGradientCase b;
  b.grads.assign(c.params.size(), 0.0);
  b.total = batch_gradient(c.model, c.params.data(), c.x, c.y, kBatchIndices, c.settings, 100, 4.0, b.grads.data());
  b.loss = [&c](const std::vector<double>& p) {
    std::vector<double> scratch(p.size(), 0.0);
    return batch_gradient(c.model, p.data(), c.x, c.y, kBatchIndices, c.settings, 100, 4.0, scratch.data()) / 4.0;
  };
  return b;
}

}  // namespace

TEST_CASE("batch gradient of kld-is, dsm and sm equals the finite difference of the loss") {
  // With gmm noise the candidates and the dsm perturbations do not depend on the
  // parameters, and sm has no randomness: the returned loss is a differentiable function
  // of the energy's parameters with the random streams fixed (the proposal's J_KL term
  // moves only the proposal heads, checked for the existing methods in test_gradients).
  for (Objective objective : {Objective::kld_is, Objective::dsm, Objective::sm}) {
    for (Activation act : {Activation::tanh, Activation::silu, Activation::relu}) {
      for (int dy : {1, 2}) {
        if (objective == Objective::sm && act == Activation::relu) continue;
        CAPTURE(objective_name(objective));
        CAPTURE(activation_name(act));
        CAPTURE(dy);
        const MethodCase c = method_case(objective, act, dy, 34);
        const auto [grads, total, loss] = batch_gradient_case(c);
        CHECK(std::isfinite(total));
        const std::vector<std::size_t> checked = parameter_indices(c.model, false);
        REQUIRE(largest_at(grads, checked) > 1e-3);
        std::string worst;
        CHECK_MESSAGE(max_relative_gradient_error(loss, c.params, grads, checked, 1e-5, &worst) < 1e-5, worst);
      }
    }
  }
}

TEST_CASE("sm at the data: the loss is sum_d d2f/dy_d^2 + 1/2 (df/dy_d)^2 by finite differences of f") {
  const MethodCase c = method_case(Objective::sm, Activation::tanh, 2, 35);
  const std::vector<int> indices{1, 4};
  std::vector<double> grads(c.params.size(), 0.0);
  const double total = batch_gradient(c.model, c.params.data(), c.x, c.y, indices, c.settings, 0, 2.0, grads.data());
  double expected = 0;
  const double h = 1e-4;
  for (int i : indices) {
    const Matrix<double> hx = c.model.x_features(c.params.data(), Matrix<double>(c.x.col(i)));
    const Matrix<double> y0 = c.y.col(i);
    const double f0 = c.model.energy(c.params.data(), hx, y0, 1)(0);
    for (int d = 0; d < 2; ++d) {
      Matrix<double> up = y0, down = y0;
      up(d, 0) += h;
      down(d, 0) -= h;
      const double fu = c.model.energy(c.params.data(), hx, up, 1)(0), fd = c.model.energy(c.params.data(), hx, down, 1)(0);
      const double first = (fu - fd) / (2 * h), second = (fu - 2 * f0 + fd) / (h * h);
      expected += second + 0.5 * first * first;
    }
  }
  CHECK(total == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("batch gradient of ml-mcmc: contrastive divergence at the chains' ends, no gradient through the chain") {
  // The chains are rebuilt here from their definition (same random stream kMcmc): M chains
  // per example start at y_i and take L steps y <- y + lambda^2/2 df/dy + lambda z; the
  // gradient must be that of 1/B sum_i [1/M sum_m f(x_i, y_im^(L)) - f(x_i, y_i)] with the
  // chain ends held fixed. df/dy along the chain is taken by central differences.
  for (int dy : {1, 2}) {
    CAPTURE(dy);
    const MethodCase c = method_case(Objective::ml_mcmc, Activation::silu, dy, 36);
    const std::vector<int> indices{0, 3, 4};
    const int m_count = c.settings.samples, columns = m_count + 1;
    const std::uint64_t stream_base = 50;
    std::vector<double> grads(c.params.size(), 0.0);
    const double total =
        batch_gradient(c.model, c.params.data(), c.x, c.y, indices, c.settings, stream_base, 3.0, grads.data());

    std::vector<Matrix<double>> ends;
    const double lambda = c.settings.mcmc_step_size;
    for (int i : indices) {
      const Matrix<double> hx = c.model.x_features(c.params.data(), Matrix<double>(c.x.col(i)));
      Matrix<double> chain(dy, columns);
      chain.colwise() = c.y.col(i);
      Rng rng(c.settings.seed ^ streams::kMcmc, stream_base + static_cast<std::uint64_t>(i));
      for (int step = 0; step < c.settings.mcmc_steps; ++step) {
        Matrix<double> grad(dy, columns);
        for (int d = 0; d < dy; ++d) {
          Matrix<double> up = chain, down = chain;
          up.row(d).array() += 1e-6;
          down.row(d).array() -= 1e-6;
          grad.row(d) = (c.model.energy(c.params.data(), hx, up, columns) -
                         c.model.energy(c.params.data(), hx, down, columns)) / 2e-6;
        }
        for (int m = 1; m < columns; ++m)
          for (int d = 0; d < dy; ++d) chain(d, m) += 0.5 * lambda * lambda * grad(d, m) + lambda * rng.normal();
      }
      ends.push_back(chain);
    }
    auto surrogate = [&](const std::vector<double>& p) {
      double sum = 0;
      for (std::size_t k = 0; k < indices.size(); ++k) {
        const Matrix<double> hx = c.model.x_features(p.data(), Matrix<double>(c.x.col(indices[k])));
        const RowVector<double> f = c.model.energy(p.data(), hx, ends[k], columns);
        sum += f.tail(m_count).mean() - f(0);
      }
      return sum / 3.0;
    };
    // The chains moved (the check is not of the starting point) and the loss is the surrogate's.
    CHECK((ends[0].rightCols(m_count).colwise() - c.y.col(indices[0])).cwiseAbs().minCoeff() > 1e-3);
    CHECK(total / 3.0 == doctest::Approx(surrogate(c.params)).epsilon(1e-6));
    const std::vector<std::size_t> checked = parameter_indices(c.model, false);
    REQUIRE(largest_at(grads, checked) > 1e-3);
    std::string worst;
    CHECK_MESSAGE(max_relative_gradient_error(surrogate, c.params, grads, checked, 1e-5, &worst) < 1e-5, worst);
  }
}

TEST_CASE("sm refuses ReLU with a message naming the smooth activations") {
  const MethodCase c = method_case(Objective::sm, Activation::relu, 1, 37);
  TrainSettings s = c.settings;
  s.epochs = 1;
  s.threads = 1;
  const ParamVector unused;
  try {
    train(c.model, c.x.cast<float>(), c.y.cast<float>(), Matrix<float>(2, 0), Matrix<float>(1, 0), s);
    FAIL("expected a UsageError");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("--activation tanh or silu") != std::string::npos);
  }
}

namespace {

Architecture relative_architecture(Activation activation, int dx, int dy) {
  Architecture a = small_architecture(activation, dx, dy);
  a.energy_form = EnergyForm::relative;
  return a;
}

// Parameters of the correction g only: the y-branch and the joint layers (the x-branch
// also moves log q through hx, which the relative energy treats as a constant there).
std::vector<std::size_t> correction_indices(const EnergyModel& model) {
  std::vector<std::size_t> out;
  for (const auto& block : model.layout().blocks()) {
    if (block.name.rfind("y_net", 0) != 0 && block.name.rfind("joint", 0) != 0) continue;
    for (std::size_t i = 0; i < block.size(); ++i) out.push_back(block.offset + i);
  }
  return out;
}

}  // namespace

TEST_CASE("relative energy: f = log q + g, with its y-derivatives and reverse passes checked by finite differences") {
  for (int dy : {1, 2}) {
    CAPTURE(dy);
    const EnergyModel relative(relative_architecture(Activation::tanh, 2, dy));
    const EnergyModel absolute(small_architecture(Activation::tanh, 2, dy));
    REQUIRE(relative.parameter_count() == absolute.parameter_count());
    CHECK_FALSE(relative.lanes_apply());
    Rng rng(36, static_cast<std::uint64_t>(dy));
    const std::vector<double> params = random_params(relative, rng);
    const int examples = 3, candidates = 4, n = examples * candidates;
    const Matrix<double> hx = random_matrix(5, examples, rng);
    const Matrix<double> y = random_matrix(dy, n, rng);
    // f - g is the proposal's log-density, computed on its own.
    const RowVector<double> f = relative.energy(params.data(), hx, y, candidates);
    const RowVector<double> g = absolute.energy(params.data(), hx, y, candidates);
    MdnOutput<double> q;
    relative.proposal(params.data(), hx, q, nullptr);
    for (Eigen::Index i = 0; i < n; ++i) {
      const double log_q = mdn_log_density(q, static_cast<int>(i / candidates), y.col(i).data());
      CHECK(f(i) - g(i) == doctest::Approx(log_q).epsilon(1e-12));
    }
    // Forward mode: df/dy_d and d2f/dy_d^2 (log q's included) against central differences.
    const double h = 1e-4;
    for (int d = 0; d < dy; ++d) {
      CAPTURE(d);
      const EnergyYDerivatives<double> t = relative.energy_y_derivatives(params.data(), hx, y, candidates, d, nullptr);
      CHECK((t.f - f).cwiseAbs().maxCoeff() < 1e-12);
      Matrix<double> up = y, down = y;
      up.row(d).array() += h;
      down.row(d).array() -= h;
      const RowVector<double> f_up = relative.energy(params.data(), hx, up, candidates);
      const RowVector<double> f_down = relative.energy(params.data(), hx, down, candidates);
      for (Eigen::Index i = 0; i < n; ++i) {
        CAPTURE(i);
        const double first = (f_up(i) - f_down(i)) / (2 * h), second = (f_up(i) - 2 * f(i) + f_down(i)) / (h * h);
        CHECK(std::abs(t.df(i) - first) < 1e-6 * (1 + std::abs(first)));
        CHECK(std::abs(t.d2f(i) - second) < 1e-4 * (1 + std::abs(second)));
      }
    }
    // energy_backward's dL/dy (Langevin, modes) includes d log q/dy; the proposal's
    // parameters and hx get exactly what the absolute energy gives them (nothing from log q).
    const RowVector<double> c1 = random_matrix(1, n, rng), c2 = random_matrix(1, n, rng), c3 = random_matrix(1, n, rng);
    EnergyCache<double> cache_rel, cache_abs;
    relative.energy(params.data(), hx, y, candidates, cache_rel);
    absolute.energy(params.data(), hx, y, candidates, cache_abs);
    std::vector<double> grads_rel(params.size(), 0.0), grads_abs(params.size(), 0.0);
    Matrix<double> d_hx_rel, d_hx_abs, d_y(dy, n), d_y_abs(dy, n);
    relative.energy_backward(params.data(), cache_rel, c1, grads_rel.data(), &d_hx_rel, &d_y);
    absolute.energy_backward(params.data(), cache_abs, c1, grads_abs.data(), &d_hx_abs, &d_y_abs);
    // (Equal up to rounding: Eigen's kernels may sum in another order for other alignments.)
    for (std::size_t i = 0; i < params.size(); ++i) CHECK(std::abs(grads_rel[i] - grads_abs[i]) < 1e-12);
    CHECK((d_hx_rel - d_hx_abs).cwiseAbs().maxCoeff() < 1e-12);
    std::vector<double> yv(y.data(), y.data() + y.size()), dyv(d_y.data(), d_y.data() + d_y.size());
    auto loss_of_y = [&](const std::vector<double>& v) {
      const Matrix<double> moved = Eigen::Map<const Matrix<double>>(v.data(), dy, n);
      return (relative.energy(params.data(), hx, moved, candidates).array() * c1.array()).sum();
    };
    std::string worst;
    CHECK_MESSAGE(max_relative_gradient_error(loss_of_y, yv, dyv, all_indices(yv.size()), 1e-6, &worst) < 1e-5, worst);
    // The reverse pass through (f, df, d2f): the correction's parameters by finite
    // differences; the proposal heads get nothing.
    const int d = dy - 1;
    YDerivativeCache<double> ycache;
    relative.energy_y_derivatives(params.data(), hx, y, candidates, d, &ycache);
    std::vector<double> grads(params.size(), 0.0);
    relative.energy_y_derivatives_backward(params.data(), ycache, c1, c2, c3, grads.data(), nullptr);
    auto loss = [&](const std::vector<double>& p) {
      const EnergyYDerivatives<double> t = relative.energy_y_derivatives(p.data(), hx, y, candidates, d, nullptr);
      return (t.f.array() * c1.array() + t.df.array() * c2.array() + t.d2f.array() * c3.array()).sum();
    };
    const std::vector<std::size_t> checked = correction_indices(relative);
    REQUIRE(largest_at(grads, checked) > 0.05);
    // h = 1e-5: the loss holds the large log q terms (|c1 log q| of order 10-100), whose
    // rounding at h = 1e-6 reaches 1e-9 in the differences, 1e-5 of the smallest gradients.
    CHECK_MESSAGE(max_relative_gradient_error(loss, params, grads, checked, 1e-5, &worst) < 1e-5, worst);
    for (std::size_t i : parameter_indices(relative, true)) CHECK(grads[i] == 0.0);
  }
}

TEST_CASE("relative energy: batch gradient of sm and nce on g by finite differences, the proposal by maximum likelihood") {
  for (Objective objective : {Objective::sm, Objective::nce}) {
    for (int dy : {1, 2}) {
      CAPTURE(objective_name(objective));
      CAPTURE(dy);
      MethodCase c = method_case(objective, Activation::tanh, dy, 37);
      c.model = EnergyModel(relative_architecture(Activation::tanh, 2, dy));
      const auto [grads, total, loss] = batch_gradient_case(c);
      CHECK(std::isfinite(total));
      const std::vector<std::size_t> checked = correction_indices(c.model);
      REQUIRE(largest_at(grads, checked) > 1e-3);
      std::string worst;
      CHECK_MESSAGE(max_relative_gradient_error(loss, c.params, grads, checked, 1e-5, &worst) < 1e-5, worst);
      // The proposal heads: -1/B sum_i log q(y_i|x_i), the data's likelihood (not J_KL).
      auto proposal_nll = [&](const std::vector<double>& p) {
        double sum = 0;
        for (int i : kBatchIndices) {
          const Matrix<double> hx = c.model.x_features(p.data(), Matrix<double>(c.x.col(i)));
          MdnOutput<double> q;
          c.model.proposal(p.data(), hx, q, nullptr);
          sum -= mdn_log_density(q, 0, c.y.col(i).data());
        }
        return sum / 4.0;
      };
      const std::vector<std::size_t> heads = parameter_indices(c.model, true);
      REQUIRE(largest_at(grads, heads) > 1e-3);
      CHECK_MESSAGE(max_relative_gradient_error(proposal_nll, c.params, grads, heads, 1e-5, &worst) < 1e-5, worst);
    }
  }
}
