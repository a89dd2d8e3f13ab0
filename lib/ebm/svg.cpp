#include "ebm/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ebm::svg {

namespace {

// Two decimals are far below a pixel and keep the files small and reproducible.
std::string num(double v) {
  if (!std::isfinite(v)) v = 0;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  std::string s = buffer;
  // Trailing zeros and a trailing point carry nothing: "12.50" -> "12.5", "3.00" -> "3".
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

std::string points_attribute(const std::vector<std::pair<double, double>>& points) {
  std::string out;
  for (const auto& [x, y] : points) {
    if (!out.empty()) out += ' ';
    out += num(x) + ',' + num(y);
  }
  return out;
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

std::string heat_colour(double t) {
  // Nine stops of viridis, interpolated linearly in RGB.
  static const double stops[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                     {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  const int i = std::min(7, static_cast<int>(t));
  const double f = t - i;
  char buffer[8];
  int rgb[3];
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<int>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buffer;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double raw = (hi - lo) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  for (double k = std::ceil(lo / step); k * step <= hi + 1e-9 * step; k += 1) {
    const double v = k * step;
    ticks.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
  }
  return ticks;
}

std::string tick_label(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", value);
  return buffer;
}

Document::Document(double width, double height) : width_(width), height_(height) {}

void Document::rect(double x, double y, double w, double h, const std::string& fill, double opacity,
                    const std::string& stroke) {
  body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
           "\" fill=\"" + escape(fill) + "\"";
  if (opacity < 1) body_ += " fill-opacity=\"" + num(opacity) + "\"";
  if (!stroke.empty()) body_ += " stroke=\"" + escape(stroke) + "\"";
  body_ += "/>\n";
}

void Document::line(double x1, double y1, double x2, double y2, const std::string& stroke, double width,
                    const std::string& dash) {
  body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
           "\" stroke=\"" + escape(stroke) + "\" stroke-width=\"" + num(width) + "\"";
  if (!dash.empty()) body_ += " stroke-dasharray=\"" + escape(dash) + "\"";
  body_ += "/>\n";
}

void Document::polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke,
                        double width, const std::string& dash) {
  body_ += "<polyline points=\"" + points_attribute(points) + "\" fill=\"none\" stroke=\"" + escape(stroke) +
           "\" stroke-width=\"" + num(width) + "\" stroke-linejoin=\"round\"";
  if (!dash.empty()) body_ += " stroke-dasharray=\"" + escape(dash) + "\"";
  body_ += "/>\n";
}

void Document::polygon(const std::vector<std::pair<double, double>>& points, const std::string& fill,
                       double opacity) {
  body_ += "<polygon points=\"" + points_attribute(points) + "\" fill=\"" + escape(fill) + "\" fill-opacity=\"" +
           num(opacity) + "\" stroke=\"none\"/>\n";
}

void Document::circle(double cx, double cy, double r, const std::string& fill, double opacity) {
  body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"" + escape(fill) + "\"";
  if (opacity < 1) body_ += " fill-opacity=\"" + num(opacity) + "\"";
  body_ += "/>\n";
}

void Document::text(double x, double y, std::string_view content, double size, const std::string& anchor,
                    double rotate, bool bold) {
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\" text-anchor=\"" +
           escape(anchor) + "\"";
  if (rotate != 0) body_ += " transform=\"rotate(" + num(rotate) + " " + num(x) + " " + num(y) + ")\"";
  if (bold) body_ += " font-weight=\"bold\"";
  body_ += ">" + escape(content) + "</text>\n";
}

void Document::begin_group(const std::string& css_class) { body_ += "<g class=\"" + escape(css_class) + "\">\n"; }

void Document::end_group() { body_ += "</g>\n"; }

std::string Document::str() const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
         num(width_) + "\" height=\"" + num(height_) + "\" viewBox=\"0 0 " + num(width_) + " " + num(height_) +
         "\" font-family=\"Helvetica, Arial, sans-serif\">\n"
         "<rect x=\"0\" y=\"0\" width=\"" +
         num(width_) + "\" height=\"" + num(height_) + "\" fill=\"white\"/>\n" + body_ + "</svg>\n";
}

void Axes::draw(Document& doc, const std::string& x_label, const std::string& y_label, const std::string& title,
                bool grid) const {
  doc.begin_group("axes");
  for (double t : nice_ticks(x_min, x_max)) {
    const double x = px(t);
    if (grid) doc.line(x, top, x, top + height, "#000000", 0.3, "2,3");
    doc.line(x, top + height, x, top + height + 4, "#333333", 1);
    doc.text(x, top + height + 16, tick_label(t), 11, "middle");
  }
  for (double t : nice_ticks(y_min, y_max)) {
    const double y = py(t);
    if (grid) doc.line(left, y, left + width, y, "#000000", 0.3, "2,3");
    doc.line(left - 4, y, left, y, "#333333", 1);
    doc.text(left - 7, y + 4, tick_label(t), 11, "end");
  }
  doc.rect(left, top, width, height, "none", 1.0, "#333333");
  if (!x_label.empty()) doc.text(left + width / 2, top + height + 34, x_label, 13, "middle");
  if (!y_label.empty()) doc.text(left - 44, top + height / 2, y_label, 13, "middle", -90);
  if (!title.empty()) doc.text(left + width / 2, top - 12, title, 15, "middle", 0, true);
  doc.end_group();
}

void legend(Document& doc, double x, double y, const std::vector<std::string>& colours,
            const std::vector<std::string>& labels, const std::vector<std::string>& kinds) {
  doc.begin_group("legend");
  std::size_t longest = 0;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  doc.rect(x, y, 34 + 6.5 * static_cast<double>(longest), 8 + 18 * static_cast<double>(labels.size()), "white", 0.85,
           "#999999");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double cy = y + 13 + 18 * static_cast<double>(i);
    const std::string& kind = i < kinds.size() ? kinds[i] : "line";
    if (kind == "band") {
      doc.rect(x + 6, cy - 5, 20, 10, colours[i], 0.35);
    } else if (kind == "dot") {
      doc.circle(x + 16, cy, 3, colours[i]);
    } else {
      doc.line(x + 6, cy, x + 26, cy, colours[i], 2, kind == "dash" ? "5,3" : "");
    }
    doc.text(x + 30, cy + 4, labels[i], 11);
  }
  doc.end_group();
}

}  // namespace ebm::svg
