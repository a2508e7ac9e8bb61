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

}  // namespace

TensorDataset load_csv(const std::string& path, const CsvOptions& opt) {
  MINIDL_CHECK(opt.label_name.empty() || opt.header, "load_csv: ", path, ": label_name = '", opt.label_name,
               "' needs a header line (CsvOptions::header = true)");
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  std::vector<std::string_view> fields;
  std::vector<float> features;
  std::vector<std::string_view> label_text;
  std::vector<size_t> label_line;  // for errors
  size_t ncols = 0, label_col = 0;
  bool have_layout = false;
  std::vector<std::string> header_names;

  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (blank(line)) continue;
    split(line, opt.delimiter, fields);

    if (!have_layout) {  // the first non-blank line fixes the column count and the label column
      have_layout = true;
      ncols = fields.size();
      MINIDL_CHECK(ncols >= 2, path, ": line ", line_no, " has ", ncols,
                   " column, expected at least 2 (features and a label); wrong delimiter '", opt.delimiter, "'?");
      if (!opt.label_name.empty()) {
        auto it = std::find(fields.begin(), fields.end(), std::string_view(opt.label_name));
        if (it == fields.end()) {
          std::string names;
          for (auto f : fields) names += (names.empty() ? "" : ", ") + std::string(f);
          detail::fail(path, ": label column '", opt.label_name, "' not in the header (line ", line_no, "): ", names);
        }
        label_col = size_t(it - fields.begin());
      } else {
        const int64_t k = opt.label_column < 0 ? int64_t(ncols) + opt.label_column : opt.label_column;
        MINIDL_CHECK(k >= 0 && k < int64_t(ncols), path, ": label_column = ", opt.label_column,
                     " out of range [", -int64_t(ncols), ", ", ncols - 1, "] for ", ncols, " columns");
        label_col = size_t(k);
      }
      if (opt.header) continue;
    }
    MINIDL_CHECK(fields.size() == ncols, path, ": line ", line_no, " has ", fields.size(), " fields, expected ",
                 ncols, " (as on the first line)");
    for (size_t c = 0; c < ncols; ++c) {
      if (c == label_col) {
        MINIDL_CHECK(!fields[c].empty(), path, ": line ", line_no, ", column ", c + 1, ": empty label");
        label_text.push_back(fields[c]);
        label_line.push_back(line_no);
        continue;
      }
      float v = 0;
      const std::string_view f = fields[c];
      const auto r = std::from_chars(f.data(), f.data() + f.size(), v);
      MINIDL_CHECK(r.ec == std::errc() && r.ptr == f.data() + f.size() && !f.empty() && std::isfinite(v), path,
                   ": line ", line_no, ", column ", c + 1, ": '", f, "' is not a ",
                   r.ec == std::errc::result_out_of_range ? "float32 in range" : "finite number");
      features.push_back(v);
    }
  }
  const int64_t n = int64_t(label_text.size());
  MINIDL_CHECK(n > 0, path, ": no data rows", opt.header ? " after the header" : "");

  // Integer class indices if every label is one, else sorted class names.
  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::vector<std::string> class_names;
  bool integers = true;
  for (size_t i = 0; i < labels.size() && integers; ++i) integers = (labels[i] = as_class_index(label_text[i])) >= 0;
  for (size_t i = 0; i < labels.size() && integers; ++i)
    MINIDL_CHECK(labels[i] <= kMaxClassIndex, path, ": line ", label_line[i], ", column ", label_col + 1,
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
  const int64_t nfeat = int64_t(ncols) - 1;
  return TensorDataset(Tensor::from_vector(features, {n, nfeat}), std::move(labels), -1, std::move(class_names));
}

}  // namespace minidl::datasets
