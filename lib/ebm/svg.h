// A small SVG writer for the tools' pictures (density heat maps, training history,
// calibration report), so that no plotting library is needed.
//
// Output is deterministic: coordinates are printed with a fixed number of decimals, so the
// same data gives byte-identical files. Text is XML-escaped.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ebm::svg {

// Escapes &, <, >, " and ' for XML text and attribute values; drops control characters
// that XML 1.0 does not allow.
std::string escape(std::string_view text);

// Colour of t in [0, 1] on a perceptually ordered dark-to-bright scale (a piecewise-linear
// approximation of viridis), as "#rrggbb". Out-of-range t is clamped.
std::string heat_colour(double t);

// "Nice" tick positions (multiples of 1, 2 or 5 times a power of ten) covering [lo, hi],
// about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// Short label for a tick value ("0.25", "1e+03", "-2").
std::string tick_label(double value);

class Document {
 public:
  Document(double width, double height);

  void rect(double x, double y, double w, double h, const std::string& fill, double opacity = 1.0,
            const std::string& stroke = "");
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1.0,
            const std::string& dash = "");
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width = 1.5,
                const std::string& dash = "");
  void polygon(const std::vector<std::pair<double, double>>& points, const std::string& fill, double opacity);
  void circle(double cx, double cy, double r, const std::string& fill, double opacity = 1.0);
  // anchor: "start", "middle" or "end"; rotate: degrees around (x, y).
  void text(double x, double y, std::string_view content, double size = 12, const std::string& anchor = "start",
            double rotate = 0, bool bold = false);
  // Starts and ends a group with a class attribute, so that tests and stylesheets can
  // find the parts of a picture (e.g. class="heatmap").
  void begin_group(const std::string& css_class);
  void end_group();

  std::string str() const;  // the complete document

 private:
  double width_, height_;
  std::string body_;
};

// A rectangular plotting area mapping data coordinates to the page, with axes, ticks,
// grid lines and labels.
struct Axes {
  double left = 0, top = 0, width = 0, height = 0;  // on the page
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;  // data ranges
  double px(double x) const { return left + (x - x_min) / (x_max - x_min) * width; }
  double py(double y) const { return top + height - (y - y_min) / (y_max - y_min) * height; }
  // Frame, ticks, tick labels, axis labels and title.
  void draw(Document& doc, const std::string& x_label, const std::string& y_label, const std::string& title,
            bool grid = true) const;
};

// A legend box at (x, y) (top-left) with one entry per (colour, label); `kind` per entry is
// "line", "dash", "band" or "dot".
void legend(Document& doc, double x, double y, const std::vector<std::string>& colours,
            const std::vector<std::string>& labels, const std::vector<std::string>& kinds);

}  // namespace ebm::svg
