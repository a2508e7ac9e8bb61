#include "validate/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace minidl::validate {

namespace {

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string tick_label(double v) {
  char b[32];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(b, sizeof b, "%gG", v / 1e9);
  else if (a >= 1e6) std::snprintf(b, sizeof b, "%gM", v / 1e6);
  else if (a >= 1e4) std::snprintf(b, sizeof b, "%gk", v / 1e3);
  else if (a != 0 && a < 1e-3) std::snprintf(b, sizeof b, "%.0e", v);
  else std::snprintf(b, sizeof b, "%g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return b;
}

// Data range of one axis over every finite (and, for log, positive) value.
struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v, bool log) {
    if (!std::isfinite(v) || (log && v <= 0)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

// Maps data to pixels inside the plot area of one chart.
struct Frame {
  double x0, y0, w, h;  // plot area
  double xlo, xhi, ylo, yhi;
  bool log_x;
  double px(double x) const {
    const double t = log_x ? (std::log10(x) - std::log10(xlo)) / (std::log10(xhi) - std::log10(xlo))
                           : (x - xlo) / (xhi - xlo);
    return x0 + t * w;
  }
  double py(double y) const { return y0 + h - (y - ylo) / (yhi - ylo) * h; }
};

void pad(double& lo, double& hi, bool log) {
  if (log) {
    if (lo == hi) lo /= 2, hi *= 2;
    const double f = std::pow(hi / lo, 0.05);
    lo /= f, hi *= f;
  } else {
    if (lo == hi) lo -= 0.5, hi += 0.5;
    const double d = (hi - lo) * 0.05;
    lo -= d, hi += d;
  }
}

bool finite_point(const Frame& f, double x, double y) {
  return std::isfinite(x) && std::isfinite(y) && (!f.log_x || x > 0);
}

void draw_axes(std::ostringstream& o, const Chart& c, const Frame& f) {
  o << "<rect x='" << num(f.x0) << "' y='" << num(f.y0) << "' width='" << num(f.w) << "' height='" << num(f.h)
    << "' fill='none' stroke='#333'/>\n";
  for (double t : nice_ticks(f.xlo, f.xhi, f.log_x)) {
    const double x = f.px(t);
    o << "<line x1='" << num(x) << "' y1='" << num(f.y0) << "' x2='" << num(x) << "' y2='" << num(f.y0 + f.h)
      << "' stroke='#ddd'/><text x='" << num(x) << "' y='" << num(f.y0 + f.h + 16)
      << "' text-anchor='middle'>" << tick_label(t) << "</text>\n";
  }
  for (double t : nice_ticks(f.ylo, f.yhi, false)) {
    const double y = f.py(t);
    o << "<line x1='" << num(f.x0) << "' y1='" << num(y) << "' x2='" << num(f.x0 + f.w) << "' y2='" << num(y)
      << "' stroke='#ddd'/><text x='" << num(f.x0 - 6) << "' y='" << num(y + 4) << "' text-anchor='end'>"
      << tick_label(t) << "</text>\n";
  }
  for (double v : c.hlines)
    if (v >= f.ylo && v <= f.yhi)
      o << "<line x1='" << num(f.x0) << "' y1='" << num(f.py(v)) << "' x2='" << num(f.x0 + f.w) << "' y2='"
        << num(f.py(v)) << "' stroke='#555' stroke-dasharray='2,3'/>\n";
  o << "<text x='" << num(f.x0 + f.w / 2) << "' y='" << num(f.y0 - 10) << "' text-anchor='middle' font-weight='bold'>"
    << xml_escape(c.title) << "</text>\n<text x='" << num(f.x0 + f.w / 2) << "' y='" << num(f.y0 + f.h + 36)
    << "' text-anchor='middle'>" << xml_escape(c.xlabel) << "</text>\n<text transform='translate("
    << num(f.x0 - 48) << "," << num(f.y0 + f.h / 2) << ") rotate(-90)' text-anchor='middle'>"
    << xml_escape(c.ylabel) << "</text>\n";
}

void draw_series(std::ostringstream& o, const Series& s, const std::string& color, const Frame& f) {
  if (!s.markers) {
    o << "<polyline fill='none' stroke='" << color << "' stroke-width='1.5'"
      << (s.dashed ? " stroke-dasharray='5,3'" : "") << " points='";
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (finite_point(f, s.x[i], s.y[i])) o << num(f.px(s.x[i])) << "," << num(f.py(s.y[i])) << " ";
    o << "'/>\n";
    if (s.x.size() <= 60)  // vertices as dots, so a one-epoch curve is still visible
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (finite_point(f, s.x[i], s.y[i]))
          o << "<circle cx='" << num(f.px(s.x[i])) << "' cy='" << num(f.py(s.y[i])) << "' r='2.2' fill='" << color
            << "'/>\n";
    return;
  }
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (!finite_point(f, s.x[i], s.y[i])) continue;
    const double x = f.px(s.x[i]), y = f.py(s.y[i]);
    if (i < s.ylo.size() && i < s.yhi.size() && std::isfinite(s.ylo[i]) && std::isfinite(s.yhi[i])) {
      const double a = f.py(s.ylo[i]), b = f.py(s.yhi[i]);
      o << "<path d='M" << num(x) << " " << num(a) << "V" << num(b) << "M" << num(x - 4) << " " << num(a) << "h8M"
        << num(x - 4) << " " << num(b) << "h8' stroke='" << color << "' fill='none'/>\n";
    }
    o << "<circle cx='" << num(x) << "' cy='" << num(y) << "' r='4' fill='" << color << "'/>\n";
    if (i < s.point_labels.size())
      o << "<text x='" << num(x + 7) << "' y='" << num(y - 6) << "'>" << xml_escape(s.point_labels[i]) << "</text>\n";
  }
}

void draw_chart(std::ostringstream& o, const Chart& c, double left, int width, int height, double top) {
  Range xr, yr;
  for (const Series& s : c.series) {
    for (double x : s.x) xr.add(x, c.log_x);
    for (double y : s.y) yr.add(y, false);
    for (double y : s.ylo) yr.add(y, false);
    for (double y : s.yhi) yr.add(y, false);
  }
  for (double v : c.hlines) yr.add(v, false);
  if (xr.empty()) xr.lo = xr.hi = 1;
  if (yr.empty()) yr.lo = yr.hi = 0;
  pad(xr.lo, xr.hi, c.log_x);
  pad(yr.lo, yr.hi, false);
  const Frame f{left + 70, top + 30, double(width) - 90, double(height) - 80, xr.lo, xr.hi, yr.lo, yr.hi, c.log_x};
  draw_axes(o, c, f);
  int legend = 0;
  for (size_t k = 0; k < c.series.size(); ++k) {
    const Series& s = c.series[k];
    const std::string color = s.color.empty() ? kPalette[k % 10] : s.color;
    draw_series(o, s, color, f);
    if (s.label.empty()) continue;
    const double ly = f.y0 + 12 + 14 * legend++;
    o << "<rect x='" << num(f.x0 + f.w - 150) << "' y='" << num(ly - 8) << "' width='10' height='10' fill='" << color
      << "'/><text x='" << num(f.x0 + f.w - 136) << "' y='" << num(ly + 1) << "'>" << xml_escape(s.label)
      << "</text>\n";
  }
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string r;
  for (char ch : s) {
    if (ch == '&') r += "&amp;";
    else if (ch == '<') r += "&lt;";
    else if (ch == '>') r += "&gt;";
    else if (ch == '"') r += "&quot;";
    else if (ch == '\'') r += "&apos;";
    else r += ch;
  }
  return r;
}

std::vector<double> nice_ticks(double lo, double hi, bool log, int target) {
  std::vector<double> t;
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi)) return t;
  if (log) {
    const bool fine = std::log10(hi / lo) < 3;
    for (int e = int(std::floor(std::log10(lo))); e <= int(std::ceil(std::log10(hi))); ++e)
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10.0, e);
        if ((m == 1.0 || fine) && v >= lo && v <= hi) t.push_back(v);
      }
    return t;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = mag * (raw / mag < 1.5 ? 1 : raw / mag < 3.5 ? 2 : raw / mag < 7.5 ? 5 : 10);
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

std::string svg_charts(const std::vector<Chart>& charts, int width, int height, const std::string& caption) {
  const int top = caption.empty() ? 0 : 24;
  const int total_w = width * int(std::max<size_t>(1, charts.size()));
  std::ostringstream o;
  o << "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='" << total_w
    << "' height='" << height + top << "' viewBox='0 0 " << total_w << " " << height + top
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  if (!caption.empty())
    o << "<text x='" << total_w / 2 << "' y='17' text-anchor='middle' font-size='13'>" << xml_escape(caption)
      << "</text>\n";
  for (size_t i = 0; i < charts.size(); ++i) draw_chart(o, charts[i], double(i) * width, width, height, top);
  o << "</svg>\n";
  return o.str();
}

}  // namespace minidl::validate
