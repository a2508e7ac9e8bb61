// Tests for validate/recipe.h, validate/study.h, validate/svg.h and
// the corrected interval: the recipe grammar and its errors, the corrected
// resampled t against a hand computation, the study runner on small synthetic
// images (dense models equal cross_validate's, measurements agree with the
// files on disk, resuming trains nothing twice, settings mismatches and bad
// output directories are errors before training), and the pictures.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "compress/sparse_format.h"
#include "core/parallel.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "nn/checkpoint.h"
#include "nn/trainer.h"
#include "test_util.h"
#include "validate/cross_validate.h"
#include "validate/metrics.h"
#include "validate/recipe.h"
#include "validate/study.h"
#include "validate/study_steps.h"
#include "validate/svg.h"

using namespace minidl;
using namespace minidl::validate;
using minidl::test::contains;
using minidl::test::error_of;
namespace fs = std::filesystem;

namespace {

// 28x28 images of 3 classes: class c has a bright horizontal band at rows
// 6c+4 .. 6c+9 over noise, so a seed CNN learns it within an epoch or two.
datasets::DatasetPtr band_images(int64_t n, uint64_t seed = 7) {
  Generator gen(seed);
  std::vector<float> x(static_cast<size_t>(n * 28 * 28));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[size_t(i)] = i % 3;
    for (int64_t r = 0; r < 28; ++r)
      for (int64_t c = 0; c < 28; ++c) {
        const bool band = r >= 6 * (i % 3) + 4 && r < 6 * (i % 3) + 10;
        x[size_t((i * 28 + r) * 28 + c)] = float(gen.randint(60)) + (band ? 160.f : 0.f);
      }
  }
  // pixel values: the recipe scales them by 1/255, as it does an image set's
  return std::make_shared<datasets::TensorDataset>(Tensor::from_vector(x, {n, 1, 28, 28}), y, 3,
                                                   std::vector<std::string>{}, 1.f / 255.f);
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/minidl_study_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

StudyOptions tiny_options(const fs::path& dir) {
  StudyOptions o;
  o.train.epochs = 3;
  o.train.batch_size = 10;
  o.finetune.epochs = 1;
  o.finetune.batch_size = 16;
  o.finetune.sgd.lr = 0.01f;
  o.finetune.schedule = nn::Schedule::Cosine;
  o.seed = 3;
  o.latency_rounds = 1;
  o.latency_images = 2;
  o.out_dir = (dir / "study").string();
  o.recipes = parse_recipes({"prune:0.9", "structured:0.5"});
  return o;
}

}  // namespace

TEST_CASE("recipe grammar: canonical names, file stems, compositions") {
  CHECK(parse_recipe("prune:0.9").name() == "prune:0.9");
  CHECK(parse_recipe("prune:.90").name() == "prune:0.9");
  CHECK(parse_recipe("prune:0.9+int8").name() == "prune:0.9+int8");
  CHECK(parse_recipe("prune:0.9+int8").file_stem() == "prune-0.9_int8");
  CHECK(parse_recipe("int8:per-channel").name() == "int8");
  CHECK(parse_recipe("int8:per-tensor").name() == "int8:per-tensor");
  CHECK(parse_recipe("prune:0.9+int8:7bit").name() == "prune:0.9+int8:7bit");
  CHECK(parse_recipe("prune:0.9+int8:7bit").file_stem() == "prune-0.9_int8-7bit");
  CHECK(parse_recipe("distill:0.25+int8").steps.size() == 2);
  CHECK(parse_recipe("distill:0.25+int8").find("distill")->value == 0.25);
  CHECK(parse_recipe("structured:0.5+prune:0.8").has("prune"));
  CHECK(parse_recipe("prune:0").steps[0].value == 0);
  CHECK(shortest(0.95) == "0.95");
  CHECK(shortest(1.0 / 3) == "0.3333333333333333");
}

TEST_CASE("recipe grammar: every mistake is a one-line error naming what is wrong") {
  CHECK(contains(error_of([] { parse_recipe("prun:0.9"); }), "unknown step 'prun:0.9'"));
  CHECK(contains(error_of([] { parse_recipe("prune:1"); }), "sparsity 1 is outside [0, 1)"));
  CHECK(contains(error_of([] { parse_recipe("prune:1.5"); }), "sparsity 1.5 is outside [0, 1)"));
  CHECK(contains(error_of([] { parse_recipe("prune:-0.1"); }), "outside [0, 1)"));
  CHECK(contains(error_of([] { parse_recipe("prune"); }), "needs a sparsity"));
  CHECK(contains(error_of([] { parse_recipe("prune:abc"); }), "needs a number"));
  CHECK(contains(error_of([] { parse_recipe("prune:0.9x"); }), "needs a number"));
  CHECK(contains(error_of([] { parse_recipe("structured:1"); }), "fraction of filters 1 is outside [0, 1)"));
  CHECK(contains(error_of([] { parse_recipe("distill:0"); }), "width 0 is outside (0, 1]"));
  CHECK(contains(error_of([] { parse_recipe("distill:1.5"); }), "outside (0, 1]"));
  CHECK(contains(error_of([] { parse_recipe("int8:per-row"); }), "'per-channel', 'per-tensor' or '7bit'"));
  CHECK(contains(error_of([] { parse_recipe("qat:2"); }), "qat takes no argument"));
  CHECK(contains(error_of([] { parse_recipe("prune:0.9+"); }), "empty step"));
  CHECK(contains(error_of([] { parse_recipe("int8+prune:0.9"); }), "prune cannot come after int8"));
  CHECK(contains(error_of([] { parse_recipe("prune:0.9+distill:0.5"); }), "distill cannot come after prune"));
  CHECK(contains(error_of([] { parse_recipe("prune:0.5+prune:0.9"); }), "prune appears twice"));
  CHECK(contains(error_of([] { parse_recipe("prune:0.5+qat+int8"); }), "int8"));
  CHECK(contains(error_of([] { parse_recipe("dense"); }), "always part of a study"));
  CHECK(contains(error_of([] { parse_recipe(""); }), "empty recipe"));
  CHECK(contains(error_of([] { parse_recipes({"prune:0.9", "prune:0.90"}); }), "given twice"));
}

TEST_CASE("the study's corrected interval: Nadeau-Bengio's by hand") {
  const std::vector<double> d = {0.010, 0.020, -0.005, 0.015, 0.000};
  // mean 0.008; squared deviations 4e-6, 1.44e-4, 1.69e-4, 4.9e-5, 6.4e-5 sum to 4.3e-4;
  // s² = 4.3e-4 / 4 = 1.075e-4; t_{0.975,4} = 2.7764451051977.
  const double s2 = 1.075e-4, t = 2.7764451051977;
  const Summary naive = summarize(d);
  const Summary corr = summarize(d, 0.25);  // 5-fold: n_test / n_train = 1/4
  CHECK(corr.mean == doctest::Approx(0.008).epsilon(1e-12));
  CHECK(corr.std == doctest::Approx(std::sqrt(s2)).epsilon(1e-12));
  CHECK(naive.ci95 == doctest::Approx(t * std::sqrt(s2 / 5)).epsilon(1e-10));
  CHECK(corr.ci95 == doctest::Approx(t * std::sqrt((1.0 / 5 + 0.25) * s2)).epsilon(1e-10));
  CHECK(corr.ci95 / naive.ci95 == doctest::Approx(1.5).epsilon(1e-10));  // √((0.2 + 0.25) / 0.2)
  CHECK(std::isnan(summarize({0.1}, 0.25).ci95));
}

TEST_CASE("summarize_recipe: paired differences, ratios and the verdict line") {
  std::vector<RunResult> dense(3), runs(3);
  const double dacc[] = {0.90, 0.91, 0.92}, racc[] = {0.898, 0.906, 0.919};
  for (int i = 0; i < 3; ++i) {
    dense[i].accuracy = dacc[i];
    dense[i].stored_bytes = 1000000;
    runs[i].accuracy = racc[i];
    runs[i].stored_bytes = 100000;
    runs[i].latency1_ms = runs[i].dense_latency1_ms = 1;
    runs[i].latency256_ms = 10;
    runs[i].dense_latency256_ms = 20;
  }
  const RecipeSummary s = summarize_recipe("prune:0.9", runs, dense, 0.5);
  CHECK(s.diff.mean == doctest::Approx(-0.0023333333).epsilon(1e-6));
  CHECK(s.diff_corrected.ci95 > s.diff.ci95);
  CHECK(s.compression == doctest::Approx(10));
  CHECK(s.speedup256 == doctest::Approx(2));
  CHECK(contains(s.verdict, "prune:0.9 costs 0.23 pt ["));
  CHECK(contains(s.verdict, "at 10.0x smaller"));
  CHECK(contains(s.verdict, "1.00x / 2.00x the dense speed"));
  const double lo = -s.diff_corrected.hi() * 100, hi = -s.diff_corrected.lo() * 100;
  std::ostringstream want;
  want << std::fixed << std::setprecision(2) << "[" << lo << ", " << hi << "]";
  CHECK(contains(s.verdict, want.str()));
}

TEST_CASE("svg: ticks, escaping and a chart with error bars") {
  const std::vector<double> t = nice_ticks(0.0, 1.0, false);
  REQUIRE(t.size() >= 5);
  CHECK(t.front() == 0.0);
  CHECK(t[1] == doctest::Approx(0.2));
  const std::vector<double> lt = nice_ticks(9e4, 1.1e6, true);
  CHECK(std::find(lt.begin(), lt.end(), 1e5) != lt.end());
  CHECK(std::find(lt.begin(), lt.end(), 1e6) != lt.end());
  CHECK(xml_escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
  Chart c;
  c.log_x = true;
  c.title = "t<1>";
  Series s;
  s.markers = true;
  s.x = {1e5, -1, 2e5};  // -1 cannot be drawn on a log axis: skipped
  s.y = {0.5, 0.1, std::nan("")};
  s.ylo = {0.2, 0, 0};
  s.yhi = {0.9, 0, 0};
  s.point_labels = {"p&q", "x", "y"};
  c.series.push_back(s);
  const std::string svg = svg_charts({c});
  CHECK(contains(svg, "<svg xmlns='http://www.w3.org/2000/svg'"));
  CHECK(contains(svg, "t&lt;1&gt;"));
  CHECK(contains(svg, "p&amp;q"));
  CHECK(!contains(svg, ">x</text>"));
  size_t circles = 0;
  for (size_t p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1)) ++circles;
  CHECK(circles == 1);
  CHECK(contains(svg, "<path d='M"));  // the error bar
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
}

TEST_CASE("study: dense folds equal cross_validate's; measurements agree with the files; resuming trains nothing twice") {
  TempDir tmp;
  const auto data = band_images(120);
  const StratifiedKFold splitter(2, true, 5);
  StudyOptions o = tiny_options(tmp.path);
  const StudyResult r = run_study(data, splitter, o);
  REQUIRE(r.dense.size() == 2);
  REQUIRE(r.runs.size() == 2);
  CHECK(r.trained == 6);
  CHECK(r.resumed == 0);
  CHECK(r.test_train_ratio == doctest::Approx(1.0));

  // The same folds, seeds and transforms as cross_validate: identical dense accuracies.
  CVOptions cv;
  cv.train = o.train;
  cv.seed = o.seed;
  const CVResult c = cross_validate(
      [&](uint64_t seed) {
        Generator gen(seed);
        return nn::ModulePtr(nn::seed_cnn(o.model, gen));
      },
      data, splitter, cv);
  for (int i = 0; i < 2; ++i) CHECK(r.dense[size_t(i)].accuracy == c.folds[size_t(i)].accuracy);
  CHECK(r.dense[0].accuracy > 0.5);  // it learned the bands (chance is 1/3)

  const fs::path dir = o.out_dir;
  for (size_t k = 0; k < 2; ++k)
    for (size_t i = 0; i < 2; ++i) {
      const RunResult& x = r.runs[k][i];
      CHECK(x.stored_bytes == int64_t(fs::file_size(dir / x.file)));
      CHECK(x.diff == doctest::Approx(x.accuracy - r.dense[i].accuracy));
      CHECK(x.test_size == 60);
      CHECK(!x.curves.empty());
      CHECK(std::isfinite(x.latency1_ms));
      CHECK(std::isfinite(x.dense_latency256_ms));
    }
  const RunResult& pr = r.runs[0][0];
  CHECK(pr.file == "fold-0/prune-0.9.sparse");
  // 90% of the conv/linear weights are zero; biases and BatchNorm are not pruned.
  CHECK(double(pr.nonzeros) < 0.12 * double(r.dense[0].params));
  CHECK(pr.macs == r.dense[0].macs);  // dense kernels: masks do not change MACs
  CHECK(pr.stored_bytes * 5 < r.dense[0].stored_bytes);
  const RunResult& st = r.runs[1][0];
  CHECK(st.macs < r.dense[0].macs * 0.6);
  CHECK(contains(st.details, "32 of 64 filters kept"));
  // The measured model is the one in the file: reading it again gives the same accuracy.
  {
    Generator gen(0);
    auto m = nn::seed_cnn(o.model, gen);
    compress::load_sparse(*m, (dir / pr.file).string());
    const auto test = std::make_shared<datasets::Subset>(data, splitter.split(data->labels())[0].test);
    datasets::DataLoader l(test, {.batch_size = 64, .transforms = nn::make_transforms(o.train, *std::make_shared<datasets::Subset>(data, splitter.split(data->labels())[0].train), false)});
    CHECK(nn::evaluate(*m, l).accuracy == pr.accuracy);
  }

  // Resume with one more recipe: only the new recipe trains, old unit files stay byte for byte.
  const std::string before = read(dir / "fold-1" / "prune-0.9.json");
  const auto dense_time = fs::last_write_time(dir / "fold-0" / "dense.safetensors");
  // (prune:0.9+int8 once this build has int8 quantization, issue #11.)
  const bool int8 = recipe_runnable(parse_recipe("int8"));
  o.recipes = parse_recipes(int8 ? std::vector<std::string>{"prune:0.9", "structured:0.5", "distill:0.5", "prune:0.9+int8"}
                                 : std::vector<std::string>{"prune:0.9", "structured:0.5", "distill:0.5"});
  const StudyResult r2 = run_study(data, splitter, o);
  CHECK(r2.trained == (int8 ? 4 : 2));
  CHECK(r2.resumed == 6);
  CHECK(read(dir / "fold-1" / "prune-0.9.json") == before);
  CHECK(fs::last_write_time(dir / "fold-0" / "dense.safetensors") == dense_time);
  for (size_t k = 0; k < 2; ++k)
    for (size_t i = 0; i < 2; ++i) CHECK(r2.runs[k][i].accuracy == r.runs[k][i].accuracy);
  CHECK(r2.summaries[0].verdict == r.summaries[0].verdict);
  // The distilled student: a quarter-size network (width 0.5 halves every layer), read back from its file.
  const RunResult& ds = r2.runs[2][1];
  CHECK(ds.params < r.dense[1].params / 3);
  CHECK(ds.stored_bytes == int64_t(fs::file_size(dir / ds.file)));
  CHECK(contains(ds.details, "student conv 16/32, hidden 50"));
  REQUIRE(ds.curves.size() == 1);
  REQUIRE(ds.curves[0].epochs.size() == 3);
  // It trains on the distillation loss (which falls; with a teacher this weak the
  // soft targets are nearly uniform, so accuracy is not the thing to check here).
  CHECK(ds.curves[0].epochs.back().train_loss < ds.curves[0].epochs.front().train_loss);

  // prune + int8: an integer-only model in an int8 safetensors file, a quarter of the
  // dense float file; the counts are the pruned float model's.
  if (int8) {
  const RunResult& q = r2.runs[3][0];
  CHECK(q.file == "fold-0/prune-0.9_int8.int8.safetensors");
  CHECK(q.stored_bytes == int64_t(fs::file_size(dir / q.file)));
  CHECK(q.stored_bytes < r.dense[0].stored_bytes * 0.3);
  CHECK(q.nonzeros == r.runs[0][0].nonzeros);
  CHECK(contains(q.details, "PTQ int8, per-channel weights, histogram activations"));
  CHECK(q.accuracy > r.runs[0][0].accuracy - 0.1);
  // It continued from prune:0.9's stored file (resumed from the first run), not a second pruning.
  REQUIRE(q.curves.size() == 1);
  CHECK(q.curves[0].epochs.size() == r.runs[0][0].curves[0].epochs.size());
  CHECK(q.curves[0].epochs.back().heldout_accuracy == r.runs[0][0].curves[0].epochs.back().heldout_accuracy);
  CHECK(q.details.rfind(r.runs[0][0].details + "; ", 0) == 0);
  }

  // Outputs.
  write_study(r2, o.out_dir);
  const auto j = nlohmann::json::parse(read(dir / "results.json"));
  CHECK(j["recipes"].size() == (int8 ? 4 : 3));
  CHECK(j["runs"].size() == (int8 ? 10 : 8));
  CHECK(j["recipes"][0]["recipe"] == "prune:0.9");
  CHECK(contains(read(dir / "results.csv"), "\ndistill:0.5,1,0,1,"));
  CHECK(contains(read(dir / "pareto.svg"), "prune:0.9 ("));
  CHECK(contains(read(dir / "curves.svg"), "polyline"));
  CHECK(contains(study_table(r2), "structured:0.5"));
  CHECK(contains(verdicts(r2), "distill:0.5 "));

  // Another training recipe in the same directory: an error before anything trains.
  o.train.sgd.lr = 0.05f;
  CHECK(contains(error_of([&] { run_study(data, splitter, o); }), "holds a study made with other settings: train"));
}

TEST_CASE("study: a composition continues from its leading recipe's file, whatever the listed order") {
  TempDir tmp;
  const auto data = band_images(30);
  const StratifiedKFold splitter(2, true, 1);
  StudyOptions o = tiny_options(tmp.path);
  o.latency_rounds = 0;
  o.recipes = parse_recipes({"structured:0.5+prune:0.5", "structured:0.5"});
  const StudyResult r = run_study(data, splitter, o);
  for (size_t i = 0; i < 2; ++i) {
    const RunResult &both = r.runs[0][i], &head = r.runs[1][i];
    // structured:0.5 ran first (its file, 32 of 64 conv2 filters, is what the composition read)...
    REQUIRE(both.curves.size() == 2);
    REQUIRE(head.curves.size() == 1);
    CHECK(both.curves[0].stage == head.curves[0].stage);
    CHECK(both.curves[0].epochs.back().train_loss == head.curves[0].epochs.back().train_loss);
    CHECK(both.conv2_channels == 32);
    CHECK(contains(both.details, "32 of 64 filters kept; global sparsity 0.5"));
    // ...and the second step pruned that smaller network.
    CHECK(both.params == head.params);
    CHECK(double(both.nonzeros) < 0.75 * double(head.nonzeros));
  }
  // Proof that the composition reads the file (and runs after structured:0.5 though
  // listed first): without fold 0's structured:0.5 model it cannot be made again.
  fs::remove(tmp.path / "study" / "fold-0" / "structured-0.5.safetensors");
  fs::remove(tmp.path / "study" / "fold-0" / "structured-0.5_prune-0.5.json");
  CHECK(contains(error_of([&] { run_study(data, splitter, o); }), "fold-0/structured-0.5.safetensors"));
}

TEST_CASE("study: parallel folds give the cores of an uneven tail to the last folds, by position") {
  TempDir tmp;
  const auto data = band_images(30);
  const int saved = get_num_threads();
  set_num_threads(2);
  StudyOptions o = tiny_options(tmp.path);
  o.latency_rounds = 0;
  o.recipes = parse_recipes({"prune:0.5"});
  o.jobs = 2;
  const StudyResult r = run_study(data, StratifiedKFold(3, true, 1), o);
  set_num_threads(saved);
  CHECK(r.jobs == 2);
  // Folds 1 and 2 run side by side at 1 thread each, fold 3 alone at 2.
  CHECK(r.dense[0].threads == 1);
  CHECK(r.dense[1].threads == 1);
  CHECK(r.dense[2].threads == 2);
  CHECK(r.runs[0][2].threads == 2);
  // The same fold alone at 2 threads (jobs 1) makes the same bits as the tail did.
  TempDir tmp2;
  StudyOptions one = tiny_options(tmp2.path);
  one.latency_rounds = 0;
  one.recipes = o.recipes;
  set_num_threads(2);
  const StudyResult r1 = run_study(data, StratifiedKFold(3, true, 1), one);
  set_num_threads(saved);
  CHECK(r1.dense[2].threads == 2);
  CHECK(r1.dense[2].accuracy == r.dense[2].accuracy);
  CHECK(r1.dense[2].loss == r.dense[2].loss);
}

TEST_CASE("study: bad settings are errors before training") {
  TempDir tmp;
  const auto data = band_images(30);
  StudyOptions o = tiny_options(tmp.path);
  std::ofstream(tmp.path / "file") << "x";
  o.out_dir = (tmp.path / "file").string();
  CHECK(contains(error_of([&] { check_study(*data, StratifiedKFold(2, true, 1), o); }), "is a file, not a directory"));
  o.out_dir = (tmp.path / "no" / "such").string();
  CHECK(contains(error_of([&] { check_study(*data, StratifiedKFold(2, true, 1), o); }), "does not exist"));
  o.out_dir = "";
  CHECK(contains(error_of([&] { check_study(*data, StratifiedKFold(2, true, 1), o); }), "output directory"));
  o = tiny_options(tmp.path);
  CHECK(error_of([&] { check_study(*data, StratifiedKFold(2, true, 1), o); }) == "<no error>");
  CHECK(recipe_runnable(parse_recipe("structured:0.5+prune:0.5")));
  CHECK(recipe_runnable(parse_recipe("distill:0.25")));
  std::string why;
  if (!recipe_runnable(parse_recipe("prune:0.9+int8"), &why)) {  // until the int8 issue (#11) lands
    CHECK(contains(why, "issue #11"));
    o.recipes = parse_recipes({"prune:0.9+int8"});
    CHECK(contains(error_of([&] { check_study(*data, StratifiedKFold(2, true, 1), o); }), "recipe 'prune:0.9+int8': int8 needs"));
  }
  CHECK(!fs::exists(tmp.path / "study"));

  // A second study in a directory where one is running is refused; a killed
  // run's temporaries are cleared once the lock is had.
  o = tiny_options(tmp.path);
  fs::create_directories(fs::path(o.out_dir) / "fold-0");
  const fs::path stale = fs::path(o.out_dir) / "fold-0" / "dense.json.tmp.99999.0";
  std::ofstream(stale) << "partial";
  const int fd = ::open((fs::path(o.out_dir) / "study.lock").c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  CHECK(contains(error_of([&] { run_study(data, StratifiedKFold(2, true, 1), o); }), "another study is running"));
  ::close(fd);
  o.recipes = {};
  o.train.epochs = 0;
  run_study(data, StratifiedKFold(2, true, 1), o);
  CHECK(!fs::exists(stale));
  CHECK(fs::exists(fs::path(o.out_dir) / "fold-0" / "dense.json"));
}

TEST_CASE("study step int8:7bit: an integer-only model whose every code is 7-bit") {
  if (!recipe_runnable(parse_recipe("int8:7bit"))) return;  // a build without compress/ quantization
  Generator g(5);
  validate::detail::FoldData f;
  f.fit = std::make_shared<datasets::TensorDataset>(Tensor::uniform({120, 1, 28, 28}, 0.f, 1.f, g),
                                                    std::vector<int64_t>(120, 1), 10);
  validate::detail::Candidate c;
  c.model = nn::seed_cnn({}, g);
  validate::detail::quantize_step(parse_recipe("int8:7bit").steps[0], c, f, StudyOptions{}, nullptr);
  CHECK(c.format == validate::detail::Format::int8);
  CHECK(contains(c.details, "PTQ int8, per-channel weights, histogram activations (7-bit)"));
  // Inputs at three times the calibrated range: the codes still stop at 127.
  NoGradGuard ng;
  Tensor v = mul(Tensor::uniform({4, 1, 28, 28}, 0.f, 1.f, g), Tensor::full({1}, 3.f));
  int top = 0, layers = 0;
  for (const auto& [name, m] : c.model->named_children()) {
    v = (*m)(v);
    if (v.dtype() != DType::UInt8) continue;
    ++layers;
    for (int64_t i = 0; i < v.numel(); ++i) top = std::max(top, int(v.data<uint8_t>()[i]));
  }
  CHECK(layers >= 5);
  CHECK(top <= 127);
}
