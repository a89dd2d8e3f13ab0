#include "ebm/plots.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ebm/csv.h"
#include "ebm/metrics.h"
#include "ebm/errors.h"
#include "ebm/inference.h"
#include "ebm/ensemble.h"
#include "ebm/svg.h"

namespace ebm {

namespace {

constexpr const char* kMeanColour = "#e8eaed";
constexpr const char* kBandColour = "#ffffff";
constexpr const char* kPointColour = "#ff5a36";

double finite_min(const std::vector<double>& v) {
  double m = std::numeric_limits<double>::infinity();
  for (double x : v) {
    if (std::isfinite(x)) m = std::min(m, x);
  }
  return m;
}

double finite_max(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) {
    if (std::isfinite(x)) m = std::max(m, x);
  }
  return m;
}

// Keeps a degenerate range (a single x, a constant series) drawable.
void widen_if_flat(double& lo, double& hi) {
  if (!(hi > lo)) {
    const double half = std::max(1e-9, 0.5 * std::abs(lo)) + (std::isfinite(lo) ? 0.0 : 1.0);
    lo = std::isfinite(lo) ? lo - half : -1;
    hi = std::isfinite(hi) ? hi + half : 1;
  }
}

}  // namespace

std::string density_plot_refusal(const Checkpoint& c, const std::string& name) {
  if (c.features.size() != 1 || c.architecture.y_dim != 1) {
    return "a model with one feature and one target; " + name + " has " + std::to_string(c.features.size()) +
           " feature(s) and " + std::to_string(c.architecture.y_dim) + " target(s)";
  }
  if (is_categorical(c.feature_encoding, 0)) {
    return "a numeric feature; the feature '" + c.features[0] + "' of " + name + " is categorical";
  }
  return "";
}

DensityPlot compute_density_plot(const Checkpoint& c, double x_lo, double x_hi, double y_lo, double y_hi, int nx,
                                 int ny, double interval, int samples, std::uint64_t seed,
                                 std::vector<std::pair<double, double>> points) {
  const std::string refusal = density_plot_refusal(c, "this one");
  if (!refusal.empty()) throw UsageError("--plot needs " + refusal);
  DensityPlot plot;
  plot.x_name = c.features.at(0);
  plot.y_name = c.targets.at(0);
  plot.interval = interval;
  plot.points = std::move(points);
  widen_if_flat(x_lo, x_hi);
  // The network's inputs at each grid x (an observed value: a missing-value indicator is 0).
  Matrix<float> xs(c.architecture.x_dim, nx);
  for (int i = 0; i < nx; ++i) {
    const double x = x_lo + (x_hi - x_lo) * i / std::max(1, nx - 1);
    plot.x.push_back(x);
    encode_row(c.feature_encoding, c.x_scaler, &x, 1, xs.col(i).data(), nullptr);
  }
  // One importance sample per grid column gives the mean, the interval and log Z(x).
  const std::vector<Member> members = ensemble_members(c);
  const EnsembleSample es = ensemble_importance_sample(members, xs, samples, seed, 0, nullptr, standardised_support(c));
  const ImportanceSample& is = es.combined();
  std::vector<double> q_low(nx), q_high(nx);
  for (int i = 0; i < nx; ++i) {
    plot.mean.push_back(c.y_scaler.to_original(0, weighted_moments(is, i, 0).mean));
    const SortedDraws draws = sort_draws(is, i, 0);
    plot.lo.push_back(c.y_scaler.to_original(0, weighted_quantile(draws, 0.5 * (1 - interval))));
    plot.hi.push_back(c.y_scaler.to_original(0, weighted_quantile(draws, 0.5 * (1 + interval))));
    q_low[i] = c.y_scaler.to_original(0, weighted_quantile(draws, 0.005));
    q_high[i] = c.y_scaler.to_original(0, weighted_quantile(draws, 0.995));
  }
  if (!std::isfinite(y_lo) || !std::isfinite(y_hi)) {
    double lo = finite_min(q_low), hi = finite_max(q_high);
    for (const auto& p : plot.points) {
      lo = std::min(lo, p.second);
      hi = std::max(hi, p.second);
    }
    widen_if_flat(lo, hi);
    const double pad = 0.05 * (hi - lo);
    if (!std::isfinite(y_lo)) y_lo = lo - pad;
    if (!std::isfinite(y_hi)) y_hi = hi + pad;
  }
  widen_if_flat(y_lo, y_hi);
  Matrix<float> ys(1, ny);
  for (int j = 0; j < ny; ++j) {
    const double y = y_lo + (y_hi - y_lo) * (j + 0.5) / ny;  // cell centres
    plot.y.push_back(y);
    ys(0, j) = static_cast<float>(c.y_scaler.to_standard(0, y));
  }
  plot.density.resize(ny, nx);
  const double log_scale = std::log(c.y_scaler.scale[0]);
  for (int i = 0; i < nx; ++i) {
    // p(y|x) = 0 outside the support (a version 2 checkpoint's), per original unit of y.
    const std::vector<double> log_densities = ensemble_ebm_density(members, es, i, ys);
    for (int j = 0; j < ny; ++j) plot.density(j, i) = std::exp(log_densities[j] - log_scale);
  }
  if (!plot.density.allFinite()) {
    throw NumericalError("--plot: the density on the grid is not finite (x in [" + format_number(x_lo) + ", " +
                         format_number(x_hi) + "])");
  }
  return plot;
}

std::string density_plot_svg(const DensityPlot& plot) {
  const double width = 760, height = 500;
  svg::Axes axes;
  axes.left = 70;
  axes.top = 40;
  axes.width = 560;
  axes.height = 400;
  axes.x_min = plot.x.front();
  axes.x_max = plot.x.back();
  const double cell_y = plot.y.size() > 1 ? plot.y[1] - plot.y[0] : 1.0;
  axes.y_min = plot.y.front() - 0.5 * cell_y;
  axes.y_max = plot.y.back() + 0.5 * cell_y;
  if (!(axes.x_max > axes.x_min)) axes.x_max = axes.x_min + 1;
  svg::Document doc(width, height);

  // Heat map. Colours are quantised to 64 levels of sqrt(p / p_max) and vertical runs of
  // one level are merged into one rectangle; the lowest level is the background. This
  // keeps a 120 x 100 grid to a few hundred kilobytes.
  const double p_max = std::max(plot.density.maxCoeff(), 1e-300);
  constexpr int kLevels = 64;
  const int nx = static_cast<int>(plot.x.size()), ny = static_cast<int>(plot.y.size());
  const double cell_w = axes.width / nx, cell_h = axes.height / ny;
  doc.begin_group("heatmap");
  doc.rect(axes.left, axes.top, axes.width, axes.height, svg::heat_colour(0));
  for (int i = 0; i < nx; ++i) {
    int j = 0;
    while (j < ny) {
      const int level = static_cast<int>(std::lround(std::sqrt(plot.density(j, i) / p_max) * (kLevels - 1)));
      int end = j + 1;
      while (end < ny &&
             static_cast<int>(std::lround(std::sqrt(plot.density(end, i) / p_max) * (kLevels - 1))) == level) {
        ++end;
      }
      if (level > 0) {
        // Row j is drawn from the bottom of the plotting area upwards (y increases upwards).
        doc.rect(axes.left + i * cell_w, axes.top + axes.height - end * cell_h, cell_w + 0.02, (end - j) * cell_h + 0.02,
                 svg::heat_colour(static_cast<double>(level) / (kLevels - 1)));
      }
      j = end;
    }
  }
  doc.end_group();

  // Interval band and its edges, then the mean.
  std::vector<std::pair<double, double>> band, upper, lower, mean;
  for (int i = 0; i < nx; ++i) {
    const double x = axes.px(plot.x[i]);
    auto clamp_y = [&](double y) { return std::clamp(axes.py(y), axes.top, axes.top + axes.height); };
    upper.emplace_back(x, clamp_y(plot.hi[i]));
    lower.emplace_back(x, clamp_y(plot.lo[i]));
    mean.emplace_back(x, clamp_y(plot.mean[i]));
  }
  band = upper;
  band.insert(band.end(), lower.rbegin(), lower.rend());
  doc.begin_group("interval");
  doc.polygon(band, kBandColour, 0.12);
  doc.polyline(upper, kBandColour, 1.2, "5,3");
  doc.polyline(lower, kBandColour, 1.2, "5,3");
  doc.end_group();
  doc.begin_group("mean");
  doc.polyline(mean, kMeanColour, 2.2);
  doc.end_group();

  if (!plot.points.empty()) {
    doc.begin_group("points");
    for (const auto& [x, y] : plot.points) {
      if (x < axes.x_min || x > axes.x_max || y < axes.y_min || y > axes.y_max) continue;
      doc.circle(axes.px(x), axes.py(y), 1.8, kPointColour, 0.75);
    }
    doc.end_group();
  }
  axes.draw(doc, plot.x_name, plot.y_name, "p(" + plot.y_name + " | " + plot.x_name + ")", false);

  // Colour bar: density per unit of y at the top, 0 at the bottom.
  const double bar_x = axes.left + axes.width + 20, bar_w = 14;
  doc.begin_group("colourbar");
  for (int k = 0; k < kLevels; ++k) {
    const double t = static_cast<double>(k) / (kLevels - 1);
    doc.rect(bar_x, axes.top + axes.height * (1 - (k + 1.0) / kLevels), bar_w, axes.height / kLevels + 0.02,
             svg::heat_colour(t));
  }
  doc.rect(bar_x, axes.top, bar_w, axes.height, "none", 1.0, "#333333");
  for (double fraction : {0.0, 0.25, 0.5, 1.0}) {
    // Level t = sqrt(p / p_max): the label at height t is p = t^2 p_max.
    const double y = axes.top + axes.height * (1 - fraction);
    doc.text(bar_x + bar_w + 4, y + 4, svg::tick_label(fraction * fraction * p_max), 10);
  }
  doc.text(bar_x + 8, axes.top + axes.height + 34, "density (sqrt scale)", 10, "middle");
  doc.end_group();

  std::vector<std::string> colours{kMeanColour, kBandColour}, labels{"mean", svg::tick_label(100 * plot.interval) + "% interval"},
      kinds{"line", "dash"};
  if (!plot.points.empty()) {
    colours.push_back(kPointColour);
    labels.push_back("data");
    kinds.push_back("dot");
  }
  svg::legend(doc, axes.left + 8, axes.top + 8, colours, labels, kinds);
  return doc.str();
}

std::string history_plot_svg(const std::vector<EpochRecord>& history, int best_epoch, double log_jacobian,
                             const std::string& method) {
  const double width = 760, height = 560;
  svg::Document doc(width, height);
  std::vector<double> epochs, loss, valid, train_q, valid_q;
  for (const EpochRecord& r : history) {
    epochs.push_back(r.epoch);
    loss.push_back(r.train_loss);
    valid.push_back(r.valid_nll + log_jacobian);
    train_q.push_back(r.train_proposal_nll + log_jacobian);
    valid_q.push_back(r.valid_proposal_nll + log_jacobian);
  }
  double e_lo = epochs.empty() ? 0 : epochs.front(), e_hi = epochs.empty() ? 1 : epochs.back();
  widen_if_flat(e_lo, e_hi);
  auto series = [&](const svg::Axes& a, const std::vector<double>& values, const std::string& colour,
                    const std::string& dash, const std::string& css_class) {
    std::vector<std::pair<double, double>> points;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (std::isfinite(values[i])) points.emplace_back(a.px(epochs[i]), a.py(values[i]));
    }
    if (points.empty()) return;
    doc.begin_group(css_class);
    doc.polyline(points, colour, 2, dash);
    doc.end_group();
  };
  auto best_marker = [&](const svg::Axes& a) {
    if (best_epoch < e_lo || best_epoch > e_hi) return;
    doc.begin_group("best-epoch");
    doc.line(a.px(best_epoch), a.top, a.px(best_epoch), a.top + a.height, "#555555", 1.2, "4,3");
    doc.text(a.px(best_epoch) - 4, a.top + a.height - 6, "kept: epoch " + std::to_string(best_epoch), 11, "end");
    doc.end_group();
  };

  // Top panel: the training objective (its scale depends on the method, so it gets its own axis).
  svg::Axes top;
  top.left = 80;
  top.top = 40;
  top.width = 560;
  top.height = 190;
  top.x_min = e_lo;
  top.x_max = e_hi;
  top.y_min = finite_min(loss);
  top.y_max = finite_max(loss);
  widen_if_flat(top.y_min, top.y_max);
  top.draw(doc, "", method + " loss", "training history");
  series(top, loss, "#1f77b4", "", "train-loss");
  best_marker(top);
  svg::legend(doc, top.left + top.width - 170, top.top + 8, {"#1f77b4"}, {"training loss (" + method + ")"}, {"line"});

  // Bottom panel: negative log-likelihoods in nats, original units of y.
  svg::Axes bottom = top;
  bottom.top = 300;
  bottom.height = 200;
  std::vector<double> all = valid;
  all.insert(all.end(), train_q.begin(), train_q.end());
  all.insert(all.end(), valid_q.begin(), valid_q.end());
  bottom.y_min = finite_min(all);
  bottom.y_max = finite_max(all);
  widen_if_flat(bottom.y_min, bottom.y_max);
  bottom.draw(doc, "epoch", "NLL (nats)", "");
  series(bottom, train_q, "#9467bd", "2,3", "train-proposal-nll");
  series(bottom, valid_q, "#9467bd", "", "valid-proposal-nll");
  series(bottom, valid, "#d62728", "", "valid-nll");
  best_marker(bottom);
  std::vector<std::string> colours{"#d62728", "#9467bd", "#9467bd"};
  std::vector<std::string> labels{"validation NLL (EBM)", "validation NLL (proposal)", "training NLL (proposal)"};
  std::vector<std::string> kinds{"line", "line", "dash"};
  if (finite_min(valid) == std::numeric_limits<double>::infinity()) {
    labels[0] = "validation NLL: no validation rows";
  }
  svg::legend(doc, bottom.left + bottom.width - 200, bottom.top + 8, colours, labels, kinds);
  return doc.str();
}

std::string calibration_report_svg(const std::vector<std::string>& targets,
                                   const std::vector<std::vector<long>>& pit_counts, std::size_t rows) {
  const double width = 860, height = 440;
  svg::Document doc(width, height);
  static const char* const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

  svg::Axes left;
  left.left = 70;
  left.top = 50;
  left.width = 320;
  left.height = 320;
  left.x_min = 0;
  left.x_max = 1;
  left.y_min = 0;
  left.y_max = 1;
  left.draw(doc, "nominal coverage of the central interval", "observed coverage", "calibration");
  doc.begin_group("diagonal");
  doc.line(left.px(0), left.py(0), left.px(1), left.py(1), "#777777", 1.2, "5,3");
  doc.end_group();
  std::vector<double> levels;
  for (int k = 1; k <= 19; ++k) levels.push_back(0.05 * k);
  levels.push_back(0.99);
  std::vector<std::string> legend_colours{"#777777"}, legend_labels{"ideal"}, legend_kinds{"dash"};
  for (std::size_t d = 0; d < pit_counts.size(); ++d) {
    const std::string colour = colours[d % 6];
    std::vector<std::pair<double, double>> curve{{left.px(0), left.py(0)}};
    for (double a : levels) curve.emplace_back(left.px(a), left.py(pit_coverage(pit_counts[d], a)));
    curve.emplace_back(left.px(1), left.py(1));
    doc.begin_group("calibration-curve");
    doc.polyline(curve, colour, 2);
    for (std::size_t i = 1; i + 1 < curve.size(); ++i) doc.circle(curve[i].first, curve[i].second, 2.5, colour);
    doc.end_group();
    legend_colours.push_back(colour);
    legend_labels.push_back(d < targets.size() ? targets[d] : "target " + std::to_string(d + 1));
    legend_kinds.push_back("line");
  }
  svg::legend(doc, left.left + 8, left.top + 8, legend_colours, legend_labels, legend_kinds);

  // PIT histogram pooled over targets, as a density on [0, 1]: 1 everywhere = calibrated.
  constexpr int kBins = 20;
  std::vector<long> pooled(kPitFineBins, 0);
  for (const auto& counts : pit_counts) {
    for (std::size_t b = 0; b < counts.size() && b < pooled.size(); ++b) pooled[b] += counts[b];
  }
  const std::vector<double> fractions = pit_histogram(pooled, kBins);
  svg::Axes right = left;
  right.left = 500;
  right.y_max = std::max(2.0, 1.1 * kBins * (fractions.empty() ? 0.0 : *std::max_element(fractions.begin(), fractions.end())));
  right.draw(doc, "PIT value", "density", "PIT histogram (" + std::to_string(rows) + " rows)");
  doc.begin_group("pit-histogram");
  for (int b = 0; b < kBins; ++b) {
    const double x0 = static_cast<double>(b) / kBins, x1 = static_cast<double>(b + 1) / kBins;
    const double h = kBins * fractions[static_cast<std::size_t>(b)];
    doc.rect(right.px(x0) + 0.5, right.py(h), right.px(x1) - right.px(x0) - 1, right.py(0) - right.py(h), "#1f77b4",
             0.8);
  }
  doc.end_group();
  doc.begin_group("uniform");
  doc.line(right.px(0), right.py(1), right.px(1), right.py(1), "#d62728", 1.5, "5,3");
  doc.end_group();
  doc.text(width / 2, height - 16,
           "Below the diagonal / U-shaped histogram: intervals too narrow. Above / hump: too wide.", 11, "middle");
  return doc.str();
}

}  // namespace ebm
