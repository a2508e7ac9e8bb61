// train_seed_cnn — train the source articles' CNN (or any model spec) on any data set.
//
//   build/examples/train_seed_cnn --bn --epochs 10 --out seed_cnn.safetensors
//   build/examples/train_seed_cnn --data cifar-10-batches-bin --width 2 --val-fraction 0.1 --patience 3 --keep-best
//   build/examples/train_seed_cnn --data iris.csv --model "linear:16,relu,linear:3" --epochs 50 --history iris
//
// Prints the data, the model (layers with parameter counts), the recipe, one
// line per epoch (loss, train accuracy, validation/test accuracy, samples/s)
// and the final test accuracy. --history PREFIX writes PREFIX.csv, .json and
// the curves PREFIX.svg after every epoch. With --init FILE --no-shuffle and no
// augmentation it performs exactly the loop PyTorch would (same batches, same
// SGD update), which is how parity with PyTorch is checked.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common_data.h"
#include "common_flags.h"
#include "common_world.h"
#include "minidl.h"

using namespace minidl;

namespace {

struct Args {
  examples::DataFlags data;
  examples::ModelFlags model;
  nn::TrainConfig recipe;
  std::string init, out, history, plot;
  bool no_shuffle = false, keep_best = false;
  int threads = 0, patience = 0;
  double val_fraction = 0;
};

// The training part and, with --val-fraction, a stratified validation carve-out of it.
std::pair<datasets::DatasetPtr, datasets::DatasetPtr> split_validation(const datasets::DatasetPtr& train, const Args& a) {
  if (a.val_fraction <= 0) return {train, nullptr};
  const validate::Fold f = validate::Holdout(a.val_fraction, true, a.recipe.seed).split_once(train->labels());
  return {std::make_shared<datasets::Subset>(train, f.train), std::make_shared<datasets::Subset>(train, f.test)};
}

// The model from the flags or, unless --model/--bn/--width say otherwise, the
// architecture of --init; --init's weights loaded. spec and how: what it is and
// where that came from, for the report.
nn::ModulePtr build_net(const Args& a, const datasets::Dataset& train, std::string& spec, std::string& how) {
  spec = examples::model_spec(a.model, train), how = "from the flags";
  const bool model_flags = !a.model.spec.empty() || a.model.bn || a.model.width != 1.0;
  if (!a.init.empty() && !model_flags) {
    nn::Metadata init_meta;
    const nn::StateDict init_sd = nn::load_safetensors(a.init, &init_meta);
    const nn::CheckpointModel cm = nn::model_from_checkpoint(init_sd, init_meta, a.init);
    spec = cm.spec, how = "of " + a.init + ", " + cm.how;
  }
  auto net = examples::make_model(spec, train);
  if (!a.init.empty()) nn::load(*net, a.init);
  return net;
}

// --out: the weights, with the recipe, the model spec and the data in the metadata.
void save_model(nn::Module& net, const Args& a, const nn::TrainConfig& c, const std::string& spec,
                const examples::Data& d, const datasets::Dataset& fit_part) {
  nn::Metadata meta = nn::recipe_metadata(c, fit_part);
  examples::model_metadata(meta, spec, *d.train);
  meta["data"] = std::filesystem::absolute(a.data.path).lexically_normal().string();
  // How many items of the training file it could have learnt from (the first
  // N), so that a later cross-validation can keep its held-out folds out of
  // them (distill).
  meta["train_images"] = std::to_string(d.train->size());
  nn::save(net, a.out, meta);
  std::cout << "saved " << a.out << std::endl;
}

// Under mpirun (examples/common_world.h) the run is data-parallel: every rank
// trains on its share of each global batch of --batch-size rows, gradients
// are averaged in one allreduce per step (nn/data_parallel.h), and rank 0
// alone prints, writes the history and saves --out.
int run(Args& a, Communicator& world) {
  const bool root = world.rank() == 0;
  examples::check_output_path("--out", a.out);
  const std::string prefix = examples::output_prefix(a.history, {".csv", ".json", ".svg"});
  if (!prefix.empty())
    for (const char* ext : {".csv", ".json", ".svg"}) examples::check_output_path("--history", prefix + ext);
  examples::check_output_path("--plot", a.plot);
  nn::TrainConfig& c = a.recipe;
  c.shuffle = !a.no_shuffle;
  c.validate();
  MINIDL_CHECK(a.patience == 0 || a.val_fraction > 0, "--patience needs --val-fraction");
  MINIDL_CHECK(!a.keep_best || a.val_fraction > 0, "--keep-best needs --val-fraction");
  if (a.threads) set_num_threads(a.threads);
  manual_seed(c.seed);
  const examples::Data d = examples::load_data(a.data);
  auto [fit_part, val] = split_validation(d.train, a);
  std::string spec, how;
  auto net = build_net(a, *d.train, spec, how);
  if (root) std::cout << "data: " << d.description << (val ? "\nvalidation: " + std::to_string(val->size()) + " examples carved out of training" : "")
            << "\nmodel: " << spec << " (" << how << ")" << (a.init.empty() ? "" : ", initialised from " + a.init) << "\n"
            << net->repr() << "\nrecipe: " << c.describe() << "\nthreads: " << get_num_threads();
  if (root && world.world_size() > 1)
    std::cout << " per rank\ndata-parallel: " << world.name() << ", each global batch of " << c.batch_size
              << " split between them, gradients averaged with one allreduce per step";
  if (root) std::cout << std::endl;
  nn::FitOptions fo;
  fo.log = root ? &std::cout : nullptr;
  fo.progress_bar = world.world_size() == 1;  // mpirun hands ranks a pseudo-terminal even when output goes to a file
  fo.process_group = &world;
  fo.early_stopping_patience = a.patience;
  fo.restore_best = a.keep_best;
  if (!prefix.empty() && root) fo.history_csv = prefix + ".csv", fo.history_json = prefix + ".json";
  nn::History h = nn::train(*net, fit_part, val, d.test, c, fo);
  if (!root) return 0;  // every rank holds the same weights; rank 0 reports and saves them
  if (val) std::cout << "best epoch " << h.best_epoch << " (validation accuracy " << h.best_val_accuracy << ")"
                     << (a.keep_best ? ", its weights kept" : ", the last epoch's weights kept") << "\n";
  const std::string svg = nn::training_curves_svg(h, "train_seed_cnn");
  if (!prefix.empty()) plot::write_svg(prefix + ".svg", svg), std::cout << "wrote " << prefix << ".{csv,json,svg}\n";
  if (!a.plot.empty()) plot::write_svg(a.plot, svg), std::cout << "wrote " << a.plot << "\n";
  datasets::DataLoader test_loader(d.test, {.batch_size = c.eval_batch_size, .transforms = nn::make_transforms(c, *fit_part, false)});
  nn::EvalResult r = nn::evaluate(*net, test_loader);
  std::cout << "final test accuracy: " << r.accuracy << " (" << int64_t(r.accuracy * double(r.count) + 0.5) << "/"
            << r.count << ")" << std::endl;
  if (!a.out.empty()) save_model(*net, a, c, spec, d, *fit_part);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a model (by default the seed CNN) on any data set minidl reads."};
  Args a;
  examples::add_data_flags(app, a.data);
  examples::add_model_flags(app, a.model);
  examples::add_recipe_flags(app, a.recipe);
  app.add_option("--seed", a.recipe.seed, "seed for initialisation, shuffling, augmentation and the validation split");
  examples::ranged(app, "--threads", a.threads, "threads (0: all cores)", 0, 1024);
  app.add_option("--init", a.init, "start from this checkpoint (safetensors); its architecture unless --model/--bn/--width are given")->check(CLI::ExistingFile);
  app.add_flag("--no-shuffle", a.no_shuffle, "visit training examples in file order");
  examples::ranged(app, "--val-fraction", a.val_fraction, "carve this stratified share out of the training set for validation", 0, 0.9);
  examples::ranged(app, "--patience", a.patience, "stop after this many epochs without validation improvement (0: never; needs --val-fraction)", 0, 100000);
  app.add_flag("--keep-best", a.keep_best, "end with the weights of the best validation epoch (needs --val-fraction)");
  app.add_option("--out", a.out, "save the trained weights here (safetensors)");
  app.add_option("--history", a.history, "write per-epoch history to PREFIX.csv, PREFIX.json and curves to PREFIX.svg");
  app.add_option("--plot", a.plot, "write the training curves (SVG) here");
  examples::one_line_errors(app, "train_seed_cnn");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  std::unique_ptr<Communicator> world;
  try {
    world = examples::make_world();
    return run(a, *world);
  } catch (const std::exception& e) {
    return examples::fail(world.get(), "train_seed_cnn", e, examples::kRunError);
  }
}
