// The SVG writer and the pictures: well-formed, escaped, deterministic, with the parts a
// reader expects (checked by counting elements by class, not by looking at pixels).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "ebm/commands.h"
#include "ebm/plots.h"
#include "ebm/svg.h"

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
  CHECK(s.size() > 10);
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
