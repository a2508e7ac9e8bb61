// compress — Deep Compression (Han, Mao & Dally 2016) of a trained model into one
// file: prune gradually → share weights (k-means codebooks, centroids fine-tuned)
// or int8 → entropy-code → reload → evaluate.
//
//   build/examples/compress --init seed_cnn.safetensors --sparsity conv=0.7,fc=0.95 \
//       --bits conv=6,fc=4,fc2=5 --out seed_cnn.dc
//   build/examples/evaluate seed_cnn.dc
//
// --sparsity and --bits take "key=value" lists: key "conv" or "fc" sets every
// Conv2d or Linear layer, a layer name ("fc2") overrides it. A bits value is
// 2..8 (a codebook of 2^b centroids) or "int8" (per-channel symmetric, fixed).
// Prints per-layer bits, Deep Compression's stage table (dense → pruned →
// quantized → entropy coded) and the accuracy before saving and after reloading.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "common_data.h"
#include "common_flags.h"
#include "minidl.h"

using namespace minidl;
namespace cp = minidl::compress;

namespace {

struct Args {
  examples::DataFlags data;
  nn::TrainConfig recipe;  // fine-tuning batches / optimizer; input settings come from --init
  std::string init, out, sparsity = "conv=0.7,fc=0.95", bits = "conv=8,fc=5", codec = "zstd";
  int prune_epochs = 3, share_epochs = 1, threads = 0;
  float prune_lr = 0.01f, share_lr = 0.001f;
};

// The value of `spec` ("conv=0.7,fc=0.95,fc2=0.8") for each Conv2d / Linear layer.
std::map<std::string, std::string> per_layer(const std::string& flag, const std::string& spec, nn::Module& net) {
  std::map<std::string, std::string> kv, out;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    const size_t eq = item.find('=');
    MINIDL_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < item.size(), flag, ": \"", item, "\" is not key=value");
    kv[item.substr(0, eq)] = item.substr(eq + 1);
  }
  std::set<std::string> used;
  for (auto& [module, param] : cp::prunable_weights(net)) {
    const std::string type = dynamic_cast<nn::Conv2d*>(module.get()) ? "conv" : "fc";
    const std::string key = kv.count(module->name()) ? module->name() : type;
    MINIDL_CHECK(kv.count(key), flag, ": no value for layer ", module->name(), " (give ", type, "= or ", module->name(), "=)");
    out[module->name()] = kv[key];
    used.insert(key);
  }
  for (const auto& [k, v] : kv) MINIDL_CHECK(used.count(k) || k == "conv" || k == "fc", flag, ": no layer named ", k);
  return out;
}

nn::TrainConfig finetune_recipe(const Args& a, int epochs, float lr) {
  nn::TrainConfig ft = a.recipe;
  ft.epochs = epochs;
  ft.set_lr(lr);
  ft.schedule = nn::Schedule::Cosine;
  ft.warmup_epochs = 0;
  return ft;
}

// Gradual magnitude pruning of each layer to its own sparsity (Zhu & Gupta's
// cubic over the first two thirds of fine-tuning), then the masks baked in.
void prune(const Args& a, nn::Sequential& net, const examples::Data& d) {
  const auto sparsity = per_layer("--sparsity", a.sparsity, net);
  const nn::TrainConfig ft = finetune_recipe(a, a.prune_epochs, a.prune_lr);
  const int64_t steps = (d.train->size() + ft.batch_size - 1) / ft.batch_size * std::max(1, ft.epochs);
  const int64_t n = 10, freq = std::max<int64_t>(1, steps * 2 / 3 / n);
  std::vector<std::unique_ptr<cp::GradualPruner>> pruners;
  nn::FitOptions fo{.log = &std::cout};
  for (auto& target : cp::prunable_weights(net)) {
    const std::string& v = sparsity.at(target.first->name());
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    MINIDL_CHECK(end == v.c_str() + v.size() && s >= 0 && s < 1, "--sparsity: ", target.first->name(), "=", v,
                 " is not a number in [0, 1)");
    pruners.push_back(std::make_unique<cp::GradualPruner>(std::vector{target}, cp::GradualSchedule{0.0, s, 0, n, freq}));
    fo.callbacks.push_back(pruners.back().get());
  }
  std::cout << "pruning (" << a.sparsity << ") while fine-tuning: " << ft.describe() << "\n";
  nn::train(net, d.train, nullptr, d.test, ft, fo);
  for (auto& p : pruners) p->set_optimizer(nullptr), p->on_step(p->schedule().end_step());  // reach s_f
  cp::remove_all(net);
}

// k-means codebooks or int8 per layer, then the centroids fine-tuned.
void share(const Args& a, nn::Sequential& net, const examples::Data& d, const std::function<double()>& accuracy) {
  for (const auto& [layer, b] : per_layer("--bits", a.bits, net)) {
    auto m = net.get_submodule(layer);
    if (b == "int8") {
      cp::quantize_weight_int8(*m, "weight");
    } else {
      int bits = 0;
      MINIDL_CHECK(CLI::detail::lexical_cast(b, bits), "--bits: ", layer, "=", b, " is neither a number of bits nor int8");
      cp::share_weights(*m, "weight", bits);
    }
  }
  std::cout << "weight sharing (" << a.bits << "): accuracy before fine-tuning the centroids " << accuracy() << "\n";
  if (a.share_epochs == 0) return;
  const nn::TrainConfig ft = finetune_recipe(a, a.share_epochs, a.share_lr);
  std::cout << "fine-tuning the centroids: " << ft.describe() << "\n";
  nn::train(net, d.train, nullptr, d.test, ft, {.log = &std::cout});
}

void print_layers(const cp::CompressedFile& f) {
  std::cout << "\nlayer          coding    bits  weights   stored  sparsity  index b/w  code b/w   bytes\n";
  for (const auto& r : f.records) {
    if (r.coding == "metadata" || r.coding == "float32") {
      std::cout << std::left << std::setw(15) << r.name << std::setw(10) << r.coding << std::right << std::setw(4)
                << r.bits << std::setw(9) << r.numel << std::setw(50) << r.bytes << "\n";
      continue;
    }
    const double per = r.nnz ? 8.0 / double(r.nnz) : 0;
    std::cout << std::left << std::setw(15) << r.name << std::setw(10) << r.coding << std::right << std::setw(4) << r.bits
              << std::setw(9) << r.numel << std::setw(9) << r.nnz << std::fixed << std::setprecision(1) << std::setw(9)
              << 100.0 * (1 - double(r.nnz) / double(r.numel)) << "%" << std::setprecision(2) << std::setw(11)
              << per * double(r.index_bytes) << std::setw(10) << per * double(r.code_bytes) << std::setw(8) << r.bytes
              << "\n" << std::defaultfloat;
  }
}

// The paper's "quantized" stage, before entropy coding: b-bit codes packed,
// the pruned structure in the sparse format's 4-bit relative indices, the
// codebooks / scales and biases in float32.
int64_t quantized_bytes(const cp::CompressedFile& f, nn::Sequential& net) {
  int64_t n = 0;
  for (const auto& r : f.records) {
    if (r.coding == "metadata" || r.coding == "float32") {
      n += r.bytes;
      continue;
    }
    Tensor w = net.get_submodule(r.name.substr(0, r.name.rfind('.')))->param("weight");
    Tensor mask = Tensor::zeros(w.shape());
    for (int64_t i = 0; i < w.numel(); ++i) mask.data<float>()[i] = w.data<float>()[i] != 0.f ? 1.f : 0.f;
    n += cp::sparse_record_bytes(r.name + "_mask", mask) + (r.nnz * r.bits + 7) / 8 +
         4 * (r.coding == "codebook" ? (int64_t(1) << r.bits) : w.shape()[0]);
  }
  return n;
}

int run(Args& a, const CLI::App& app) {
  examples::check_output_path("--out", a.out);
  const cp::Codec codec = cp::codec_from_name(a.codec);
  if (a.threads) set_num_threads(a.threads);
  manual_seed(a.recipe.seed);
  nn::Metadata meta;
  const nn::StateDict init = nn::load_safetensors(a.init, &meta);
  if (auto it = meta.find("input_scale"); it != meta.end()) a.recipe.input_scale = std::stof(it->second);
  a.recipe.normalize = meta.count("normalize_mean") > 0;
  examples::data_defaults_from(a.data, meta, app);
  const examples::Data d = examples::load_data(a.data);
  auto net = examples::model_for_checkpoint(init, meta, a.init, {}, *d.test);
  cp::load_pruned_state(*net, init, a.init);
  const auto transforms = nn::transforms_from_metadata(meta);
  auto accuracy_of = [&](nn::Module& m) {
    datasets::DataLoader l(d.test, {.batch_size = 256, .transforms = transforms});
    return nn::evaluate(m, l).accuracy;
  };
  auto accuracy = [&] { return accuracy_of(*net); };
  const double dense_acc = accuracy();
  std::cout << "dense " << a.init << ": test accuracy " << dense_acc << "\n";

  prune(a, *net, d);
  const double pruned_acc = accuracy();
  const int64_t pruned_bytes = int64_t(cp::encode_sparse(net->state_dict()).size());
  share(a, *net, d, accuracy);
  const double before = accuracy();

  meta["compression"] = "sparsity " + a.sparsity + "; bits " + a.bits;
  const cp::CompressedFile f = cp::save_compressed(*net, a.out, meta, codec);
  const cp::Codec other = codec == cp::Codec::Zlib ? cp::Codec::Zstd : cp::Codec::Zlib;
  const int64_t other_bytes = int64_t(cp::encode_compressed(*net, meta, other).bytes.size());
  nn::Metadata meta2;
  const nn::StateDict sd = cp::load_compressed(a.out, &meta2);
  auto reloaded = examples::model_for_checkpoint(sd, meta2, a.out, {}, *d.test);
  reloaded->load_state_dict(sd);
  const double after = accuracy_of(*reloaded);

  print_layers(f);
  const double dense_bytes = double(std::filesystem::file_size(a.init));
  auto row = [&](const char* stage, double bytes, double acc) {
    std::cout << std::left << std::setw(52) << stage << std::right << std::setw(10) << int64_t(bytes) << std::setw(9)
              << std::fixed << std::setprecision(1) << dense_bytes / bytes << "x" << std::setprecision(2)
              << std::setw(9) << 100 * acc << "%\n" << std::defaultfloat;
  };
  std::cout << "\nstage                                                    bytes    ratio  accuracy\n";
  row("dense fp32 safetensors (--init)", dense_bytes, dense_acc);
  row("pruned fp32 (sparse format, 4-bit relative indices)", double(pruned_bytes), pruned_acc);
  row("quantized (b-bit codes packed, no entropy coding)", double(quantized_bytes(f, *net)), before);
  row(("entropy coded (" + a.codec + ": " + a.out + ")").c_str(), double(f.bytes.size()), after);
  std::cout << std::setprecision(6) << "the same model with " << cp::codec_name(other) << ": " << other_bytes << " bytes\n"
            << "test accuracy: dense " << dense_acc << ", before saving " << before << ", after reloading " << after
            << (before == after ? " (identical)" : " (DIFFERENT)") << "; " << 100 * (after - dense_acc) << " points\n";
  return before == after ? 0 : examples::kRunError;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Deep Compression of a trained model: prune, share weights, entropy-code into one file, reload, evaluate."};
  Args a;
  examples::add_data_flags(app, a.data);
  examples::add_recipe_flags(app, a.recipe);
  app.add_option("--init", a.init, "trained dense checkpoint (safetensors)")->required()->check(CLI::ExistingFile);
  app.add_option("--sparsity", a.sparsity, "per-layer sparsity: conv=S,fc=S,<layer>=S")->capture_default_str();
  app.add_option("--bits", a.bits, "per-layer coding: conv=B,fc=B,<layer>=B with B in 2..8 or int8")->capture_default_str();
  examples::ranged(app, "--prune-epochs", a.prune_epochs, "fine-tuning epochs while pruning", 0, 1000);
  examples::ranged(app, "--share-epochs", a.share_epochs, "epochs fine-tuning the centroids", 0, 1000);
  examples::ranged(app, "--prune-lr", a.prune_lr, "learning rate while pruning (cosine to 0)", 0, 10, "(]");
  examples::ranged(app, "--share-lr", a.share_lr, "learning rate of the centroids (cosine to 0)", 0, 10, "(]");
  app.add_option("--codec", a.codec, "entropy coder of the file")->check(CLI::IsMember({"zstd", "zlib", "none"}))->capture_default_str();
  app.add_option("--seed", a.recipe.seed, "seed");
  examples::ranged(app, "--threads", a.threads, "threads (0: all cores)", 0, 1024);
  app.add_option("--out", a.out, "the compressed model file")->required();
  examples::one_line_errors(app, "compress");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  try {
    return run(a, app);
  } catch (const std::exception& e) {
    std::cerr << "compress: error: " << e.what() << std::endl;
    return examples::kRunError;
  }
}
