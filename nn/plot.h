// minidl/nn/plot.h — small SVG pictures: line plots and heat maps.
//
//   plot::Axes loss{.title = "loss", .x_label = "epoch", .y_label = "cross-entropy"};
//   loss.series.push_back({.label = "train", .x = {1, 2, 3}, .y = {0.6, 0.4, 0.35}});
//   loss.series.push_back({.label = "validation", .x = {1, 2, 3}, .y = {0.5, 0.42, 0.4}, .err = {0.02, 0.02, 0.03}});
//   plot::write_svg("curves.svg", plot::line_plots({loss, accuracy}));   // panels side by side
//
// An SVG file is text a browser opens directly, so pictures need no plotting
// library: this file writes them (about 300 lines), for training curves
// (nn::training_curves_svg), confusion matrices (heat_map) and any other
// figure, such as accuracy against model size with error bars on log axes.
//
// Line plots: every series is a polyline with markers; NaN values break the
// line (an epoch without validation); `err` draws ± error bars. Axes are
// linear or logarithmic (log axes need positive values), with "nice" ticks
// (1, 2, 5 × 10^k on linear axes, powers of ten on log ones) and a legend.
// Heat map: one cell per value, shaded from white to blue by value / max,
// with the value written in each cell and labelled rows and columns.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace minidl::nn {
struct History;
}

namespace minidl::plot {

struct Series {
  std::string label{};
  std::vector<double> x{}, y{};
  std::vector<double> err{};  // empty, or one ± half-width per point
  std::string color{};        // empty: the next colour of the palette
  bool markers = true;
};

struct Axes {
  std::string title{}, x_label{}, y_label{};
  bool log_x = false, log_y = false;
  std::optional<double> x_min{}, x_max{}, y_min{}, y_max{};  // default: the data's range (with error bars)
  std::vector<Series> series{};
};

// One SVG with the panels side by side, each panel_width x height pixels.
// Throws minidl::Error for series whose x, y and err lengths differ, or
// non-positive values on a log axis.
std::string line_plots(const std::vector<Axes>& panels, int panel_width = 480, int height = 360);

// values[r][c] as a grid of shaded cells; rows top to bottom. Empty labels
// are replaced by the indices.
struct HeatMap {
  std::string title{}, x_label{}, y_label{};
  std::vector<std::vector<double>> values{};
  std::vector<std::string> row_labels{}, col_labels{};
  int value_decimals = 0;  // digits after the point written in each cell
};
std::string heat_map(const HeatMap& h);

// Writes the picture atomically (nn::write_file_atomic).
void write_svg(const std::string& path, const std::string& svg);

// "a&b<c" -> "a&amp;b&lt;c": text placed in SVG/XML.
std::string xml_escape(const std::string& s);

}  // namespace minidl::plot

namespace minidl::nn {
// Loss and accuracy per epoch, train and (when present) validation and test,
// as two panels: what Keras users look at after model.fit().
std::string training_curves_svg(const History& h, const std::string& title = "");
}  // namespace minidl::nn
