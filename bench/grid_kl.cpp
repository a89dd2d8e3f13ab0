// The BMVC 2020 paper's 1D measure (method reference C.1): KL(ground truth || model) on a
// y-grid, averaged over an x-grid, for a checkpoint with one feature and one target.
//   grid-kl MODEL.json --dataset 1|2 [--x-points N] [--y-points N]
// x = linspace(-3, 3, Nx), y = linspace(-3, 3, Ny) (2048 each by default, as the paper).
// Per x: p_model,j = softmax_j f(x, y_j) (the EBM normalised on the grid, log-domain),
// p_gt,j = (gt_pdf(y_j) + 1e-30) / sum, KL_x = sum_j p_gt,j log(p_gt,j / p_model,j).
// Ground truths: dataset 1, x < 0: 0.8 N(sin x, 0.075^2) + 0.2 N(-sin x, 0.075^2);
// x >= 0: LogNormal(0, 0.25) density of y + 1. Dataset 2: N(sin x, (0.15 / (1 + e^-x))^2).
// Prints one JSON object: kl (all x), kl_x_neg / kl_x_pos (the halves x < 0 and x >= 0),
// the same for the proposal q(y|x) normalised on the grid (kl_proposal...), and for the
// Gaussian with the ground truth's mean and variance on the grid (kl_gaussian...), the
// reference point of a model that cannot represent two modes. First member of an ensemble.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ebm/checkpoint.h"
#include "ebm/errors.h"
#include "ebm/model.h"
#include "ebm/proposal.h"

namespace {

constexpr double kPi = 3.141592653589793;

double normal_pdf(double y, double mean, double sd) {
  const double z = (y - mean) / sd;
  return std::exp(-0.5 * z * z) / (sd * std::sqrt(2 * kPi));
}

double ground_truth_pdf(int dataset, double x, double y) {
  if (dataset == 2) return normal_pdf(y, std::sin(x), 0.15 / (1 + std::exp(-x)));
  if (x < 0) return 0.8 * normal_pdf(y, std::sin(x), 0.075) + 0.2 * normal_pdf(y, -std::sin(x), 0.075);
  const double z = y + 1, s = 0.25;
  if (z <= 0) return 0;
  const double l = std::log(z);
  return std::exp(-l * l / (2 * s * s)) / (z * s * std::sqrt(2 * kPi));
}

// sum_j p_j log(p_j / q_j) with log q given (normalised here by log-sum-exp).
double discrete_kl(const std::vector<double>& p, std::vector<double> log_q) {
  double top = -INFINITY;
  for (double v : log_q) top = std::max(top, v);
  double sum = 0;
  for (double v : log_q) sum += std::exp(v - top);
  const double log_norm = top + std::log(sum);
  double kl = 0;
  for (std::size_t j = 0; j < p.size(); ++j) kl += p[j] * (std::log(p[j]) - (log_q[j] - log_norm));
  return kl;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int dataset = 0, nx = 2048, ny = 2048;
    for (int i = 2; i + 1 < argc; i += 2) {
      const std::string arg = argv[i];
      if (arg == "--dataset") dataset = std::atoi(argv[i + 1]);
      else if (arg == "--x-points") nx = std::atoi(argv[i + 1]);
      else if (arg == "--y-points") ny = std::atoi(argv[i + 1]);
      else dataset = -1;
    }
    if (argc < 4 || argc % 2 != 0 || (dataset != 1 && dataset != 2) || nx < 2 || ny < 2) {
      std::cerr << "usage: grid-kl MODEL.json --dataset 1|2 [--x-points N] [--y-points N]\n";
      return 2;
    }
    const ebm::Checkpoint c = ebm::load_checkpoint(argv[1]);
    if (c.features.size() != 1 || c.targets.size() != 1) throw ebm::DataError("grid-kl needs one feature and one target");
    const ebm::EnergyModel model(c.architecture);
    std::vector<double> ys(ny);
    ebm::Matrix<float> y_std(1, ny);
    for (int j = 0; j < ny; ++j) {
      ys[j] = -3.0 + 6.0 * j / (ny - 1);
      y_std(0, j) = static_cast<float>(c.y_scaler.to_standard(0, static_cast<float>(ys[j])));
    }
    double sums[3][2] = {{0, 0}, {0, 0}, {0, 0}};  // model, proposal, gaussian; x < 0, x >= 0
    int counts[2] = {0, 0};
    std::vector<double> p(ny), log_model(ny), log_q(ny), log_gauss(ny);
    for (int i = 0; i < nx; ++i) {
      const double x = static_cast<float>(-3.0 + 6.0 * i / (nx - 1));
      ebm::Matrix<float> x_std(1, 1);
      x_std(0, 0) = static_cast<float>(c.x_scaler.to_standard(0, x));
      const ebm::Matrix<float> hx = model.x_features(c.params.data(), x_std);
      const ebm::RowVector<float> f = model.energy(c.params.data(), hx, y_std, ny);
      ebm::MdnOutput<float> q;
      model.proposal(c.params.data(), hx, q, nullptr);
      double total = 0, mean = 0, second = 0;
      for (int j = 0; j < ny; ++j) {
        p[j] = ground_truth_pdf(dataset, x, ys[j]) + 1e-30;
        total += p[j];
      }
      for (int j = 0; j < ny; ++j) {
        p[j] /= total;
        mean += p[j] * ys[j];
        second += p[j] * ys[j] * ys[j];
        log_model[j] = f(j);
        const float yj = y_std(0, j);
        log_q[j] = ebm::mdn_log_density(q, 0, &yj);
      }
      const double sd = std::sqrt(std::max(second - mean * mean, 1e-12));
      for (int j = 0; j < ny; ++j) log_gauss[j] = -0.5 * std::pow((ys[j] - mean) / sd, 2);
      const int half = x < 0 ? 0 : 1;
      sums[0][half] += discrete_kl(p, log_model);
      sums[1][half] += discrete_kl(p, log_q);
      sums[2][half] += discrete_kl(p, log_gauss);
      ++counts[half];
    }
    nlohmann::ordered_json out;
    const char* names[3] = {"kl", "kl_proposal", "kl_gaussian"};
    for (int k = 0; k < 3; ++k) {
      out[names[k]] = (sums[k][0] + sums[k][1]) / nx;
      out[std::string(names[k]) + "_x_neg"] = sums[k][0] / std::max(1, counts[0]);
      out[std::string(names[k]) + "_x_pos"] = sums[k][1] / std::max(1, counts[1]);
    }
    out["method"] = c.training.value("method", "");
    out["grid"] = {nx, ny};
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const ebm::Error& e) {
    std::cerr << "grid-kl: error: " << e.what() << "\n";
    return e.exit_code();
  }
}
