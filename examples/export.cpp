// export — a saved model as an ONNX file (opset 13) for ONNX Runtime and other runtimes.
//
//   build/examples/export seed_cnn.safetensors seed_cnn.onnx
//   build/examples/export seed_cnn_int8.safetensors seed_cnn_int8.onnx     (from examples/quantize)
//   build/examples/export pruned.safetensors.sparse pruned.onnx              (from examples/prune)
//   build/examples/export model.dc model.onnx                                (from examples/compress)
//
// Every file evaluate reads is read (examples/common_checkpoint.h): safetensors, prune's
// .sparse files (the recipe from the safetensors file beside them) and Deep Compression
// files (decoded to float weights: ONNX has no format for their codebooks).
// fp32 checkpoints (dense, pruned or with BatchNorm) are rebuilt from the file as evaluate
// does (nn::model_from_checkpoint) and exported with Conv, Relu, AveragePool, Gemm, ...;
// int8 ones from their layer list, with QuantizeLinear, QLinearConv and DequantizeLinear
// (compress/onnx_export.h explains the graph and how closely it reproduces minidl). The
// graph's input "input" is float32 [N, C, H, W] for any batch size N, *after* the input
// transforms the checkpoint records (printed, and kept in the file's metadata_props with
// the rest of the checkpoint's metadata); the output "output" holds the logits.
#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "common_checkpoint.h"
#include "common_flags.h"
#include "minidl.h"

using namespace minidl;

namespace {

// The item shape [C, H, W]: --input-shape, else the checkpoint's "input_shape" metadata.
Shape item_shape(const std::string& flag, const nn::Metadata& meta, const std::string& checkpoint) {
  const std::string text = !flag.empty() ? flag : meta.count("input_shape") ? meta.at("input_shape") : "";
  MINIDL_CHECK(!text.empty(), checkpoint, " records no input_shape: give --input-shape C,H,W");
  Shape s;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    MINIDL_CHECK(!item.empty() && *end == '\0' && v >= 1 && v <= 65536,
                 !flag.empty() ? std::string("--input-shape") : checkpoint + " metadata input_shape", " \"", text,
                 "\" is not a list of sizes in [1, 65536]");
    s.push_back(v);
  }
  return s;
}

int run(const std::string& checkpoint, const std::string& out, const std::string& shape_flag) {
  examples::check_output_path("output", out);
  nn::Metadata meta;
  std::string kind;
  nn::StateDict sd = examples::read_checkpoint(checkpoint, meta, kind);
  nn::ModulePtr net;
  Shape item;
  if (compress::is_quantized_checkpoint(meta)) {
    net = compress::quantized_from_state(sd, meta, checkpoint);
    item = item_shape(shape_flag, meta, checkpoint);
  } else {
    const nn::CheckpointModel cm = nn::model_from_checkpoint(sd, meta, checkpoint);
    auto seq = nn::build_model(cm.spec, cm.input_shape);
    compress::load_pruned_state(*seq, sd, checkpoint);  // pruned: masks applied; plain: loads as is
    net = seq;
    item = shape_flag.empty() ? cm.input_shape : item_shape(shape_flag, meta, checkpoint);
  }
  Shape example = {1};
  example.insert(example.end(), item.begin(), item.end());
  nn::OnnxExportOptions options;
  for (const auto& [k, v] : meta) options.metadata.emplace_back(k, v);
  std::string transforms;
  for (const auto& t : nn::transforms_from_metadata(meta)) transforms += (transforms.empty() ? "" : ", ") + t->name();
  options.doc_string = "minidl model from " + checkpoint + "; inputs after: " + (transforms.empty() ? "none" : transforms);
  compress::export_onnx(*net, out, example, options);
  std::string dims = "N";
  for (int64_t d : item) dims += ", " + std::to_string(d);
  std::cout << "read " << checkpoint << " (" << kind << ")\nmodel: " << net->repr() << "\nwrote " << out << ": input \"input\" float32 [" << dims << "] after " << (transforms.empty() ? "no transforms" : transforms) << "; output \"output\"\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Export a saved model (fp32 or int8 safetensors, .sparse, Deep Compression) as an ONNX file."};
  std::string checkpoint, out, shape;
  app.add_option("checkpoint", checkpoint, "model written by train_seed_cnn, prune, quantize (.safetensors), prune's .sparse or compress's file")
      ->required()->check(CLI::ExistingFile);
  app.add_option("output", out, "the .onnx file to write")->required();
  app.add_option("--input-shape", shape, "item shape C,H,W (default: the checkpoint's)");
  examples::one_line_errors(app, "export");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  try {
    return run(checkpoint, out, shape);
  } catch (const std::exception& e) {
    std::cerr << "export: error: " << e.what() << std::endl;
    return examples::kRunError;
  }
}
