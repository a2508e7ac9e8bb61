#include "nn/plot.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "nn/checkpoint.h"
#include "nn/trainer.h"

namespace minidl::plot {

namespace {

// matplotlib's "tab10" colours, a palette most readers already know.
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v, int prec = 2) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(prec);
  os << v;
  return os.str();
}

// Tick label: as short as the tick step allows (0.25, 1e-05, 300).
std::string tick_text(double v, double step) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) {
    std::ostringstream os;
    os << std::defaultfloat << std::setprecision(3) << v;
    return os.str();
  }
  const int decimals = std::clamp(int(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
  return num(v, decimals);
}

// A 1-D axis: data range -> pixel range, linear or log10.
struct Scale {
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  bool log = false;
  double operator()(double v) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return p0 + t * (p1 - p0);
  }
  std::vector<double> ticks() const {
    std::vector<double> t;
    if (log) {
      const int a = int(std::floor(std::log10(lo) + 1e-9)), b = int(std::ceil(std::log10(hi) - 1e-9));
      for (int k = a; k <= b; ++k)
        for (double m : (b - a <= 2 ? std::vector<double>{1, 2, 5} : std::vector<double>{1})) {
          const double v = m * std::pow(10.0, k);
          if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
        }
      return t;
    }
    const double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
    return t;
  }
  double step() const {
    const auto t = ticks();
    return t.size() >= 2 ? t[1] - t[0] : 1;
  }
};

// The data range of one coordinate over all series (error bars included).
void data_range(const Axes& a, bool x, double& lo, double& hi) {
  lo = INFINITY, hi = -INFINITY;
  for (const Series& s : a.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double v = x ? s.x[i] : s.y[i], e = (!x && !s.err.empty() && std::isfinite(s.err[i])) ? s.err[i] : 0;
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v - e);
      hi = std::max(hi, v + e);
    }
}

Scale make_scale(const Axes& a, bool x, double p0, double p1) {
  Scale s;
  s.log = x ? a.log_x : a.log_y;
  s.p0 = p0, s.p1 = p1;
  double lo, hi;
  data_range(a, x, lo, hi);
  if (!std::isfinite(lo)) lo = s.log ? 1 : 0, hi = s.log ? 10 : 1;
  if (s.log) {
    MINIDL_CHECK(lo > 0, "plot \"", a.title, "\": a log ", x ? "x" : "y", " axis needs positive values, got ", lo);
    if (lo == hi) lo /= 2, hi *= 2;
    const double pad = std::pow(hi / lo, 0.04);
    lo /= pad, hi *= pad;
  } else {
    if (lo == hi) lo -= 0.5, hi += 0.5;
    const double pad = 0.04 * (hi - lo);
    lo -= pad, hi += pad;
  }
  const auto& mn = x ? a.x_min : a.y_min;
  const auto& mx = x ? a.x_max : a.y_max;
  s.lo = mn.value_or(lo), s.hi = mx.value_or(hi);
  MINIDL_CHECK(s.hi > s.lo && (!s.log || s.lo > 0), "plot \"", a.title, "\": empty or invalid axis range [", s.lo,
               ", ", s.hi, "]");
  return s;
}

void check_series(const Axes& a) {
  for (const Series& s : a.series)
    MINIDL_CHECK(s.x.size() == s.y.size() && (s.err.empty() || s.err.size() == s.y.size()), "plot \"", a.title,
                 "\": series \"", s.label, "\" has ", s.x.size(), " x, ", s.y.size(), " y and ", s.err.size(),
                 " error values");
}

void draw_axes_frame(std::ostream& os, const Axes& a, const Scale& sx, const Scale& sy, double left, double top) {
  os << "<rect x='" << num(sx.p0) << "' y='" << num(sy.p1) << "' width='" << num(sx.p1 - sx.p0) << "' height='"
     << num(sy.p0 - sy.p1) << "' fill='white' stroke='#444'/>\n";
  for (double t : sx.ticks()) {
    const double px = sx(t);
    os << "<line x1='" << num(px) << "' y1='" << num(sy.p1) << "' x2='" << num(px) << "' y2='" << num(sy.p0)
       << "' stroke='#e5e5e5'/><text x='" << num(px) << "' y='" << num(sy.p0 + 16)
       << "' text-anchor='middle'>" << tick_text(t, sx.log ? t : sx.step()) << "</text>\n";
  }
  for (double t : sy.ticks()) {
    const double py = sy(t);
    os << "<line x1='" << num(sx.p0) << "' y1='" << num(py) << "' x2='" << num(sx.p1) << "' y2='" << num(py)
       << "' stroke='#e5e5e5'/><text x='" << num(sx.p0 - 6) << "' y='" << num(py + 4)
       << "' text-anchor='end'>" << tick_text(t, sy.log ? t : sy.step()) << "</text>\n";
  }
  os << "<text x='" << num((sx.p0 + sx.p1) / 2) << "' y='" << num(top + 20)
     << "' text-anchor='middle' font-weight='bold'>" << xml_escape(a.title) << "</text>\n"
     << "<text x='" << num((sx.p0 + sx.p1) / 2) << "' y='" << num(sy.p0 + 34) << "' text-anchor='middle'>"
     << xml_escape(a.x_label) << "</text>\n"
     << "<text transform='translate(" << num(left + 14) << "," << num((sy.p0 + sy.p1) / 2)
     << ") rotate(-90)' text-anchor='middle'>" << xml_escape(a.y_label) << "</text>\n";
}

void draw_series(std::ostream& os, const Series& s, const std::string& color, const Scale& sx, const Scale& sy) {
  std::string path;
  bool pen = false;
  for (size_t i = 0; i < s.x.size(); ++i) {
    const bool ok = std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!sx.log || s.x[i] > 0) && (!sy.log || s.y[i] > 0);
    if (!ok) {
      pen = false;
      continue;
    }
    path += (pen ? " L" : " M") + num(sx(s.x[i])) + "," + num(sy(s.y[i]));
    pen = true;
  }
  if (!path.empty())
    os << "<path d='" << path << "' fill='none' stroke='" << color << "' stroke-width='2'/>\n";
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
    const double px = sx(s.x[i]), py = sy(s.y[i]);
    if (!s.err.empty() && std::isfinite(s.err[i]) && s.err[i] > 0) {
      const double lo = sy.log ? std::max(s.y[i] - s.err[i], sy.lo) : s.y[i] - s.err[i];
      os << "<path d='M" << num(px) << "," << num(sy(lo)) << " L" << num(px) << "," << num(sy(s.y[i] + s.err[i]))
         << " M" << num(px - 4) << "," << num(sy(lo)) << " h8 M" << num(px - 4) << "," << num(sy(s.y[i] + s.err[i]))
         << " h8' stroke='" << color << "' stroke-width='1.5'/>\n";
    }
    if (s.markers) os << "<circle cx='" << num(px) << "' cy='" << num(py) << "' r='3' fill='" << color << "'/>\n";
  }
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '&') r += "&amp;";
    else if (c == '<') r += "&lt;";
    else if (c == '>') r += "&gt;";
    else if (c == '\'') r += "&apos;";
    else if (c == '"') r += "&quot;";
    else r += c;
  }
  return r;
}

std::string line_plots(const std::vector<Axes>& panels, int panel_width, int height) {
  MINIDL_CHECK(!panels.empty(), "plot: no panels");
  MINIDL_CHECK(panel_width >= 120 && height >= 100, "plot: panels must be at least 120 x 100 pixels, got ",
               panel_width, " x ", height);
  std::ostringstream os;
  const int width = panel_width * int(panels.size());
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height << "' viewBox='0 0 "
     << width << " " << height << "' font-family='sans-serif' font-size='12'>\n"
     << "<rect width='100%' height='100%' fill='white'/>\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const Axes& a = panels[p];
    check_series(a);
    const double left = double(p) * panel_width;
    const Scale sx = make_scale(a, true, left + 64, left + panel_width - 16);
    const Scale sy = make_scale(a, false, height - 48, 32);
    draw_axes_frame(os, a, sx, sy, left, 0);
    int legend_row = 0, labelled = 0;
    for (const Series& s : a.series) labelled += !s.label.empty();
    std::ostringstream legend;  // drawn last, on a translucent box, so lines pass under it
    if (labelled)
      legend << "<rect x='" << num(sx.p1 - 116) << "' y='" << num(sy.p1 + 2) << "' width='112' height='"
             << 16 * labelled + 4 << "' fill='white' fill-opacity='0.85' stroke='#ccc'/>\n";
    for (size_t i = 0; i < a.series.size(); ++i) {
      const Series& s = a.series[i];
      const std::string color = s.color.empty() ? kPalette[i % 10] : s.color;
      draw_series(os, s, color, sx, sy);
      if (s.label.empty()) continue;
      const double ly = sy.p1 + 14 + 16 * legend_row++;
      legend << "<line x1='" << num(sx.p1 - 110) << "' y1='" << num(ly - 4) << "' x2='" << num(sx.p1 - 90) << "' y2='"
             << num(ly - 4) << "' stroke='" << color << "' stroke-width='2'/><text x='" << num(sx.p1 - 86) << "' y='"
             << num(ly) << "'>" << xml_escape(s.label) << "</text>\n";
    }
    os << legend.str();
  }
  os << "</svg>\n";
  return os.str();
}

std::string heat_map(const HeatMap& h) {
  const size_t rows = h.values.size(), cols = rows ? h.values[0].size() : 0;
  MINIDL_CHECK(rows > 0 && cols > 0, "heat map \"", h.title, "\": no values");
  for (const auto& r : h.values)
    MINIDL_CHECK(r.size() == cols, "heat map \"", h.title, "\": rows of different lengths (", r.size(), " and ", cols, ")");
  double mx = 0;
  for (const auto& r : h.values)
    for (double v : r)
      if (std::isfinite(v)) mx = std::max(mx, v);
  auto label = [](const std::vector<std::string>& l, size_t i) { return i < l.size() ? l[i] : std::to_string(i); };
  const int cell = std::clamp(int(480 / std::max(rows, cols)), 14, 48), left = 120, top = 50;
  const int width = left + cell * int(cols) + 20, height = top + cell * int(rows) + 90;
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height << "' viewBox='0 0 "
     << width << " " << height << "' font-family='sans-serif' font-size='" << std::min(12, cell / 2 + 2) << "'>\n"
     << "<rect width='100%' height='100%' fill='white'/>\n"
     << "<text x='" << width / 2 << "' y='24' text-anchor='middle' font-weight='bold'>" << xml_escape(h.title) << "</text>\n";
  for (size_t r = 0; r < rows; ++r) {
    const int y = top + cell * int(r);
    os << "<text x='" << left - 6 << "' y='" << y + cell / 2 + 4 << "' text-anchor='end'>" << xml_escape(label(h.row_labels, r))
       << "</text>\n";
    for (size_t c = 0; c < cols; ++c) {
      const double v = h.values[r][c], t = mx > 0 && std::isfinite(v) ? std::clamp(v / mx, 0.0, 1.0) : 0;
      // white (255,255,255) -> dark blue (8,48,107), as matplotlib's "Blues"
      const int R = int(255 - t * 247), G = int(255 - t * 207), B = int(255 - t * 148);
      const int x = left + cell * int(c);
      os << "<rect x='" << x << "' y='" << y << "' width='" << cell << "' height='" << cell << "' fill='rgb(" << R << ","
         << G << "," << B << ")' stroke='#ccc'/>";
      if (cell >= 18)
        os << "<text x='" << x + cell / 2 << "' y='" << y + cell / 2 + 4 << "' text-anchor='middle' fill='"
           << (t > 0.5 ? "white" : "black") << "'>" << (std::isfinite(v) ? num(v, h.value_decimals) : "-") << "</text>";
      os << "\n";
    }
  }
  const int bottom = top + cell * int(rows);
  for (size_t c = 0; c < cols; ++c) {
    const int x = left + cell * int(c) + cell / 2;
    os << "<text transform='translate(" << x << "," << bottom + 10 << ") rotate(45)'>" << xml_escape(label(h.col_labels, c))
       << "</text>\n";
  }
  os << "<text x='" << left + cell * int(cols) / 2 << "' y='" << height - 8 << "' text-anchor='middle'>"
     << xml_escape(h.x_label) << "</text>\n"
     << "<text transform='translate(14," << top + cell * int(rows) / 2 << ") rotate(-90)' text-anchor='middle'>"
     << xml_escape(h.y_label) << "</text>\n</svg>\n";
  return os.str();
}

void write_svg(const std::string& path, const std::string& svg) { nn::write_file_atomic(path, svg); }

}  // namespace minidl::plot

namespace minidl::nn {

std::string training_curves_svg(const History& h, const std::string& title) {
  plot::Axes loss{.title = title.empty() ? "loss" : title + ": loss", .x_label = "epoch", .y_label = "cross-entropy"};
  plot::Axes acc{.title = title.empty() ? "accuracy" : title + ": accuracy", .x_label = "epoch", .y_label = "accuracy"};
  std::vector<double> x;
  std::vector<double> tl, ta, vl, va, sl, sa;
  for (const EpochStats& e : h.epochs) {
    x.push_back(e.epoch);
    tl.push_back(e.train_loss), ta.push_back(e.train_accuracy);
    vl.push_back(e.val_loss), va.push_back(e.val_accuracy);
    sl.push_back(e.test_loss), sa.push_back(e.test_accuracy);
  }
  auto any = [](const std::vector<double>& v) { return std::any_of(v.begin(), v.end(), [](double d) { return std::isfinite(d); }); };
  loss.series.push_back({.label = "train", .x = x, .y = tl});
  acc.series.push_back({.label = "train", .x = x, .y = ta});
  if (any(vl)) loss.series.push_back({.label = "validation", .x = x, .y = vl}), acc.series.push_back({.label = "validation", .x = x, .y = va});
  if (any(sl)) loss.series.push_back({.label = "test", .x = x, .y = sl}), acc.series.push_back({.label = "test", .x = x, .y = sa});
  return plot::line_plots({loss, acc});
}

}  // namespace minidl::nn
