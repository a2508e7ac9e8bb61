// prune — train (or load) a model (the seed CNN by default), prune it while
// fine-tuning, and report what was gained and what it cost.
//
//   build/examples/prune --init seed_cnn.safetensors --sparsity 0.9 --out pruned.safetensors
//   build/examples/prune --init seed_cnn.safetensors --structured 0.5
//
// With --init the architecture is read off the checkpoint (BatchNorm or not,
// any model spec train_seed_cnn recorded), and the pruned checkpoint keeps the
// original training's metadata (recipe, input scaling, normalisation, model)
// with a "pruning" entry added; fine-tuning uses the same input scaling and
// normalisation as that training did.
//
// --sparsity S: global magnitude pruning of every conv/linear weight, raised
//   gradually to S along Zhu & Gupta's cubic schedule during the first two
//   thirds of fine-tuning (masks are parametrizations: the layers compute with
//   weight ⊙ mask). Reports per-layer sparsity and the sparse file size.
// --structured F: removes the fraction F of conv2's filters with the smallest
//   L1 norms, physically shrinking conv2, bn2 and fc1, then fine-tunes.
//   Reports the measured fp32 inference speedup.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>

#include "common_data.h"
#include "common_flags.h"
#include "minidl.h"

using namespace minidl;
namespace cp = minidl::compress;

namespace {
// Best-of-5 fp32 inference throughput (images/s) over the first 2048 test images, batch 256.
// Inference images/s (batch 256) of each model, timed side by side: rounds
// alternate between the models, and each keeps its best round, so both see
// the same machine (a shared VM's speed drifts by 20% within a minute).
std::vector<double> images_per_second(const std::vector<nn::Module*>& nets, const datasets::DatasetPtr& test,
                                      const std::vector<datasets::TransformPtr>& transforms) {
  const int64_t n = std::min<int64_t>(2048, test->size());
  std::vector<int64_t> first(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) first[size_t(i)] = i;
  datasets::DataLoader loader(std::make_shared<datasets::Subset>(test, first), {.batch_size = 256, .transforms = transforms});
  std::vector<Tensor> batches;
  for (const datasets::Batch& b : loader) batches.push_back(b.x);
  NoGradGuard ng;
  std::vector<double> best(nets.size(), 1e30);
  for (int rep = 0; rep < 11; ++rep)
    for (size_t m = 0; m < nets.size(); ++m) {
      nets[m]->eval();
      auto t0 = std::chrono::steady_clock::now();
      for (const Tensor& x : batches) (*nets[m])(x);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep > 0) best[m] = std::min(best[m], s);  // the first pass warms caches and allocator
    }
  for (double& b : best) b = double(n) / b;
  return best;
}

// The recipe of an --init checkpoint's training, as far as inputs go: its
// input scale and whether it normalised (the statistics are recomputed from
// the same training data, so they are the same numbers).
void inputs_from_metadata(const nn::Metadata& meta, nn::TrainConfig& c) {
  if (auto it = meta.find("input_scale"); it != meta.end()) c.input_scale = std::stof(it->second);
  else if (!meta.empty()) c.input_scale = 1.f / 255.f;  // older checkpoints: pixels
  c.normalize = meta.count("normalize_mean") > 0;
}
struct Args {
  examples::DataFlags data;
  examples::ModelFlags model;
  nn::TrainConfig recipe;  // for the dense model (without --init); with --init its input settings
  std::string init, out;
  double sparsity = 0, structured = 0;
  int finetune_epochs = 3, threads = 0;
  float finetune_lr = 0.01f;
};

// The dense model: --init's (architecture read off the file unless the model
// flags are given; `meta` gets its metadata), or trained here with the recipe.
std::shared_ptr<nn::Sequential> dense_model(Args& a, const examples::Data& d, nn::Metadata& meta, std::string& spec) {
  nn::StateDict init_sd;
  spec = examples::model_spec(a.model, *d.train);
  std::string how = "from the flags";
  if (!a.init.empty()) {
    init_sd = nn::load_safetensors(a.init, &meta);
    inputs_from_metadata(meta, a.recipe);
    if (a.model.spec.empty() && !a.model.bn && a.model.width == 1.0) {
      nn::CheckpointModel cm = nn::model_from_checkpoint(init_sd, meta, a.init);
      spec = cm.spec, how = "of " + a.init + ", " + cm.how;
    }
  }
  auto net = examples::make_model(spec, *d.train);
  std::cout << "data: " << d.description << "\nmodel: " << spec << " (" << how << ")\n";
  if (!a.init.empty()) {
    compress::load_pruned_state(*net, init_sd, a.init);
  } else {
    std::cout << "training the dense model: " << a.recipe.describe() << "\n";
    nn::train(*net, d.train, nullptr, d.test, a.recipe, {.log = &std::cout});
    meta = nn::recipe_metadata(a.recipe, *d.train);
    examples::model_metadata(meta, spec, *d.train);
    meta["data"] = std::filesystem::absolute(a.data.path).lexically_normal().string();
  }
  return net;
}

// Structured and/or gradual pruning during fine-tuning; returns the fine-tuning recipe.
nn::TrainConfig prune_and_finetune(const Args& a, nn::Sequential& net, const examples::Data& d,
                                   const std::function<double()>& accuracy) {
  nn::TrainConfig ft = a.recipe;  // fine-tuning: the recipe's batches and inputs, its own length and annealed lr
  ft.epochs = a.finetune_epochs;
  ft.set_lr(a.finetune_lr);
  ft.schedule = nn::Schedule::Cosine;
  ft.warmup_epochs = 0;  // (the cosine schedule replaces the recipe's warm-up)
  if (a.structured > 0) {
    auto r = cp::prune_conv_filters(net, "conv2", cp::Amount::fraction(a.structured), 1);
    std::cout << "structured: removed " << r.removed.size() << " of " << r.removed.size() + r.kept.size()
              << " conv2 filters; shrunk";
    for (const auto& s : r.shrunk) std::cout << " " << s;
    std::cout << "; accuracy before fine-tuning " << accuracy() << "\n";
  }
  nn::FitOptions fo;
  fo.log = &std::cout;
  std::unique_ptr<cp::GradualPruner> pruner;
  if (a.sparsity > 0) {
    const int64_t steps = (d.train->size() + ft.batch_size - 1) / ft.batch_size * std::max(1, ft.epochs);
    const int64_t n = 10, freq = std::max<int64_t>(1, steps * 2 / 3 / n);
    pruner = std::make_unique<cp::GradualPruner>(cp::prunable_weights(net),
                                                 cp::GradualSchedule{0.0, a.sparsity, 0, n, freq}, true);
    fo.callbacks = {pruner.get()};
    std::cout << "gradual pruning to " << a.sparsity << " over " << n * freq << " of " << steps << " steps\n";
  }
  std::cout << "fine-tuning: " << ft.describe() << "\n";
  nn::train(net, d.train, nullptr, d.test, ft, fo);
  if (pruner) {  // reach s_f even when fine-tuning was shorter than the schedule (0 epochs, little data)
    pruner->set_optimizer(nullptr);  // fine-tuning's optimizer is gone with train(); no momentum to clear
    pruner->on_step(pruner->schedule().end_step());
  }
  return ft;
}

// OUT (with masks), OUT.dense (masks baked in) and OUT.sparse, with the
// original training's metadata plus how the model was pruned.
void save_outputs(const Args& a, nn::Module& net, nn::Metadata meta, const nn::TrainConfig& ft) {
  const auto size = [](const std::string& p) { return int64_t(std::filesystem::file_size(p)); };
  meta["pruning"] = (a.structured > 0 ? "conv2 filters removed: " + std::to_string(a.structured) + "; " : std::string()) +
                    (a.sparsity > 0 ? "global magnitude sparsity " + std::to_string(a.sparsity) + "; " : std::string()) +
                    "fine-tuned: " + ft.describe();
  const std::string& out = a.out;
  nn::save(net, out, meta);               // masks included (PyTorch prune's names)
  cp::save_sparse(net, out + ".sparse");  // compressed sparse rows
  cp::remove_all(net);                    // bake the masks: a plain dense model
  nn::save(net, out + ".dense", meta);
  std::cout << "saved " << out << (a.sparsity > 0 ? " (with masks), " : ", ") << out << ".dense ("
            << size(out + ".dense") << " bytes) and " << out << ".sparse (" << size(out + ".sparse") << " bytes, "
            << 100.0 * double(size(out + ".sparse")) / double(size(out + ".dense")) << "% of dense)\n";
}

int run(Args& a) {
  if (!a.out.empty())
    for (const char* suffix : {"", ".sparse", ".dense"}) examples::check_output_path("--out", a.out + suffix);
  MINIDL_CHECK(a.sparsity > 0 || a.structured > 0, "give --sparsity and/or --structured");
  if (a.threads) set_num_threads(a.threads);
  manual_seed(a.recipe.seed);
  const examples::Data d = examples::load_data(a.data);
  nn::Metadata meta;
  std::string spec;
  auto net = dense_model(a, d, meta, spec);
  const auto transforms = nn::make_transforms(a.recipe, *d.train, false);
  auto accuracy = [&] {
    datasets::DataLoader l(d.test, {.batch_size = 256, .transforms = transforms});
    return nn::evaluate(*net, l).accuracy;
  };
  const double dense_acc = accuracy();
  std::cout << "dense: test accuracy " << dense_acc << "\n";
  auto dense = examples::make_model(spec, *d.train);  // kept for the speed comparison
  dense->load_state_dict(net->state_dict());
  const nn::TrainConfig ft = prune_and_finetune(a, *net, d, accuracy);

  const double acc = accuracy();
  Shape input{1};
  for (int64_t s : d.train->item_shape()) input.push_back(s);
  std::cout << "\n" << cp::report(*net, input).to_string() << "\n"
            << "test accuracy: dense " << dense_acc << " -> pruned " << acc << " (" << (acc - dense_acc) * 100
            << " points)\n";
  if (a.structured > 0) {  // (masks alone do not make the dense kernels faster; removed filters do)
    const std::vector<double> ips = images_per_second({dense.get(), net.get()}, d.test, transforms);
    std::cout << "fp32 inference (batch 256, " << get_num_threads() << " threads, timed side by side): dense "
              << int64_t(ips[0]) << " -> pruned " << int64_t(ips[1]) << " images/s (speedup " << ips[1] / ips[0] << "x)\n";
  }
  if (!a.out.empty()) save_outputs(a, *net, meta, ft);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prune a model (by default the seed CNN; unstructured or structured) with fine-tuning, and report size, speed and accuracy."};
  Args a;
  examples::add_data_flags(app, a.data);
  examples::add_model_flags(app, a.model);
  examples::add_recipe_flags(app, a.recipe);
  app.add_option("--init", a.init, "dense checkpoint to start from, its architecture read off the file (otherwise the dense model is trained first)")->check(CLI::ExistingFile);
  examples::ranged(app, "--sparsity", a.sparsity, "target global sparsity of conv/linear weights", 0, 0.999);
  examples::ranged(app, "--structured", a.structured, "fraction of conv2's filters to remove", 0, 0.97);
  examples::ranged(app, "--finetune-epochs", a.finetune_epochs, "fine-tuning epochs", 0, 1000);
  examples::ranged(app, "--finetune-lr", a.finetune_lr, "fine-tuning learning rate (cosine to 0)", 0, 10, "(]");
  app.add_option("--seed", a.recipe.seed, "seed");
  examples::ranged(app, "--threads", a.threads, "threads (0: all cores)", 0, 1024);
  app.add_option("--out", a.out, "pruned checkpoint (safetensors, with masks); a sparse copy goes to OUT.sparse");
  examples::one_line_errors(app, "prune");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::cerr << "prune: error: " << e.what() << std::endl;
    return examples::kRunError;
  }
}
