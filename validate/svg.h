// minidl/validate/svg.h — a small SVG chart writer for study pictures (Pareto
// plots, training curves), so results can be looked at in any browser without
// a plotting dependency.
//
//   Chart c;
//   c.title = "accuracy change vs size";  c.xlabel = "stored bytes";  c.log_x = true;
//   Series s;  s.label = "prune:0.9";  s.markers = true;
//   s.x = {1.2e5};  s.y = {-0.21};  s.ylo = {-0.47};  s.yhi = {0.05};  // an error bar
//   c.series.push_back(s);
//   nn::write_file_atomic("pareto.svg", svg_charts({c}));
//
// A Series is drawn as a polyline (markers = false) or as points with
// optional vertical error bars [ylo, yhi] and text labels (markers = true).
// Axes get "nice" ticks (1, 2, 5 × 10^k steps; decades on a log axis) over
// the data's range padded by 5%. Charts sit side by side in one <svg>.
// NaN / infinite values are skipped (a log axis also skips x ≤ 0).
#pragma once

#include <string>
#include <vector>

namespace minidl::validate {

struct Series {
  std::string label;  // legend entry (empty: none)
  std::string color;  // any SVG colour; empty: the next of a fixed palette
  std::vector<double> x, y;
  bool markers = false;                  // points instead of a line
  bool dashed = false;                   // for lines
  std::vector<double> ylo, yhi;          // error bars (markers only; empty: none)
  std::vector<std::string> point_labels; // text beside each point (markers only; may be empty)
};

struct Chart {
  std::string title, xlabel, ylabel;
  bool log_x = false;
  std::vector<Series> series;
  std::vector<double> hlines;  // horizontal reference lines (e.g. y = 0)
};

// The charts side by side, each width × height pixels, under an optional caption.
std::string svg_charts(const std::vector<Chart>& charts, int width = 560, int height = 400,
                       const std::string& caption = "");

// Tick positions for [lo, hi]: about `target` nice linear ticks, or decades
// (with 2 and 5 between them when the range spans fewer than 3 decades) on a log axis.
std::vector<double> nice_ticks(double lo, double hi, bool log, int target = 6);

// Escapes &, <, >, " for SVG text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace minidl::validate
