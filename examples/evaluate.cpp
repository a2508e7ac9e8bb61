// evaluate — test accuracy and confusion matrix of a saved model.
//
//   build/examples/evaluate seed_cnn.safetensors
//   build/examples/evaluate pruned.safetensors.sparse --plot confusion.svg
//
// The architecture is read off the checkpoint (nn::model_from_checkpoint):
// the model spec the trainer recorded, with layer widths from the weight
// shapes (so structurally pruned models load), or for files without one the
// seed CNN's tensor names; --model overrides. Pruning masks load when the file
// has *_orig/*_mask tensors; the input scaling and normalisation come from the
// file's metadata, and the test set from --data, else the data the model was
// trained on (metadata "data"). minidl's .sparse files (written by prune) load
// too; they carry no metadata, so the recipe is read from the safetensors file
// of the same name without ".sparse" when there is one. Deep Compression files
// (written by examples/compress, recognised by their magic) carry their metadata.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common_checkpoint.h"
#include "common_data.h"
#include "common_flags.h"
#include "minidl.h"

using namespace minidl;

namespace {

int run(const CLI::App& app, const std::string& checkpoint, examples::DataFlags& df, const examples::ModelFlags& mf,
        int64_t batch_size, const std::string& plot_path) {
  examples::check_output_path("--plot", plot_path);
  nn::Metadata meta;
  std::string kind, how;
  nn::StateDict sd = examples::read_checkpoint(checkpoint, meta, kind);
  examples::data_defaults_from(df, meta, app);
  const examples::Data d = examples::load_data(df);
  const bool int8 = compress::is_quantized_checkpoint(meta);
  nn::ModulePtr net;
  if (int8) {  // an int8 model (examples/quantize): rebuilt from the file's layer list
    net = compress::quantized_from_state(sd, meta, checkpoint);
    how = "from the int8 checkpoint's layer list";
  } else {
    auto seq = examples::model_for_checkpoint(sd, meta, checkpoint, mf, *d.test, &how);
    compress::load_pruned_state(*seq, sd, checkpoint);  // plain checkpoints load unchanged
    nn::fuse(*seq);  // layer + ReLU as one module: the same values, faster
    net = seq;
  }
  auto transforms = meta.empty() ? nn::make_transforms(nn::TrainConfig{}, *d.test, false) : nn::transforms_from_metadata(meta);
  datasets::DataLoader loader(d.test, {.batch_size = batch_size, .transforms = transforms});
  nn::EvalResult r = nn::evaluate(*net, loader);
  validate::ConfusionMatrix cm(r.predictions, r.targets, d.test->num_classes());
  const std::vector<std::string> labels = examples::class_names(*d.test);
  std::cout << "checkpoint: " << checkpoint << " (" << kind << ")\n"
            << "model: " << (int8 ? "int8 quantized " : "") << net->repr() << "\n(architecture " << how << ")"
            << (meta.count("recipe") ? "\ntrained with: " + meta["recipe"] : "")
            << (meta.count("pruning") ? "\npruned: " + meta["pruning"] : "")
            << (int8 ? "\nquantization: " + meta["quantization.scheme"] : "") << "\n"
            << "data: " << d.description << "\n"
            << "test accuracy: " << r.accuracy << " (" << r.count << " examples), loss " << r.loss << "\n\n"
            << "confusion matrix (rows: true class, columns: predicted)\n"
            << cm.to_string(labels) << "\n" << cm.report(labels);
  if (!plot_path.empty()) {
    plot::HeatMap h{.title = "confusion matrix: " + std::filesystem::path(checkpoint).filename().string(),
                    .x_label = "predicted class", .y_label = "true class", .row_labels = labels, .col_labels = labels};
    for (int64_t t = 0; t < cm.num_classes(); ++t) {
      h.values.emplace_back();
      for (int64_t p = 0; p < cm.num_classes(); ++p) h.values.back().push_back(double(cm.at(t, p)));
    }
    plot::write_svg(plot_path, plot::heat_map(h));
    std::cout << "wrote " << plot_path << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a saved model (safetensors or .sparse) on a test set."};
  std::string checkpoint, plot_path;
  examples::DataFlags df;
  examples::ModelFlags mf;
  int64_t batch_size = 256;
  app.add_option("checkpoint", checkpoint, "checkpoint written by train_seed_cnn or prune (.safetensors or .sparse)")
      ->required()->check(CLI::ExistingFile);
  examples::add_data_flags(app, df, false);
  examples::add_model_flags(app, mf);
  examples::ranged(app, "--batch-size", batch_size, "evaluation batch size", 1, 1 << 20);
  app.add_option("--plot", plot_path, "write the confusion matrix as an SVG heat map here");
  examples::one_line_errors(app, "evaluate");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  try {
    return run(app, checkpoint, df, mf, batch_size, plot_path);
  } catch (const std::exception& e) {
    std::cerr << "evaluate: error: " << e.what() << std::endl;
    return examples::kRunError;
  }
}
