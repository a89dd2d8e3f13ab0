// Gradient checks of every hand-written backward pass against central finite differences,
// in double precision. Tolerance: relative error below 1e-5 (the finite-difference error
// with h = 1e-6 is about 1e-8 relative for smooth functions; ReLU kinks are avoided by
// random inputs, a kink crossing would show up as a single large error).
#include <doctest/doctest.h>

#include "ebm/model.h"
#include "ebm/objectives.h"
#include "ebm/proposal.h"
#include "ebm/training.h"
#include "grad_check.h"

using namespace ebm;
using ebm::testing::all_indices;
using ebm::testing::max_relative_gradient_error;

namespace {

Matrix<double> random_matrix(int rows, int cols, Rng& rng, double scale = 1.0) {
  Matrix<double> m(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) m(i, j) = scale * rng.normal();
  return m;
}

std::vector<double> random_params(const EnergyModel& model, Rng& rng) {
  std::vector<double> p(model.parameter_count());
  model.initialize(p.data(), rng);
  // Larger than the default initialisation so that every layer matters numerically.
  for (double& v : p) v *= 2.0;
  return p;
}

Architecture small_architecture(Activation activation, int dx = 3, int dy = 2) {
  Architecture a;
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

}  // namespace

TEST_CASE("dense layers: gradients w.r.t. weights, biases and input match finite differences") {
  for (Activation act : {Activation::identity, Activation::relu, Activation::tanh, Activation::silu}) {
    for (bool residual : {false, true}) {
      CAPTURE(activation_name(act));
      CAPTURE(residual);
      Rng rng(1, 0);
      ParameterLayout layout;
      Mlp mlp;
      mlp.add_layer(layout, "a", 4, 4, act, residual);
      mlp.add_layer(layout, "b", 4, 4, act, residual);
      mlp.add_layer(layout, "c", 4, 2, Activation::identity);
      std::vector<double> params(layout.size());
      for (double& v : params) v = 0.7 * rng.normal();
      const Matrix<double> input = random_matrix(4, 6, rng);
      const Matrix<double> weights = random_matrix(2, 6, rng);  // loss = sum(weights .* out)
      MlpCache<double> cache;
      mlp.forward(params.data(), input, cache);
      Matrix<double> d_out = weights;
      std::vector<double> grads(params.size(), 0.0);
      Matrix<double> d_input;
      mlp.backward(params.data(), cache, d_out, grads.data(), &d_input);

      auto loss_of_params = [&](const std::vector<double>& p) {
        return (mlp.predict(p.data(), input).array() * weights.array()).sum();
      };
      std::string worst;
      CHECK_MESSAGE(max_relative_gradient_error(loss_of_params, params, grads, all_indices(params.size()), 1e-6, &worst) < 1e-5, worst);

      std::vector<double> x(input.data(), input.data() + input.size());
      std::vector<double> dx(d_input.data(), d_input.data() + d_input.size());
      auto loss_of_input = [&](const std::vector<double>& v) {
        const Matrix<double> in = Eigen::Map<const Matrix<double>>(v.data(), 4, 6);
        return (mlp.predict(params.data(), in).array() * weights.array()).sum();
      };
      CHECK_MESSAGE(max_relative_gradient_error(loss_of_input, x, dx, all_indices(x.size()), 1e-6, &worst) < 1e-5, worst);
    }
  }
}

TEST_CASE("energy: gradients w.r.t. parameters, x-features and y match finite differences") {
  for (Activation act : {Activation::relu, Activation::tanh, Activation::silu}) {
    CAPTURE(activation_name(act));
    const EnergyModel model(small_architecture(act));
    Rng rng(2, 0);
    const std::vector<double> params = random_params(model, rng);
    const int examples = 3, candidates = 4;
    const Matrix<double> x = random_matrix(3, examples, rng);
    const Matrix<double> y = random_matrix(2, examples * candidates, rng);
    const RowVector<double> c = random_matrix(1, examples * candidates, rng);

    auto loss = [&](const std::vector<double>& p, const Matrix<double>& yy) {
      const Matrix<double> hx = model.x_features(p.data(), x);
      return (model.energy(p.data(), hx, yy, candidates).array() * c.array()).sum();
    };
    MlpCache<double> x_cache;
    model.x_features(params.data(), x, x_cache);
    EnergyCache<double> cache;
    const RowVector<double> f = model.energy(params.data(), x_cache.output, y, candidates, cache);
    CHECK((f - model.energy(params.data(), x_cache.output, y, candidates)).cwiseAbs().maxCoeff() < 1e-12);
    std::vector<double> grads(params.size(), 0.0);
    Matrix<double> d_hx, d_y;
    model.energy_backward(params.data(), cache, c, grads.data(), &d_hx, &d_y);
    model.x_features_backward(params.data(), x_cache, d_hx, grads.data());

    // Only the energy's parameters (not the proposal heads, which f does not use).
    std::vector<std::size_t> energy_indices;
    for (const auto& block : model.layout().blocks()) {
      if (block.name.rfind("mdn_", 0) == 0) continue;
      for (std::size_t i = 0; i < block.size(); ++i) energy_indices.push_back(block.offset + i);
    }
    std::string worst;
    CHECK_MESSAGE(max_relative_gradient_error([&](const std::vector<double>& p) { return loss(p, y); }, params, grads,
                                              energy_indices, 1e-6, &worst) < 1e-5,
                  worst);
    for (const auto& block : model.layout().blocks()) {
      if (block.name.rfind("mdn_", 0) != 0) continue;
      for (std::size_t i = 0; i < block.size(); ++i) CHECK(grads[block.offset + i] == 0.0);
    }
    std::vector<double> yv(y.data(), y.data() + y.size()), dyv(d_y.data(), d_y.data() + d_y.size());
    auto loss_of_y = [&](const std::vector<double>& v) {
      return loss(params, Eigen::Map<const Matrix<double>>(v.data(), 2, examples * candidates));
    };
    CHECK_MESSAGE(max_relative_gradient_error(loss_of_y, yv, dyv, all_indices(yv.size()), 1e-6, &worst) < 1e-5, worst);
  }
}

namespace {
// Runs body(model, params, params_f, rng) for narrow networks that exercise the lane
// form's 8-, 4- and 1-row groups (hidden 5, 10, 16), every activation and one and two
// targets, with parameters in double and the same values in float.
template <typename Body>
void for_each_narrow_network(std::uint64_t seed, Body body) {
  for (Activation act : {Activation::relu, Activation::tanh, Activation::silu}) {
    for (int hidden : {5, 10, 16}) {
      for (int dy : {1, 2}) {
        CAPTURE(activation_name(act));
        CAPTURE(hidden);
        CAPTURE(dy);
        Architecture a = small_architecture(act, 3, dy);
        a.hidden = hidden;
        const EnergyModel model(a);
        REQUIRE(model.lanes_apply());
        Rng rng(seed, static_cast<std::uint64_t>(hidden * 10 + dy));
        const std::vector<double> params = random_params(model, rng);
        const std::vector<float> params_f(params.begin(), params.end());
        body(model, params, params_f, rng);
      }
    }
  }
}
}  // namespace

TEST_CASE("energy: the lane-parallel path for narrow networks equals the matrix path") {
  // energy() runs narrow float networks candidate-per-vector-lane (energy_lanes); wide
  // networks and double precision use the matrix path. Both must compute the same
  // function: compared with the matrix path in float and in double, with a candidate
  // count that leaves a partial block of lanes. A candidate's energy must also not
  // depend on its block neighbours.
  for_each_narrow_network(7, [](const EnergyModel& model, const std::vector<double>& params,
                                const std::vector<float>& params_f, Rng& rng) {
    const int dy = model.architecture().y_dim;
    const int examples = 3, candidates = 13;
    const Matrix<double> x = random_matrix(3, examples, rng);
    const Matrix<double> y = random_matrix(dy, examples * candidates, rng, 1.5);
    const Matrix<float> x_f = x.cast<float>(), y_f = y.cast<float>();
    const Matrix<double> hx = model.x_features(params.data(), x);
    const Matrix<float> hx_f = model.x_features(params_f.data(), x_f);

    const RowVector<float> lanes = model.energy_lanes(params_f.data(), hx_f, y_f, candidates);
    EnergyCache<float> cache;
    const RowVector<float> matrix = model.energy(params_f.data(), hx_f, y_f, candidates, cache);
    const RowVector<double> exact = model.energy(params.data(), hx, y, candidates);
    CHECK(model.energy(params_f.data(), hx_f, y_f, candidates) == lanes);  // the dispatch
    for (Eigen::Index i = 0; i < lanes.size(); ++i) {
      CAPTURE(i);
      const double scale = 1.0 + std::abs(exact(i));
      CHECK(std::abs(lanes(i) - matrix(i)) < 2e-5 * scale);
      CHECK(std::abs(lanes(i) - exact(i)) < 2e-5 * scale);
    }
    // One example's candidates alone, and one at a time: bit-identical.
    for (int e = 0; e < examples; ++e) {
      const Matrix<float> hx_e = hx_f.col(e);
      const Matrix<float> y_e = y_f.middleCols(e * candidates, candidates);
      const RowVector<float> together = model.energy_lanes(params_f.data(), hx_e, y_e, candidates);
      for (int c = 0; c < candidates; ++c) {
        const RowVector<float> alone = model.energy_lanes(params_f.data(), hx_e, Matrix<float>(y_e.col(c)), 1);
        CHECK(alone(0) == together(c));
      }
    }
  });
}

TEST_CASE("energy: the lane path's backward pass equals the matrix path's") {
  // Training of narrow float networks uses energy_backward_lanes; the finite-difference
  // checks above cover the matrix path in double. Same parameters, inputs and dL/df: the
  // lane path's parameter gradients and dL/dhx must equal the double matrix path's to
  // float accuracy (partial blocks and residual blocks included).
  for_each_narrow_network(11, [](const EnergyModel& model, const std::vector<double>& params,
                                 const std::vector<float>& params_f, Rng& rng) {
    const int hidden = model.architecture().hidden, dy = model.architecture().y_dim;
    const int examples = 3, candidates = 13;
    const Matrix<double> hx = random_matrix(hidden, examples, rng);
    const Matrix<double> y = random_matrix(dy, examples * candidates, rng, 1.5);
    const RowVector<double> d_f = random_matrix(1, examples * candidates, rng);

    EnergyCache<double> cache;
    const RowVector<double> f = model.energy(params.data(), hx, y, candidates, cache);
    std::vector<double> grads(params.size(), 0.0);
    Matrix<double> d_hx;
    model.energy_backward(params.data(), cache, d_f, grads.data(), &d_hx, nullptr);

    EnergyLaneCache lane_cache;
    const RowVector<float> f_lanes =
        model.energy_lanes(params_f.data(), hx.cast<float>(), y.cast<float>(), candidates, &lane_cache);
    CHECK(f_lanes == model.energy_lanes(params_f.data(), hx.cast<float>(), y.cast<float>(), candidates));
    std::vector<float> grads_lanes(params.size(), 0.0f);
    Matrix<float> d_hx_lanes;
    model.energy_backward_lanes(params_f.data(), lane_cache, d_f.cast<float>(), grads_lanes.data(), &d_hx_lanes);

    for (Eigen::Index i = 0; i < f.size(); ++i) CHECK(std::abs(f_lanes(i) - f(i)) < 2e-5 * (1.0 + std::abs(f(i))));
    double scale = 0;
    for (double g : grads) scale = std::max(scale, std::abs(g));
    REQUIRE(scale > 0.1);  // the comparison means something
    for (const auto& block : model.layout().blocks()) {
      CAPTURE(block.name);
      for (std::size_t i = 0; i < block.size(); ++i) {
        const std::size_t j = block.offset + i;
        CHECK(std::abs(grads_lanes[j] - grads[j]) < 1e-4 * (1.0 + std::abs(grads[j])));
      }
    }
    REQUIRE(d_hx_lanes.rows() == d_hx.rows());
    REQUIRE(d_hx_lanes.cols() == d_hx.cols());
    CHECK((d_hx_lanes.cast<double>() - d_hx).cwiseAbs().maxCoeff() < 1e-4 * (1.0 + d_hx.cwiseAbs().maxCoeff()));
  });
}

TEST_CASE("proposal: log-density gradient through the three heads matches finite differences") {
  const EnergyModel model(small_architecture(Activation::tanh, 2, 2));
  Rng rng(3, 0);
  const std::vector<double> params = random_params(model, rng);
  const int examples = 3, points = 5;
  const Matrix<double> hx = random_matrix(5, examples, rng);
  const Matrix<double> ys = random_matrix(2, examples * points, rng, 1.5);
  const Matrix<double> coef = random_matrix(points, examples, rng);
  auto loss = [&](const std::vector<double>& p) {
    MdnOutput<double> q;
    model.proposal(p.data(), hx, q, nullptr);
    double total = 0;
    for (int e = 0; e < examples; ++e)
      for (int m = 0; m < points; ++m) total += coef(m, e) * mdn_log_density(q, e, ys.col(e * points + m).data());
    return total;
  };
  MdnOutput<double> q;
  MdnCache<double> cache;
  model.proposal(params.data(), hx, q, &cache);
  Matrix<double> dm = Matrix<double>::Zero(q.means.rows(), examples), dv = dm,
                 dl = Matrix<double>::Zero(q.log_weights.rows(), examples);
  for (int e = 0; e < examples; ++e)
    for (int m = 0; m < points; ++m)
      mdn_accumulate_log_density_gradient(q, e, ys.col(e * points + m).data(), coef(m, e), dm, dv, dl);
  std::vector<double> grads(params.size(), 0.0);
  model.proposal_backward(params.data(), cache, q, dm, dv, dl, grads.data());
  std::vector<std::size_t> mdn_indices;
  for (const auto& block : model.layout().blocks()) {
    if (block.name.rfind("mdn_", 0) != 0) continue;
    for (std::size_t i = 0; i < block.size(); ++i) mdn_indices.push_back(block.offset + i);
  }
  std::string worst;
  CHECK_MESSAGE(max_relative_gradient_error(loss, params, grads, mdn_indices, 1e-6, &worst) < 1e-5, worst);
}

TEST_CASE("NCE and ML-IS losses: gradients w.r.t. the candidate energies") {
  Rng rng(4, 0);
  const int c = 7;
  std::vector<double> f(c), ln(c), d(c);
  for (int i = 0; i < c; ++i) {
    f[i] = 3 * rng.normal();
    ln[i] = rng.normal();
  }
  for (Objective objective : {Objective::nce, Objective::ml_is}) {
    CAPTURE(objective_name(objective));
    auto loss = [&](const std::vector<double>& ff) {
      std::vector<double> scratch(c);
      return objective == Objective::nce ? nce_loss(ff.data(), ln.data(), c, scratch.data())
                                         : ml_is_loss(ff.data(), ln.data(), c, scratch.data());
    };
    loss(f);
    if (objective == Objective::nce) nce_loss(f.data(), ln.data(), c, d.data());
    else ml_is_loss(f.data(), ln.data(), c, d.data());
    CHECK(max_relative_gradient_error(loss, f, d, all_indices(c)) < 1e-5);
  }
  // Large energies must not overflow: the log-sum-exp keeps the loss finite.
  std::vector<double> big{1000.0, 999.0, -1000.0}, lnb{0.0, 0.0, 0.0}, db(3);
  CHECK(std::isfinite(nce_loss(big.data(), lnb.data(), 3, db.data())));
  CHECK(nce_loss(big.data(), lnb.data(), 3, db.data()) == doctest::Approx(std::log1p(std::exp(-1.0))));
}

TEST_CASE("training batch gradient with fixed gmm noise equals the finite difference of the EBM loss") {
  for (Objective objective : {Objective::nce, Objective::nce_plus, Objective::ml_is}) {
    CAPTURE(objective_name(objective));
    const EnergyModel model(small_architecture(Activation::silu, 2, 1));
    Rng rng(5, 0);
    const std::vector<double> params = random_params(model, rng);
    const Matrix<double> x = random_matrix(2, 6, rng), y = random_matrix(1, 6, rng);
    TrainSettings settings;
    settings.objective = objective;
    settings.noise = NoiseKind::gmm;
    settings.samples = 9;
    settings.seed = 11;
    const std::vector<int> indices{0, 2, 3, 5};
    std::vector<double> grads(params.size(), 0.0);
    const double total = batch_gradient(model, params.data(), x, y, indices, settings, 100, 4.0, grads.data());
    CHECK(std::isfinite(total));
    auto loss = [&](const std::vector<double>& p) {
      std::vector<double> scratch(p.size(), 0.0);
      return batch_gradient(model, p.data(), x, y, indices, settings, 100, 4.0, scratch.data()) / 4.0;
    };
    std::vector<std::size_t> energy_indices;
    for (const auto& block : model.layout().blocks()) {
      if (block.name.rfind("mdn_", 0) == 0) continue;
      for (std::size_t i = 0; i < block.size(); ++i) energy_indices.push_back(block.offset + i);
    }
    std::string worst;
    CHECK_MESSAGE(max_relative_gradient_error(loss, params, grads, energy_indices, 1e-6, &worst) < 1e-5, worst);
  }
}
