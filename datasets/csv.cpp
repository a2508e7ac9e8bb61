#include "datasets/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>
#include <vector>

#include "datasets/file_bytes.h"

namespace minidl::datasets {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// Splits `line` into trimmed fields (views into `line`), reusing `out`.
void split(std::string_view line, char delim, std::vector<std::string_view>& out) {
  out.clear();
  for (;;) {
    const size_t k = line.find(delim);
    out.push_back(trim(line.substr(0, k)));
    if (k == std::string_view::npos) break;
    line.remove_prefix(k + 1);
  }
}

bool blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

// Integer labels are class indices, and the class count becomes the largest
// + 1: a label of 10^12 (or int64 max, whose + 1 overflows) would ask for that
// many classes — an output layer no file should be able to demand.
constexpr int64_t kMaxClassIndex = (int64_t(1) << 20) - 1;

// A non-negative integer label, or -1.
int64_t as_class_index(std::string_view s) {
  int64_t v = -1;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return (r.ec == std::errc() && r.ptr == s.data() + s.size() && v >= 0) ? v : -1;
}

// Where the columns are: fixed by the first non-blank line.
struct Layout {
  size_t ncols = 0, label_col = 0;
};

// The first non-blank line fixes the column count and the label column:
// by name in the header (label_name), else by position (label_column).
Layout layout_of(const std::vector<std::string_view>& fields, const std::string& path, size_t line_no,
                 const CsvOptions& opt) {
  Layout l;
  l.ncols = fields.size();
  MINIDL_CHECK(l.ncols >= 2, path, ": line ", line_no, " has ", l.ncols,
               " column, expected at least 2 (features and a label); wrong delimiter '", opt.delimiter, "'?");
  if (!opt.label_name.empty()) {
    auto it = std::find(fields.begin(), fields.end(), std::string_view(opt.label_name));
    if (it == fields.end()) {
      std::string names;
      for (auto f : fields) names += (names.empty() ? "" : ", ") + std::string(f);
      detail::fail(path, ": label column '", opt.label_name, "' not in the header (line ", line_no, "): ", names);
    }
    l.label_col = size_t(it - fields.begin());
  } else {
    const int64_t k = opt.label_column < 0 ? int64_t(l.ncols) + opt.label_column : opt.label_column;
    MINIDL_CHECK(k >= 0 && k < int64_t(l.ncols), path, ": label_column = ", opt.label_column,
                 " out of range [", -int64_t(l.ncols), ", ", l.ncols - 1, "] for ", l.ncols, " columns");
    l.label_col = size_t(k);
  }
  return l;
}

// The rows as read: features row-major, the label texts (views into the file) and their lines.
struct Rows {
  std::vector<float> features;
  std::vector<std::string_view> label_text;
  std::vector<size_t> label_line;  // for errors
};

// Appends one data line: its label text, and its other fields as finite float32s.
void add_row(const std::vector<std::string_view>& fields, const Layout& l, const std::string& path, size_t line_no,
             Rows& rows) {
  MINIDL_CHECK(fields.size() == l.ncols, path, ": line ", line_no, " has ", fields.size(), " fields, expected ",
               l.ncols, " (as on the first line)");
  for (size_t c = 0; c < l.ncols; ++c) {
    if (c == l.label_col) {
      MINIDL_CHECK(!fields[c].empty(), path, ": line ", line_no, ", column ", c + 1, ": empty label");
      rows.label_text.push_back(fields[c]);
      rows.label_line.push_back(line_no);
      continue;
    }
    float v = 0;
    const std::string_view f = fields[c];
    const auto r = std::from_chars(f.data(), f.data() + f.size(), v);
    MINIDL_CHECK(r.ec == std::errc() && r.ptr == f.data() + f.size() && !f.empty() && std::isfinite(v), path,
                 ": line ", line_no, ", column ", c + 1, ": '", f, "' is not a ",
                 r.ec == std::errc::result_out_of_range ? "float32 in range" : "finite number");
    rows.features.push_back(v);
  }
}

// Integer class indices if every label is one, else sorted class names.
std::vector<int64_t> class_labels(const Rows& rows, size_t label_col, const std::string& path,
                                  std::vector<std::string>& class_names) {
  const std::vector<std::string_view>& label_text = rows.label_text;
  std::vector<int64_t> labels(label_text.size());
  bool integers = true;
  for (size_t i = 0; i < labels.size() && integers; ++i) integers = (labels[i] = as_class_index(label_text[i])) >= 0;
  for (size_t i = 0; i < labels.size() && integers; ++i)
    MINIDL_CHECK(labels[i] <= kMaxClassIndex, path, ": line ", rows.label_line[i], ", column ", label_col + 1,
                 ": class index ", label_text[i], " out of range [0, ", kMaxClassIndex,
                 "] (integer labels are class indices; the class count is the largest + 1)");
  if (!integers) {
    std::map<std::string_view, int64_t> ids;
    for (auto s : label_text) ids.emplace(s, 0);
    for (auto& [name, id] : ids) {
      id = int64_t(class_names.size());
      class_names.emplace_back(name);
    }
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = ids[label_text[i]];
  }
  return labels;
}

}  // namespace

TensorDataset load_csv(const std::string& path, const CsvOptions& opt) {
  MINIDL_CHECK(opt.label_name.empty() || opt.header, "load_csv: ", path, ": label_name = '", opt.label_name,
               "' needs a header line (CsvOptions::header = true)");
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  std::vector<std::string_view> fields;
  Rows rows;
  Layout layout;
  bool have_layout = false;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (blank(line)) continue;
    split(line, opt.delimiter, fields);
    if (!have_layout) {
      have_layout = true;
      layout = layout_of(fields, path, line_no, opt);
      if (opt.header) continue;
    }
    add_row(fields, layout, path, line_no, rows);
  }
  const int64_t n = int64_t(rows.label_text.size());
  MINIDL_CHECK(n > 0, path, ": no data rows", opt.header ? " after the header" : "");
  std::vector<std::string> class_names;
  std::vector<int64_t> labels = class_labels(rows, layout.label_col, path, class_names);
  const int64_t nfeat = int64_t(layout.ncols) - 1;
  return TensorDataset(Tensor::from_vector(rows.features, {n, nfeat}), std::move(labels), -1, std::move(class_names));
}

}  // namespace minidl::datasets
