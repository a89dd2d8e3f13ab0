// The SVG writer and the pictures: well-formed, escaped, deterministic, with the parts a
// reader expects (checked by counting elements by class, not by looking at pixels).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/plots.h"
#include "ebm/proposal.h"
#include "ebm/svg.h"
#include "bimodal_model.h"

using namespace ebm;

namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

// Everything between <g class="NAME"> and the next </g>.
std::string group(const std::string& svg, const std::string& name) {
  const std::string open = "<g class=\"" + name + "\">";
  const std::size_t begin = svg.find(open);
  if (begin == std::string::npos) return "";
  return svg.substr(begin, svg.find("</g>", begin) - begin);
}

}  // namespace

TEST_CASE("svg::escape and the document frame") {
  CHECK(svg::escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  CHECK(svg::escape(std::string("x\x01y", 3)) == "xy");  // not allowed in XML 1.0
  svg::Document doc(100, 50);
  doc.text(1, 2, "p(y<0 & x)");
  const std::string s = doc.str();
  CHECK(s.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(s.find("viewBox=\"0 0 100 50\"") != std::string::npos);
  CHECK(s.find(">p(y&lt;0 &amp; x)</text>") != std::string::npos);
  // The page size on the root element, one root element, and the one text element added.
  CHECK(s.find("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"50\"") != std::string::npos);
  CHECK(count(s, "<svg") == 1);
  CHECK(count(s, "<text") == 1);
  CHECK(s.substr(s.size() - 7) == "</svg>\n");
}

TEST_CASE("svg::nice_ticks and heat_colour") {
  const std::vector<double> unit = svg::nice_ticks(0, 1, 5);
  REQUIRE(unit.size() == 6);
  for (int k = 0; k < 6; ++k) CHECK(unit[k] == doctest::Approx(0.2 * k));
  const std::vector<double> t = svg::nice_ticks(-3.2, 2.9, 6);
  REQUIRE(!t.empty());
  CHECK(t.front() >= -3.2);
  CHECK(t.back() <= 2.9);
  CHECK(t == std::vector<double>{-2, 0, 2});  // raw step 1.02 rounds up to 2
  CHECK(svg::nice_ticks(1, 1).empty());
  CHECK(svg::heat_colour(0) == "#440154");
  CHECK(svg::heat_colour(1) == "#fde725");
  CHECK(svg::heat_colour(-5) == svg::heat_colour(0));
  CHECK(svg::heat_colour(NAN) == svg::heat_colour(0));
}

TEST_CASE("density_plot_svg: heat map cells, mean, band, points, legend; deterministic") {
  DensityPlot plot;
  plot.x_name = "x";
  plot.y_name = "y & z";
  const int nx = 30, ny = 40;
  for (int i = 0; i < nx; ++i) plot.x.push_back(-1 + 2.0 * i / (nx - 1));
  for (int j = 0; j < ny; ++j) plot.y.push_back(-4 + 8.0 * (j + 0.5) / ny);
  plot.density.resize(ny, nx);
  for (int i = 0; i < nx; ++i) {
    // A Gaussian ridge along y = x with unit spread.
    for (int j = 0; j < ny; ++j) {
      plot.density(j, i) = std::exp(-0.5 * std::pow(plot.y[j] - plot.x[i], 2)) / std::sqrt(2 * M_PI);
    }
    plot.mean.push_back(plot.x[i]);
    plot.lo.push_back(plot.x[i] - 1.645);
    plot.hi.push_back(plot.x[i] + 1.645);
  }
  plot.points = {{0.0, 0.1}, {0.5, 0.4}, {9.0, 0.0}};  // the last lies outside the x range
  const std::string s = density_plot_svg(plot);
  CHECK(s == density_plot_svg(plot));
  const std::string heat = group(s, "heatmap");
  // Merged runs: more than one cell per column, far fewer than every cell.
  CHECK(count(heat, "<rect") > nx);
  CHECK(count(heat, "<rect") < nx * ny);
  CHECK(count(group(s, "mean"), "<polyline") == 1);
  CHECK(count(group(s, "interval"), "<polygon") == 1);
  CHECK(count(group(s, "points"), "<circle") == 2);
  const std::string legend = group(s, "legend");
  CHECK(legend.find(">mean<") != std::string::npos);
  CHECK(legend.find(">90% interval<") != std::string::npos);
  CHECK(legend.find(">data<") != std::string::npos);
  CHECK(s.find("p(y &amp; z | x)") != std::string::npos);
}

TEST_CASE("history_plot_svg and calibration_report_svg have their series") {
  std::vector<EpochRecord> history;
  for (int e = 1; e <= 5; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.train_loss = 5.0 / e;
    r.train_proposal_nll = 2.0 / e;
    r.valid_nll = 1.0 + 1.0 / e;
    r.valid_proposal_nll = 1.5 + 1.0 / e;
    history.push_back(r);
  }
  const std::string h = history_plot_svg(history, 4, 0.0, "nce");
  CHECK(count(group(h, "train-loss"), "<polyline") == 1);
  CHECK(count(group(h, "valid-nll"), "<polyline") == 1);
  CHECK(h.find("kept: epoch 4") != std::string::npos);

  std::vector<long> calibrated(kPitFineBins, 2);
  const std::string r = calibration_report_svg({"y"}, {calibrated}, 400);
  CHECK(count(group(r, "pit-histogram"), "<rect") == 20);
  CHECK(count(group(r, "calibration-curve"), "<circle") == 20);  // levels 0.05 .. 0.95 and 0.99
  CHECK(r.find("PIT histogram (400 rows)") != std::string::npos);
}

TEST_CASE("compute_density_plot: each column is p(y|x) normalised on a fine grid of the model's energies") {
  // The plot's density at (x, y) is exp(f(x, y) - log Z(x)) / scale_y with log Z from
  // importance sampling. Here log Z(x) comes instead from a fine grid of the model's
  // energies over standardised y in [-8, 8] (the data lies within about +-4), and
  //   p(y|x) = exp(f(x, z) - log Z_grid(x)) / scale_y,  z = (y - mean_y) / scale_y,
  //   log Z_grid(x) = LSE_j f(x, z_j) + log dz,
  // is compared with every cell; each column must also integrate to 1 over y in original
  // units (the y range is set wide enough to hold all the mass; scale_y = 1.19 here, so
  // a missing Jacobian would be seen).
  const ebm::testing::TrainedModel& t = ebm::testing::bimodal_model();
  const Checkpoint c = load_checkpoint(t.model_path);
  const EnergyModel model(c.architecture);
  const int nx = 5, ny = 400;
  const double y_lo = -4.5, y_hi = 5.5;
  const DensityPlot plot = compute_density_plot(c, -2.0, 2.0, y_lo, y_hi, nx, ny, 0.9, 8192, 3);
  REQUIRE(plot.density.rows() == ny);
  REQUIRE(plot.density.cols() == nx);
  const int points = 8192;
  const double z_lo = -8, z_hi = 8, dz = (z_hi - z_lo) / (points - 1);
  Matrix<float> grid_z(1, points), cell_z(1, ny);
  for (int j = 0; j < points; ++j) grid_z(0, j) = static_cast<float>(z_lo + dz * j);
  for (int j = 0; j < ny; ++j) cell_z(0, j) = static_cast<float>(c.y_scaler.to_standard(0, plot.y[j]));
  const double scale = c.y_scaler.scale[0];
  for (int i = 0; i < nx; ++i) {
    CAPTURE(plot.x[i]);
    const Matrix<float> x = Matrix<float>::Constant(1, 1, static_cast<float>(c.x_scaler.to_standard(0, plot.x[i])));
    const Matrix<float> hx = model.x_features(c.params.data(), x);
    const RowVector<double> f_grid = model.energy(c.params.data(), hx, grid_z, points).cast<double>();
    const double log_z = log_sum_exp(f_grid.data(), points) + std::log(dz);
    const RowVector<float> f_cells = model.energy(c.params.data(), hx, cell_z, ny);
    double worst = 0, integral = 0;
    for (int j = 0; j < ny; ++j) {
      const double expected = std::exp(static_cast<double>(f_cells(j)) - log_z) / scale;
      worst = std::max(worst, std::abs(plot.density(j, i) - expected) / std::max(expected, 1e-3));
      integral += plot.density(j, i) * (y_hi - y_lo) / ny;
    }
    CAPTURE(worst);
    CAPTURE(integral);
    // Seen: at most 0.3% in both (the importance-sampling error of log Z with 8192 draws).
    // The briefly trained model of the sanitized build is not held to it.
    if (!ebm::testing::kSanitized) {
      CHECK(worst < 0.02);
      CHECK(std::abs(integral - 1) < 0.02);
    }
  }
}
