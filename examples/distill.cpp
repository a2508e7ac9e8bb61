// distill — knowledge distillation (Hinton et al. 2015) of the seed CNN into a
// narrower seed CNN, and whether it helps, measured honestly.
//
//   build/examples/train_seed_cnn --train-limit 30000 --out teacher.safetensors
//   build/examples/distill --teacher teacher.safetensors --width 0.25 --temperature 4 --alpha 0.9 --epochs 5
//   build/examples/distill --teacher teacher.safetensors --skip 30000 --folds 5 --temperature 1,4,8 --alpha 0.5,0.9
//
// For every (T, α) of the lists a distilled student is trained next to one
// scratch student (α = 0: labels only) with the same initial weights, batches
// and epochs, and the two are compared:
//  * without --folds on the test set, each trained on the pool of training
//    images [--skip, --skip + --train-limit);
//  * with --folds K by stratified K-fold cross-validation of that pool — the
//    comparison itself is cross-validated: in every fold both students train on
//    the fold's training part and are tested on its held-out part, giving K
//    paired differences. Their mean gets the plain Student-t 95% interval and
//    the corrected resampled t interval of Nadeau & Bengio 2003 (variance ×
//    (1/K + n_test/n_train): the folds' training sets overlap, so the plain
//    one is too narrow); judge by the corrected one.
// The teacher must not have seen a fold's held-out images, or its soft
// targets would leak their labels: a --teacher checkpoint records how many
// leading training images it learnt from, and --folds requires --skip past
// them. Without --teacher a teacher is trained (inside every fold with --folds).
#include <CLI/CLI.hpp>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "common_flags.h"
#include "compress/distill.h"
#include "minidl.h"

using namespace minidl;

namespace {

struct Setup {
  nn::TrainConfig recipe;  // the students' (and a trained teacher's) recipe
  double width = 0.25;
  int teacher_epochs = 0;  // 0: recipe.epochs
  bool precompute = false;
};

int64_t count_params(nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

double accuracy(nn::Module& m, const datasets::DatasetPtr& fit, const datasets::DatasetPtr& test, const nn::TrainConfig& c) {
  datasets::DataLoader loader(test, {.batch_size = c.eval_batch_size, .transforms = nn::make_transforms(c, *fit, false)});
  return nn::evaluate(m, loader).accuracy;
}

nn::ModulePtr train_teacher(const Setup& s, const datasets::DatasetPtr& fit, uint64_t seed) {
  Generator gen(seed);
  auto t = nn::seed_cnn({}, gen);
  nn::TrainConfig c = s.recipe;
  c.seed = seed;
  if (s.teacher_epochs) c.epochs = s.teacher_epochs;
  nn::train(*t, fit, nullptr, nullptr, c);
  return t;
}

// A student of the given width trained from `seed` on `fit`, with the teacher
// (alpha > 0) or from the labels alone (teacher null); its accuracy on `test`.
// (d: the fold's Distiller, its precomputed table shared by every cell; null: scratch).
double train_student(const Setup& s, const datasets::DatasetPtr& fit, const datasets::DatasetPtr& test, uint64_t seed,
                     compress::Distiller* d, float T, float alpha) {
  Generator gen(seed);
  auto student = nn::seed_cnn({.width = s.width}, gen);
  nn::TrainConfig c = s.recipe;
  c.seed = seed;
  nn::FitOptions fo;
  if (d) {
    d->set_options({.temperature = T, .alpha = alpha});
    if (s.precompute && !d->precomputed()) d->precompute(fit, nn::make_transforms(c, *fit, true));
    fo.objective = d;
  }
  nn::train(*student, fit, nullptr, nullptr, c, fo);
  return accuracy(*student, fit, test, c);
}

// Images per second of m's inference on batches of 256, m and the reference
// timed in alternation (the machine is shared: only the ratio means much).
std::pair<double, double> speeds(nn::Module& a, nn::Module& b, const Tensor& x) {
  using Clock = std::chrono::steady_clock;
  NoGradGuard ng;
  a.eval();
  b.eval();
  double ta = 0, tb = 0;
  for (int r = 0; r < 5; ++r)
    for (nn::Module* m : {&a, &b}) {
      const auto t0 = Clock::now();
      (void)m->forward(x);
      (m == &a ? ta : tb) += std::chrono::duration<double>(Clock::now() - t0).count();
    }
  return {5.0 * double(x.size(0)) / ta, 5.0 * double(x.size(0)) / tb};
}

std::string pct(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << 100 * v;
  return os.str();
}
std::string pt(double v) { return (v >= 0 ? "+" : "") + pct(v) + " pt"; }
std::string interval(const validate::Summary& s) { return "[" + pt(s.lo()) + ", " + pt(s.hi()) + "]"; }

// The command line.
struct Args {
  std::string data_dir = datasets::kFashionMnistDir, teacher_path;
  std::vector<float> temps{4.f}, alphas{0.9f};
  int folds = 0, threads = 0;
  int64_t train_limit = 0, skip = 0;
};

void add_flags(CLI::App& app, Args& a, Setup& s) {
  app.add_option("--data", a.data_dir, "directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")->check(CLI::ExistingDirectory);
  app.add_option("--teacher", a.teacher_path, "teacher checkpoint (a seed CNN from train_seed_cnn); default: train one")->check(CLI::ExistingFile);
  app.add_option("--teacher-epochs", s.teacher_epochs, "epochs of a trained teacher (default: --epochs)")->check(CLI::Range(1, 100000));
  app.add_option("--width", s.width, "student width multiplier of the seed CNN's 32/64 channels and 100 hidden units")->capture_default_str();
  app.add_option("--temperature", a.temps, "softmax temperature(s) T > 0; a list runs each")->delimiter(',')->capture_default_str();
  app.add_option("--alpha", a.alphas, "weight(s) of the soft term in [0, 1]; a list runs each")->delimiter(',')->capture_default_str();
  app.add_option("--folds", a.folds, "cross-validate the comparison with K stratified folds of the pool")->check(CLI::Range(2, 100));
  app.add_option("--skip", a.skip, "the pool starts after this many training images (the teacher's)")->check(CLI::Range(int64_t(0), int64_t(1) << 30));
  app.add_option("--train-limit", a.train_limit, "pool size (default: the rest of the training file)")->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  app.add_flag("--precompute", s.precompute, "teacher logits computed once per training set (not with --augment)");
  examples::add_recipe_flags(app, s.recipe);
  app.add_option("--seed", s.recipe.seed, "seed of the folds and of every model's initialisation and shuffling");
  app.add_option("--threads", a.threads, "threads (default: all cores)")->check(CLI::Range(1, 1024));
}

// Every option that can be checked before anything is loaded.
void check_args(const Args& a, Setup& s) {
  for (float t : a.temps) compress::check_temperature(t);
  for (float al : a.alphas) compress::check_alpha(al);
  (void)nn::seed_cnn({.width = s.width});  // checks the width
  MINIDL_CHECK(!(s.precompute && s.recipe.augment), "--precompute: precomputed teacher logits are only valid for "
               "un-augmented batches; drop --augment or --precompute");
  s.recipe.validate();
}

// A --teacher checkpoint: the seed CNN its tensors' shapes describe, and how
// many leading training images it learnt from (metadata; unknown: all 60,000).
struct Teacher {
  nn::ModulePtr model;
  int64_t saw = 0, classes = 0;
};

Teacher load_teacher(const std::string& path, const Setup& s) {
  nn::Metadata meta;
  nn::StateDict sd = nn::load_safetensors(path, &meta);
  nn::SeedCNNOptions o;
  auto dim0 = [&](const std::string& name) {
    for (const auto& [n, t] : sd)
      if (n == name) return t.size(0);
    throw Error(path + ": not a seed CNN checkpoint: no tensor \"" + name + "\"");
  };
  for (const auto& [n, t] : sd) o.batchnorm = o.batchnorm || n.rfind("bn1.", 0) == 0;
  o.conv1_channels = dim0("conv1.weight");
  o.conv2_channels = dim0("conv2.weight");
  o.hidden = dim0("fc1.weight");
  o.num_classes = dim0("fc2.weight");
  Teacher t{nn::seed_cnn(o), 0, o.num_classes};
  nn::load(*t.model, path);
  MINIDL_CHECK(!meta.count("normalize_mean") && !s.recipe.normalize, "distill: teacher and student must see the "
               "same inputs (pixel/255); --normalize and normalised teachers are not supported");
  t.saw = meta.count("train_images") ? std::stoll(meta["train_images"]) : 60000;
  return t;
}

// The pool of training images [skip, skip + train_limit), checked against the teacher:
// its class count, and with --folds that it saw none of the pool's images (its soft
// targets would leak their labels).
datasets::DatasetPtr load_pool(const Args& a, const Teacher& t) {
  auto all = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(
      a.data_dir, true, a.train_limit ? std::optional<int64_t>(a.skip + a.train_limit) : std::nullopt));
  MINIDL_CHECK(a.skip < all->size(), "--skip ", a.skip, " leaves no training images (the file has ", all->size(), ")");
  if (t.model)
    MINIDL_CHECK(t.classes == all->num_classes(), "distill: the teacher ", a.teacher_path, " has ", t.classes,
                 " classes (fc2.weight), the data and the student ", all->num_classes());
  if (a.folds && t.model)
    MINIDL_CHECK(a.skip >= t.saw, "--folds: the teacher ", a.teacher_path, " learnt from the first ", t.saw,
                 " training images, so folds of a pool starting at --skip ", a.skip, " would test it on images it "
                 "saw; pass --skip ", t.saw, " or more, or omit --teacher to train one in every fold");
  std::vector<int64_t> idx;
  for (int64_t i = a.skip; i < all->size(); ++i) idx.push_back(i);
  return std::make_shared<datasets::Subset>(all, idx);
}

// Accuracies of every fold (one "fold", the test set, without --folds): the
// teacher's, the scratch student's and each (T, α) cell's distilled student's.
struct Cell {
  float T, alpha;
  std::vector<double> acc;
};
struct Results {
  std::vector<Cell> cells;
  std::vector<double> scratch, teacher;
};

Results run_folds(const Args& a, const Setup& s, const Teacher& teacher, const datasets::DatasetPtr& pool,
                  const datasets::DatasetPtr& test_set) {
  Results r;
  for (float t : a.temps)
    for (float al : a.alphas) r.cells.push_back({t, al, {}});
  std::vector<validate::Fold> parts;
  if (a.folds) parts = validate::StratifiedKFold(a.folds, true, s.recipe.seed).split(pool->labels());
  else parts.push_back({});
  for (size_t f = 0; f < parts.size(); ++f) {
    const uint64_t seed = a.folds ? validate::fold_seed(s.recipe.seed, 0, int(f)) : s.recipe.seed;
    datasets::DatasetPtr fit = pool, test = test_set;
    if (a.folds) {
      fit = std::make_shared<datasets::Subset>(pool, parts[f].train);
      test = std::make_shared<datasets::Subset>(pool, parts[f].test);
    }
    nn::ModulePtr t = teacher.model ? teacher.model : train_teacher(s, fit, seed ^ 0x7eac4e7ULL);
    r.teacher.push_back(accuracy(*t, fit, test, s.recipe));
    r.scratch.push_back(train_student(s, fit, test, seed, nullptr, 1.f, 0.f));
    compress::Distiller d(t);
    std::cout << (a.folds ? "fold " + std::to_string(f + 1) + ": " : std::string()) << "teacher "
              << pct(r.teacher.back()) << "%, scratch student " << pct(r.scratch.back()) << "%" << std::flush;
    for (Cell& c : r.cells) {
      c.acc.push_back(train_student(s, fit, test, seed, &d, c.T, c.alpha));
      std::cout << ", T=" << std::setprecision(3) << std::defaultfloat << c.T << " α=" << c.alpha << ": "
                << pct(c.acc.back()) << "%" << std::flush;
    }
    std::cout << std::endl;
  }
  return r;
}

// Distilled minus scratch per cell; with folds, the plain and the corrected
// (Nadeau & Bengio) 95% intervals of the paired differences, and the verdict.
void report(const Results& r, int folds) {
  std::cout << "\n" << (folds ? std::to_string(folds) + "-fold" : std::string("test set")) << " comparison, distilled "
            << "minus scratch (scratch " << pct(validate::summarize(r.scratch).mean) << "%)\n";
  const double ratio = folds ? 1.0 / double(folds - 1) : 0;  // n_test/n_train of K-fold
  for (const Cell& c : r.cells) {
    std::vector<double> d;
    for (size_t f = 0; f < c.acc.size(); ++f) d.push_back(c.acc[f] - r.scratch[f]);
    std::cout << "  T=" << std::setw(3) << c.T << " α=" << std::setw(4) << c.alpha << ": distilled "
              << pct(validate::summarize(c.acc).mean) << "%, difference " << pt(validate::summarize(d).mean);
    if (folds) {
      const validate::Summary plain = validate::summarize(d), corr = validate::summarize(d, ratio);
      std::cout << ", plain 95% CI " << interval(plain) << ", corrected " << interval(corr)
                << (corr.lo() > 0 ? "  distillation helps" : corr.hi() < 0 ? "  distillation hurts" : "  no clear difference");
    }
    std::cout << "\n";
  }
}

// The first test batch of 256, as the students see it.
Tensor first_test_batch(const datasets::DatasetPtr& test_set, const datasets::DatasetPtr& pool, const Setup& s) {
  datasets::DataLoader loader(test_set, {.batch_size = 256, .transforms = nn::make_transforms(s.recipe, *pool, false)});
  for (const datasets::Batch& b : loader) return b.x;
  return Tensor::empty({256, 1, 28, 28});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Distil the seed CNN into a narrower one and measure the gain (test set or K-fold)."};
  Args a;
  Setup s;
  s.recipe.epochs = 5;
  add_flags(app, a, s);
  examples::one_line_errors(app, "distill");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  try {
    check_args(a, s);
    if (a.threads) set_num_threads(a.threads);
    const Teacher teacher = a.teacher_path.empty() ? Teacher{} : load_teacher(a.teacher_path, s);
    const datasets::DatasetPtr pool = load_pool(a, teacher);
    Generator g0(0);
    auto probe = nn::seed_cnn({.width = s.width}, g0);
    auto full = nn::seed_cnn({}, g0);
    nn::Module& big = teacher.model ? *teacher.model : *full;
    const int64_t sp = count_params(*probe), tp = count_params(big);
    std::cout << "pool: training images [" << a.skip << ", " << a.skip + pool->size() << ") of " << a.data_dir << "\n"
              << "teacher: " << (teacher.model ? a.teacher_path : std::string("trained")) << ", " << tp
              << " parameters (" << 4 * tp / 1024 << " KiB float32)\nstudent: seed CNN width " << s.width << ", " << sp
              << " parameters (" << 4 * sp / 1024 << " KiB), 1/" << std::fixed << std::setprecision(1)
              << double(tp) / double(sp) << " of the teacher\nrecipe: " << s.recipe.describe() << std::endl;
    auto test_set = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(a.data_dir, false));
    report(run_folds(a, s, teacher, pool, test_set), a.folds);
    auto [vs, vt] = speeds(*probe, big, first_test_batch(test_set, pool, s));
    std::cout << "inference, batch 256, timed side by side: student " << std::setprecision(0) << std::fixed << vs
              << " images/s, teacher " << vt << " images/s (" << std::setprecision(1) << vs / vt << "x)" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "distill: error: " << e.what() << std::endl;
    return examples::kRunError;
  }
  return 0;
}
