// examples/common_data.h — --data and --model for every program.
//
//   examples::DataFlags df;
//   examples::add_data_flags(app, df);          // --data --format --test-data --label-column ...
//   examples::Data d = examples::load_data(df); // d.train, d.test, d.description
//   examples::ModelFlags mf;
//   examples::add_model_flags(app, mf);         // --model --bn --width
//   auto net = examples::make_model(mf, *d.train);
//
// What --data points at decides the reader (or --format names it):
//   a folder with {train,t10k}-images-idx3-ubyte[.gz]   MNIST / Fashion-MNIST (IDX)
//   a folder with data_batch_*.bin / test_batch.bin      CIFAR-10 (binary version)
//   a folder of sub-folders of images                    an image folder, one sub-folder per class;
//                                                        train/ and test/ (or val/) sub-folders are the splits
//   a file *.csv or *.csv.gz                             a table, the last column the label
// A source with no test split of its own (a CSV file, an image folder without
// train/test) is split here: a stratified 20% (--test-fraction) is the test
// set, always drawn with seed 0, so every program sees the same test images.
// --test-data names a separate test set instead.
//
// Class names come from the data: CIFAR-10's, the image folder's sub-folders,
// a CSV's string labels, for IDX folders a classes.txt (one name per line)
// beside the files, or Fashion-MNIST's when the folder's name says
// fashion-mnist. Otherwise classes are numbered.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common_flags.h"
#include "minidl.h"

namespace minidl::examples {

struct DataFlags {
  std::string path = datasets::kFashionMnistDir;
  std::string format = "auto";
  std::string test_path;
  double test_fraction = 0.2;
  int channels = 3;
  int64_t image_size = 0;
  std::string label_column;
  int64_t train_limit = 0;
  int64_t test_limit = 0;   // only the first N test examples (quick runs, the sanitized test lane)
  bool whole_set = false;   // sources without a test split: all of it is `train`, no test set (kfold)
};

inline void add_data_flags(CLI::App& app, DataFlags& d, bool with_train_limit = true) {
  app.add_option("--data", d.path,
                 "data set: an MNIST/IDX folder, CIFAR-10 batches, an image folder (one sub-folder per class) or a .csv file")
      ->capture_default_str();
  app.add_option("--format", d.format, "what --data is (default: detected)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "mnist", "cifar10", "images", "csv"}));
  app.add_option("--test-data", d.test_path, "a separate test set of the same format (CSV file or image folder)");
  ranged(app, "--test-fraction", d.test_fraction, "test share of a source without a test split", 0.05, 0.5);
  app.add_option("--channels", d.channels, "image folders: 1 (grayscale) or 3 (RGB)")->capture_default_str()->check(CLI::IsMember({1, 3}));
  ranged(app, "--image-size", d.image_size, "image folders: resize every image to SxS (0: native size)", 0, 4096);
  app.add_option("--label-column", d.label_column, "CSV: the label column, by header name or 0-based index (default: the last)");
  if (with_train_limit) {
    ranged(app, "--train-limit", d.train_limit, "use only the first N training examples (0: all)", 0, 1 << 30);
    ranged(app, "--test-limit", d.test_limit, "use only the first N test examples (0: all)", 0, 1 << 30);
  }
}

namespace detail_data {
namespace fs = std::filesystem;

inline bool has_file(const fs::path& dir, const std::string& name) {
  return fs::exists(dir / name) || fs::exists(dir / (name + ".gz"));
}
inline bool ends_with(std::string s, const std::string& suffix) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
inline bool has_subdir(const fs::path& dir, const std::string& name) { return fs::is_directory(dir / name); }

inline std::vector<std::string> idx_class_names(const fs::path& dir, int64_t classes) {
  std::ifstream f(dir / "classes.txt");
  std::vector<std::string> names;
  for (std::string line; f && std::getline(f, line);)
    if (!line.empty() && line != "\r") names.push_back(line.back() == '\r' ? line.substr(0, line.size() - 1) : line);
  if (f.is_open() || !names.empty()) {
    MINIDL_CHECK(int64_t(names.size()) == classes, (dir / "classes.txt").string(), ": ", names.size(),
                 " names for ", classes, " classes");
    return names;
  }
  std::string base = fs::absolute(dir).lexically_normal().filename().string();
  if (base.empty()) base = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  std::transform(base.begin(), base.end(), base.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  base.erase(std::remove_if(base.begin(), base.end(), [](char c) { return c == '-' || c == '_'; }), base.end());
  if (classes == 10 && base.find("fashionmnist") != std::string::npos)
    return {"T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};
  return {};
}

inline datasets::DatasetPtr with_names(datasets::TensorDataset ds, const fs::path& dir) {
  std::vector<std::string> names = idx_class_names(dir, ds.num_classes());
  return std::make_shared<datasets::TensorDataset>(ds.items(), ds.labels(), ds.num_classes(), names, ds.input_scale());
}

inline datasets::DatasetPtr load_one(const std::string& format, const std::string& path, const DataFlags& d) {
  if (format == "csv") {
    datasets::CsvOptions o;
    if (!d.label_column.empty()) {
      const bool number = std::all_of(d.label_column.begin(), d.label_column.end(), [](char c) { return std::isdigit(c) || c == '-'; });
      if (number) o.label_column = std::stoll(d.label_column);
      else o.label_name = d.label_column;
    }
    return std::make_shared<datasets::TensorDataset>(datasets::load_csv(path, o));
  }
  MINIDL_CHECK(format == "images", "--test-data works with CSV files and image folders, not ", format);
  return std::make_shared<datasets::TensorDataset>(
      datasets::load_image_folder(path, {.channels = d.channels, .height = d.image_size, .width = d.image_size}));
}
}  // namespace detail_data

// "mnist", "cifar10", "images" or "csv" for what `path` points at; an Error
// saying what was expected otherwise.
inline std::string detect_format(const std::string& path) {
  namespace fs = std::filesystem;
  using namespace detail_data;
  const fs::path p(path);
  if (fs::is_regular_file(p)) {
    if (ends_with(path, ".csv") || ends_with(path, ".csv.gz")) return "csv";
    MINIDL_CHECK(!ends_with(path, ".safetensors") && !ends_with(path, ".sparse"), "--data: ", path,
                 " is a checkpoint, not a data set");
    detail::fail("--data: cannot tell what ", path, " holds: CSV files end in .csv or .csv.gz (or say --format csv)");
  }
  MINIDL_CHECK(fs::is_directory(p), "--data: ", path, " does not exist");
  if (has_file(p, "train-images-idx3-ubyte") || has_file(p, "t10k-images-idx3-ubyte")) return "mnist";
  if (has_file(p, "data_batch_1.bin") || has_file(p, "test_batch.bin") || has_subdir(p, "cifar-10-batches-bin"))
    return "cifar10";
  for (const auto& e : fs::directory_iterator(p))
    if (e.is_directory()) return "images";
  detail::fail("--data: found no data set in ", path,
               " (expected {train,t10k}-images-idx3-ubyte[.gz], CIFAR-10's data_batch_*.bin, one sub-folder of images"
               " per class, or give a .csv file)");
}

struct Data {
  datasets::DatasetPtr train, test;
  std::string format, description;
};

// Loads the training and test sets --data describes (see the header comment).
inline Data load_data(const DataFlags& d) {
  namespace fs = std::filesystem;
  using namespace detail_data;
  Data r;
  r.format = d.format == "auto" ? detect_format(d.path) : d.format;
  const std::optional<int64_t> limit = d.train_limit ? std::optional<int64_t>(d.train_limit) : std::nullopt;
  std::string split = "its own test split";
  if (r.format == "mnist") {
    r.train = with_names(datasets::load_mnist(d.path, true, limit), d.path);
    r.test = with_names(datasets::load_mnist(d.path, false), d.path);
  } else if (r.format == "cifar10") {
    r.train = std::make_shared<datasets::TensorDataset>(datasets::load_cifar10(d.path, true, limit));
    r.test = std::make_shared<datasets::TensorDataset>(datasets::load_cifar10(d.path, false));
  } else if (r.format == "images" && d.test_path.empty() && has_subdir(d.path, "train") &&
             (has_subdir(d.path, "test") || has_subdir(d.path, "val"))) {
    r.train = load_one("images", (fs::path(d.path) / "train").string(), d);
    r.test = load_one("images", (fs::path(d.path) / (has_subdir(d.path, "test") ? "test" : "val")).string(), d);
    split = "its train/ and " + std::string(has_subdir(d.path, "test") ? "test/" : "val/") + " folders";
  } else {
    datasets::DatasetPtr all = load_one(r.format, d.path, d);
    if (d.whole_set) {
      r.train = all, r.test = nullptr;
      split = "all of it (no test split)";
    } else if (!d.test_path.empty()) {
      r.train = all, r.test = load_one(r.format, d.test_path, d);
      split = "test set " + d.test_path;
      // Class names number the classes in each file separately (sorted names), so they must agree.
      MINIDL_CHECK(r.train->class_names() == r.test->class_names() && r.train->num_classes() == r.test->num_classes(),
                   "--test-data ", d.test_path, ": its classes (", r.test->num_classes(), ") differ from those of ", d.path,
                   " (", r.train->num_classes(), "); both must hold the same class names");
    } else {
      const validate::Fold f = validate::Holdout(d.test_fraction, true, 0).split_once(all->labels());
      r.train = std::make_shared<datasets::Subset>(all, f.train);
      r.test = std::make_shared<datasets::Subset>(all, f.test);
      std::ostringstream os;
      os << "a stratified " << d.test_fraction * 100 << "% held out as the test set (seed 0)";
      split = os.str();
    }
    if (limit) {
      MINIDL_CHECK(*limit <= r.train->size(), "--train-limit ", *limit, " is more than the ", r.train->size(),
                   " training examples");
      std::vector<int64_t> first(static_cast<size_t>(*limit));
      for (int64_t i = 0; i < *limit; ++i) first[size_t(i)] = i;
      r.train = std::make_shared<datasets::Subset>(r.train, first);
    }
  }
  if (d.test_limit && r.test) {
    MINIDL_CHECK(d.test_limit <= r.test->size(), "--test-limit ", d.test_limit, " is more than the ", r.test->size(),
                 " test examples");
    std::vector<int64_t> first(static_cast<size_t>(d.test_limit));
    for (int64_t i = 0; i < d.test_limit; ++i) first[size_t(i)] = i;
    r.test = std::make_shared<datasets::Subset>(r.test, first);
  }
  MINIDL_CHECK(!r.test || r.train->item_shape() == r.test->item_shape(), "--data: training items ", to_string(r.train->item_shape()),
               " but test items ", to_string(r.test->item_shape()));
  std::ostringstream os;
  os << d.path << " (" << r.format << ", " << r.train->size() << " train, " << (r.test ? r.test->size() : 0) << " test examples of "
     << to_string(r.train->item_shape()) << ", " << r.train->num_classes() << " classes; " << split << ")";
  r.description = os.str();
  return r;
}

// A program reading a checkpoint (evaluate) defaults to the data the model
// was trained on: the metadata's "data" path and, for image folders, its
// input channels and size — unless the command line gave them.
inline void data_defaults_from(DataFlags& d, const nn::Metadata& meta, const CLI::App& app) {
  if (!app.count("--data") && meta.count("data")) d.path = meta.at("data");
  auto in = meta.find("input_shape");
  if (in == meta.end()) return;
  std::vector<int64_t> s;
  std::stringstream ss(in->second);
  for (std::string item; std::getline(ss, item, ',');) s.push_back(std::atoll(item.c_str()));
  if (s.size() != 3) return;
  if (!app.count("--channels") && (s[0] == 1 || s[0] == 3)) d.channels = int(s[0]);
  if (!app.count("--image-size") && s[1] == s[2]) d.image_size = s[1];
}

// Class names for reports: the data's, else "0", "1", ...
inline std::vector<std::string> class_names(const datasets::Dataset& ds) {
  std::vector<std::string> n = ds.class_names();
  if (n.empty())
    for (int64_t c = 0; c < ds.num_classes(); ++c) n.push_back(std::to_string(c));
  return n;
}

// ---- the model

struct ModelFlags {
  std::string spec;  // empty: the seed CNN for images, an MLP for tables
  bool bn = false;
  double width = 1.0;
};

inline void add_model_flags(CLI::App& app, ModelFlags& m) {
  app.add_option("--model", m.spec,
                 "model spec, e.g. \"conv:32:3,relu,conv:64:3,relu,avgpool:4,flatten,linear:100,relu,linear:10\" "
                 "(default: that, the seed CNN, for images; linear:100,relu,linear:N for tables; see nn/model_spec.h)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {  // token errors are flag errors (shapes are checked once the data is read)
            try {
              nn::parse_model_spec(s);
              return "";
            } catch (const Error& e) {
              return e.what();
            }
          },
          "", "spec"));
  app.add_flag("--bn", m.bn, "BatchNorm after each convolution");
  ranged(app, "--width", m.width, "width multiplier of every layer but the last", 0, 64, "(]");
}

// The spec with --bn and --width applied, for data like `train`.
inline std::string model_spec(const ModelFlags& m, const datasets::Dataset& train) {
  const std::string spec = m.spec.empty() ? nn::default_model_spec(train.item_shape(), train.num_classes()) : m.spec;
  return nn::expand_model_spec(spec, {.batchnorm = m.bn, .width = m.width});
}

inline std::shared_ptr<nn::Sequential> make_model(const std::string& expanded_spec, const datasets::Dataset& train,
                                                  Generator& gen = default_generator()) {
  auto net = nn::build_model(expanded_spec, train.item_shape(), {}, train.num_classes(), gen);
  nn::fuse(*net);  // layer + ReLU as one module: the same values and checkpoint keys, faster
  return net;
}

// What a checkpoint must record to be rebuilt: the expanded spec and the item shape.
inline void model_metadata(nn::Metadata& meta, const std::string& expanded_spec, const datasets::Dataset& train) {
  meta["model"] = expanded_spec;
  std::string shape;
  for (int64_t s : train.item_shape()) shape += (shape.empty() ? "" : ",") + std::to_string(s);
  meta["input_shape"] = shape;
}

// A model for a checkpoint file (safetensors or minidl's .sparse), its
// architecture read off the file (nn::model_from_checkpoint) unless `spec`
// names it; `how` says where it came from.
inline std::shared_ptr<nn::Sequential> model_for_checkpoint(const nn::StateDict& sd, const nn::Metadata& meta,
                                                            const std::string& path, const ModelFlags& flags,
                                                            const datasets::Dataset& data, std::string* how = nullptr) {
  if (!flags.spec.empty()) {
    if (how) *how = "from --model";
    return make_model(model_spec(flags, data), data);
  }
  nn::CheckpointModel cm = nn::model_from_checkpoint(sd, meta, path);
  MINIDL_CHECK(cm.input_shape == data.item_shape(), path, ": the model takes items of ", to_string(cm.input_shape),
               " but the data has ", to_string(data.item_shape()));
  if (how) *how = cm.how;
  return nn::build_model(cm.spec, cm.input_shape, {}, data.num_classes());
}

}  // namespace minidl::examples
