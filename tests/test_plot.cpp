// Tests for nn/plot.h: the SVG holds what was asked for (series, labels,
// ticks, error bars, cells), bad input is an Error, and training curves
// follow the history. (tests/svg_render.py renders the pictures in Chromium.)
#include <doctest/doctest.h>

#include <cmath>
#include <regex>

#include "nn/plot.h"
#include "nn/progress.h"
#include "nn/trainer.h"
#include "test_util.h"

using namespace minidl;
using test::contains;
using test::error_of;

namespace {
int count(const std::string& s, const std::string& part) {
  int n = 0;
  for (size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("line plots: one path per series, markers, legend, error bars, escaped text") {
  plot::Axes a{.title = "loss <train & val>", .x_label = "epoch", .y_label = "loss"};
  a.series.push_back({.label = "train", .x = {1, 2, 3}, .y = {0.9, 0.5, 0.4}});
  a.series.push_back({.label = "val", .x = {1, 2, 3}, .y = {1.0, NAN, 0.45}, .err = {0.1, 0.1, 0.05}});
  const std::string svg = plot::line_plots({a});
  CHECK(svg.rfind("<svg xmlns='http://www.w3.org/2000/svg'", 0) == 0);
  CHECK(contains(svg, "</svg>"));
  CHECK(contains(svg, "loss &lt;train &amp; val&gt;"));
  CHECK(count(svg, "<circle") == 5);  // the NaN point has no marker
  CHECK(contains(svg, ">train</text>"));
  CHECK(contains(svg, ">val</text>"));
  // the NaN breaks the validation line: two "M" moves in its path
  std::smatch m;
  const std::string val_color = "#ff7f0e";
  const std::regex path("<path d='([^']*)' fill='none' stroke='" + val_color + "'");
  REQUIRE(std::regex_search(svg, m, path));
  CHECK(count(m[1].str(), "M") == 2);
  CHECK(count(svg, "stroke='" + val_color + "' stroke-width='1.5'") == 2);  // two error bars (the NaN has none)
  // "nice" ticks on the y axis: 0.4 ... 1.0 in steps of 0.2
  CHECK(contains(svg, ">0.6</text>"));
  CHECK(contains(svg, ">1.0</text>"));
}

TEST_CASE("log axes: ticks at powers of ten; non-positive values are an error") {
  plot::Axes a{.title = "size", .log_x = true, .log_y = true};
  a.series.push_back({.label = "models", .x = {1e3, 1e4, 1e5, 1e6}, .y = {0.5, 0.05, 0.005, 0.0005}});
  const std::string svg = plot::line_plots({a, a}, 300, 200);
  CHECK(contains(svg, "width='600' height='200'"));
  CHECK(contains(svg, ">1e+06</text>"));
  CHECK(contains(svg, ">10000</text>"));
  CHECK(contains(svg, ">0.001</text>"));
  CHECK(contains(svg, ">1000</text>"));
  a.series[0].y[1] = 0;
  CHECK(contains(error_of([&] { plot::line_plots({a}); }), "log y axis needs positive values"));
  plot::Axes bad;
  bad.series.push_back({.label = "s", .x = {1, 2}, .y = {1}});
  CHECK(contains(error_of([&] { plot::line_plots({bad}); }), "series \"s\" has 2 x, 1 y"));
  CHECK(contains(error_of([&] { plot::line_plots({}); }), "no panels"));
}

TEST_CASE("heat map: a shaded cell with its value per entry, labelled rows and columns") {
  plot::HeatMap h{.title = "confusion", .values = {{50, 2, 0}, {3, 40, 7}}, .row_labels = {"cat", "dog"}};
  const std::string svg = plot::heat_map(h);
  CHECK(count(svg, "<rect x=") == 6);
  CHECK(contains(svg, "fill='rgb(8,48,107)'"));     // the largest value: darkest
  CHECK(contains(svg, "fill='rgb(255,255,255)'"));  // zero: white
  CHECK(contains(svg, ">cat</text>"));
  CHECK(contains(svg, ">2</text>"));  // unnamed columns are numbered
  h.values[1].pop_back();
  CHECK(contains(error_of([&] { plot::heat_map(h); }), "rows of different lengths"));
}

TEST_CASE("training curves: loss and accuracy panels with train, validation and test when present") {
  nn::History h;
  for (int e = 1; e <= 3; ++e) {
    nn::EpochStats s;
    s.epoch = e;
    s.train_loss = 1.0 / e, s.train_accuracy = 0.5 + 0.1 * e;
    s.val_loss = 1.1 / e, s.val_accuracy = 0.45 + 0.1 * e;
    h.epochs.push_back(s);
  }
  const std::string svg = nn::training_curves_svg(h, "run");
  CHECK(contains(svg, "run: loss"));
  CHECK(contains(svg, "run: accuracy"));
  CHECK(count(svg, ">validation</text>") == 2);
  CHECK_FALSE(contains(svg, ">test</text>"));  // no test numbers, no test line
  CHECK(count(svg, "<circle") == 12);
}

TEST_CASE("progress bar: elapsed, ETA from the rate so far, running loss and accuracy") {
  nn::Progress p{.epoch = 3, .epochs = 10, .done = 250, .total = 1000, .elapsed_seconds = 12.0, .loss = 0.41234, .accuracy = 0.85};
  // 250 batches in 12 s: the other 750 take 36 s
  CHECK(nn::progress_bar(p, 20) == "epoch 3/10 [#####...............] 250/1000  00:12<00:36  loss 0.4123  acc 0.8500");
  p.done = 0;
  CHECK(contains(nn::progress_bar(p, 20), "00:12<--:--"));  // no rate yet
  p.done = 1000;
  CHECK(contains(nn::progress_bar(p, 20), "[####################] 1000/1000  00:12<00:00"));
  CHECK(nn::format_duration(3723) == "1:02:03");
  CHECK(nn::format_duration(59.6) == "01:00");
  CHECK(nn::format_duration(NAN) == "--:--");
}
