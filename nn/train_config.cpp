#include "nn/train_config.h"

#include <cmath>
#include <memory>
#include <cstdlib>
#include <sstream>

#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "nn/adam.h"
#include "nn/adamw.h"
#include "nn/divergence.h"
#include "nn/lr_scheduler.h"
#include "nn/one_cycle_lr.h"
#include "nn/optim.h"

namespace minidl::nn {

namespace {

std::string fmt_float(float v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

const char* const kOptimizers[] = {"sgd", "adam", "adamw"};
const char* const kSchedules[] = {"none", "step", "cosine", "onecycle"};

template <class Enum, size_t N>
Enum parse_name(const char* const (&names)[N], const std::string& name, const char* what) {
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) return Enum(i);
  std::string allowed;
  for (size_t i = 0; i < N; ++i) allowed += (i ? ", " : "") + std::string(names[i]);
  throw Error(std::string(what) + " must be one of " + allowed + "; got \"" + name + "\"");
}

}  // namespace

std::string optimizer_name(OptimizerKind k) { return kOptimizers[int(k)]; }
OptimizerKind parse_optimizer(const std::string& name) { return parse_name<OptimizerKind>(kOptimizers, name, "optimizer"); }
std::string schedule_name(Schedule s) { return kSchedules[int(s)]; }
Schedule parse_schedule(const std::string& name) { return parse_name<Schedule>(kSchedules, name, "schedule"); }

float TrainConfig::lr() const {
  return optimizer == OptimizerKind::SGD ? sgd.lr : optimizer == OptimizerKind::Adam ? adam.lr : adamw.lr;
}
float TrainConfig::weight_decay() const {
  return optimizer == OptimizerKind::SGD    ? sgd.weight_decay
         : optimizer == OptimizerKind::Adam ? adam.weight_decay
                                            : adamw.weight_decay;
}
void TrainConfig::set_lr(float v) { sgd.lr = adam.lr = adamw.lr = v; }
void TrainConfig::set_weight_decay(float v) { sgd.weight_decay = adam.weight_decay = adamw.weight_decay = v; }

void TrainConfig::validate() const {
  MINIDL_CHECK(epochs >= 0 && epochs <= 100000, "epochs must be in [0, 100000], got ", epochs);
  MINIDL_CHECK(batch_size >= 1 && batch_size <= (1 << 20), "batch size must be in [1, 1048576], got ", batch_size);
  MINIDL_CHECK(eval_batch_size >= 1, "eval batch size must be >= 1, got ", eval_batch_size);
  MINIDL_CHECK(int(optimizer) >= 0 && int(optimizer) <= 2, "optimizer: not an OptimizerKind (", int(optimizer), ")");
  MINIDL_CHECK(int(schedule) >= 0 && int(schedule) <= 3, "schedule: not a Schedule (", int(schedule), ")");
  const float rate = lr(), wd = weight_decay();
  MINIDL_CHECK(std::isfinite(rate) && rate > 0.f && rate <= 10.f, "learning rate must be in (0, 10], got ", rate);
  MINIDL_CHECK(wd >= 0.f && wd < 1.f, "weight decay must be in [0, 1), got ", wd);
  MINIDL_CHECK(optimizer == OptimizerKind::SGD || !sgd.nesterov, "nesterov is an SGD option; the ",
               optimizer_name(optimizer), " optimizer has none");
  if (optimizer == OptimizerKind::SGD) {
    MINIDL_CHECK(sgd.momentum >= 0.f && sgd.momentum < 1.f, "momentum must be in [0, 1), got ", sgd.momentum);
    MINIDL_CHECK(!sgd.nesterov || sgd.momentum > 0.f, "nesterov needs momentum > 0");
  } else {
    const double b1 = optimizer == OptimizerKind::Adam ? adam.beta1 : adamw.beta1;
    const double b2 = optimizer == OptimizerKind::Adam ? adam.beta2 : adamw.beta2;
    MINIDL_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, "betas must be in [0, 1), got ", b1, " and ", b2);
  }
  MINIDL_CHECK(step_size >= 1, "step size must be >= 1, got ", step_size);
  MINIDL_CHECK(std::isfinite(input_scale) && input_scale >= 0.f, "input scale must be >= 0 (0: the data set's), got ",
               input_scale);
  MINIDL_CHECK(warmup_epochs >= 0 && warmup_epochs <= epochs, "warm-up epochs must be in [0, epochs=", epochs,
               "], got ", warmup_epochs);
  MINIDL_CHECK(warmup_epochs == 0 || schedule == Schedule::None, "warm-up combines only with schedule none (got \"",
               schedule_name(schedule), "\"; onecycle has its own warm-up)");
}

std::string TrainConfig::describe() const {
  std::ostringstream os;
  if (optimizer == OptimizerKind::SGD) {
    os << "SGD(lr=" << sgd.lr << ", momentum=" << sgd.momentum << (sgd.nesterov ? ", nesterov" : "");
  } else {
    const AdamOptions& a = optimizer == OptimizerKind::Adam ? adam : AdamOptions{.beta1 = adamw.beta1, .beta2 = adamw.beta2};
    os << (optimizer == OptimizerKind::Adam ? "Adam" : "AdamW") << "(lr=" << lr() << ", betas=(" << a.beta1 << ", "
       << a.beta2 << ")";
  }
  os << ", weight_decay=" << weight_decay() << "), "
     << (schedule == Schedule::Cosine ? "cosine schedule"
         : schedule == Schedule::Step ? "step schedule (x0.1 every " + std::to_string(step_size) + " epochs)"
         : schedule == Schedule::OneCycle ? "one-cycle schedule (peak lr " + fmt_float(lr()) + ", per batch)"
         : warmup_epochs > 0 ? "linear warm-up over " + std::to_string(warmup_epochs) + " epochs, then constant lr"
                             : "constant lr")
     << ", " << epochs << (epochs == 1 ? " epoch" : " epochs") << ", batch " << batch_size << ", " << (shuffle ? "shuffled" : "not shuffled")
     << ", inputs " << (input_scale > 0.f ? "x" + std::to_string(input_scale) : std::string("scaled as the data set says"))
     << (normalize ? " then normalised (train mean/std)" : "")
     << (augment ? ", augmentation: random crop (pad 2) + horizontal flip" : ", no augmentation");
  return os.str();
}

float input_scale(const TrainConfig& c, const datasets::Dataset& data) {
  return c.input_scale > 0.f ? c.input_scale : data.input_scale();
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  switch (c.optimizer) {
    case OptimizerKind::Adam: return std::make_unique<Adam>(std::move(params), c.adam);
    case OptimizerKind::AdamW: return std::make_unique<AdamW>(std::move(params), c.adamw);
    case OptimizerKind::SGD: break;
  }
  return std::make_unique<SGD>(std::move(params), c.sgd);
}

std::unique_ptr<LRScheduler> make_scheduler(const TrainConfig& c, Optimizer& opt, int64_t batches_per_epoch) {
  const int64_t steps = std::max<int64_t>(1, int64_t(c.epochs) * batches_per_epoch);
  MINIDL_CHECK(steps <= (int64_t(1) << 30), "schedule: ", steps, " optimizer steps are too many");
  switch (c.schedule) {
    case Schedule::Cosine: return std::make_unique<CosineAnnealingLR>(opt, std::max(1, c.epochs));
    case Schedule::Step: return std::make_unique<StepLR>(opt, c.step_size, 0.1f);
    case Schedule::OneCycle:
      return std::make_unique<OneCycleLR>(opt, OneCycleOptions{.max_lr = c.lr(), .total_steps = int(steps)});
    case Schedule::None: break;
  }
  if (c.warmup_epochs > 0)
    return std::make_unique<LinearLR>(opt, 0.1f, 1.f, int(std::max<int64_t>(1, c.warmup_epochs * batches_per_epoch)),
                                      /*per_batch=*/true);
  return nullptr;
}

std::vector<datasets::TransformPtr> make_transforms(const TrainConfig& c, const datasets::Dataset& train_data,
                                                    bool training) {
  using namespace datasets;
  const float scale = input_scale(c, train_data);
  std::vector<TransformPtr> t;
  if (scale != 1.f) t.push_back(std::make_shared<ScalePixels>(scale));
  if (c.normalize) t.push_back(std::make_shared<Normalize>(channel_stats(train_data, scale)));
  const Shape s = train_data.item_shape();
  if (training && c.augment && s.size() == 3) {
    t.push_back(std::make_shared<RandomCrop>(s[1], s[2], 2));
    t.push_back(std::make_shared<RandomHorizontalFlip>());
  }
  return t;
}

std::map<std::string, std::string> recipe_metadata(const TrainConfig& c, const datasets::Dataset& train_data) {
  std::ostringstream scale;
  scale.precision(9);
  scale << input_scale(c, train_data);
  std::map<std::string, std::string> m{{"recipe", c.describe()}, {"input_scale", scale.str()}};
  if (c.normalize) {
    datasets::ChannelStats s = datasets::channel_stats(train_data, input_scale(c, train_data));
    auto join = [](const std::vector<float>& v) {
      std::ostringstream os;
      os.precision(9);
      for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
      return os.str();
    };
    m["normalize_mean"] = join(s.mean);
    m["normalize_std"] = join(s.std);
  }
  return m;
}

std::vector<datasets::TransformPtr> transforms_from_metadata(const std::map<std::string, std::string>& metadata) {
  float scale = 1.f / 255.f;  // checkpoints written before "input_scale" existed were all trained on pixels
  if (auto it = metadata.find("input_scale"); it != metadata.end()) {
    char* end = nullptr;
    scale = std::strtof(it->second.c_str(), &end);
    MINIDL_CHECK(!it->second.empty() && end && *end == '\0' && std::isfinite(scale) && scale > 0.f,
                 "checkpoint metadata input_scale: \"", it->second, "\" is not a positive number");
  }
  std::vector<datasets::TransformPtr> t;
  if (scale != 1.f) t.push_back(std::make_shared<datasets::ScalePixels>(scale));
  auto mean = metadata.find("normalize_mean"), std = metadata.find("normalize_std");
  if (mean == metadata.end() && std == metadata.end()) return t;
  MINIDL_CHECK(mean != metadata.end() && std != metadata.end(),
               "checkpoint metadata has only one of normalize_mean / normalize_std");
  auto parse = [](const std::string& key, const std::string& text) {
    std::vector<float> v;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      float f = std::strtof(item.c_str(), &end);
      MINIDL_CHECK(!item.empty() && end && *end == '\0' && std::isfinite(f), "checkpoint metadata ", key,
                   ": \"", item, "\" is not a number");
      v.push_back(f);
    }
    return v;
  };
  t.push_back(std::make_shared<datasets::Normalize>(parse("normalize_mean", mean->second),
                                                    parse("normalize_std", std->second)));
  return t;
}

History train(Module& model, const datasets::DatasetPtr& train_data, const datasets::DatasetPtr& val,
              const datasets::DatasetPtr& test, const TrainConfig& c, FitOptions extra) {
  using namespace datasets;
  c.validate();
  MINIDL_CHECK(train_data && train_data->size() > 0, "train: the training set is empty");
  // Statistics come from the training data only; evaluation uses the same
  // transforms without augmentation.
  auto train_t = make_transforms(c, *train_data, true);
  auto eval_t = make_transforms(c, *train_data, false);
  DataLoader train_loader(train_data, {.batch_size = c.batch_size, .shuffle = c.shuffle, .seed = c.seed,
                                       .drop_last = false, .transforms = train_t});
  std::unique_ptr<DataLoader> val_loader, test_loader;
  if (val) val_loader = std::make_unique<DataLoader>(val, DataLoaderOptions{.batch_size = c.eval_batch_size, .transforms = eval_t});
  if (test) test_loader = std::make_unique<DataLoader>(test, DataLoaderOptions{.batch_size = c.eval_batch_size, .transforms = eval_t});

  std::unique_ptr<Optimizer> opt = make_optimizer(c, model.parameters());
  std::unique_ptr<LRScheduler> sched = make_scheduler(c, *opt, train_loader.size());

  FitOptions o = std::move(extra);
  o.epochs = c.epochs;
  o.val = val_loader.get();
  o.test = test_loader.get();
  o.scheduler = sched.get();
  // Every recipe run stops when it diverges, with the last healthy weights.
  DivergenceGuard guard;
  o.callbacks.insert(o.callbacks.begin(), &guard);
  return fit(model, *opt, train_loader, o);
}

}  // namespace minidl::nn
