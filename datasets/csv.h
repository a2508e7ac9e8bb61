// minidl/datasets/csv.h — a table of numeric features with one label column.
//
// Format: one example per line, fields separated by `delimiter`, optionally a
// first header line with column names. Blank lines are skipped, "\r\n" line
// ends are accepted, spaces around fields and one pair of surrounding double
// quotes are stripped (quoted fields may not contain the delimiter — this is
// a reader for numeric tables, not a general CSV parser). Files ending in
// ".gz" are gunzipped first.
//
// Every column but the label column is a feature and must be a finite number
// (parsed with std::from_chars, so independent of the locale). Labels:
//   * if every label is a non-negative integer, that integer is the class
//     index and num_classes = largest + 1;
//   * otherwise labels are class names ("setosa", "-1", ...): the distinct
//     names sorted (byte order) are classes 0, 1, ..., kept as class_names().
// The result has items [F] (float32), so a DataLoader yields x as [B, F].
//
// Errors name the file, the 1-based line and column and what was expected,
// e.g. "iris.csv: line 7, column 2: 'abc' is not a number".
#pragma once

#include <cstdint>
#include <string>

#include "datasets/dataset.h"

namespace minidl::datasets {

struct CsvOptions {
  bool header = true;
  char delimiter = ',';
  int64_t label_column = -1;  // 0-based; negative counts from the end (-1 = the last column)
  std::string label_name{};   // when not empty: the header column of this name (overrides label_column)
};

TensorDataset load_csv(const std::string& path, const CsvOptions& options = {});

}  // namespace minidl::datasets
