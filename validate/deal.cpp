#include "validate/deal.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace minidl::validate {

using nlohmann::json;

std::vector<int> dealt_jobs(int n, int rank, int world_size) {
  MINIDL_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "dealt_jobs: rank ", rank, " of ", world_size);
  std::vector<int> mine;
  for (int i = rank; i < n; i += world_size) mine.push_back(i);
  return mine;
}

std::string error_text(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

std::string fold_bytes(const FoldResult& f) {
  const json j = {{"index", f.index}, {"repeat", f.repeat}, {"fold", f.fold}, {"seed", f.seed},
                  {"train_size", f.train_size}, {"val_size", f.val_size}, {"test_size", f.test_size},
                  {"val_indices", f.val_indices}, {"accuracy", f.accuracy}, {"macro_f1", f.macro_f1},
                  {"loss", f.loss}, {"classes", f.confusion.num_classes()}, {"confusion", f.confusion.counts()},
                  {"epochs_run", f.epochs_run}, {"best_epoch", f.best_epoch}, {"stopped_early", f.stopped_early},
                  {"best_val_accuracy", f.best_val_accuracy}, {"measurements", f.measurements},
                  {"preprocessing", f.preprocessing}, {"threads", f.threads}, {"seconds", f.seconds},
                  {"fit_seconds", f.fit_seconds}, {"score_seconds", f.score_seconds},
                  {"train_accuracy", f.train_accuracy}, {"train_macro_f1", f.train_macro_f1},
                  {"train_loss", f.train_loss}};
  // CBOR stores every double as its 8 IEEE bytes (and NaN as NaN), unlike JSON text.
  const std::vector<uint8_t> cbor = json::to_cbor(j);
  return std::string(cbor.begin(), cbor.end());
}

FoldResult fold_from_bytes(const std::string& bytes) {
  json j;
  try {
    j = json::from_cbor(bytes);
  } catch (const json::exception& e) {
    throw Error(std::string("a rank sent a fold result that is not CBOR: ") + e.what());
  }
  FoldResult f;
  f.index = j.at("index"), f.repeat = j.at("repeat"), f.fold = j.at("fold"), f.seed = j.at("seed");
  f.train_size = j.at("train_size"), f.val_size = j.at("val_size"), f.test_size = j.at("test_size");
  f.val_indices = j.at("val_indices").get<std::vector<int64_t>>();
  f.accuracy = j.at("accuracy"), f.macro_f1 = j.at("macro_f1"), f.loss = j.at("loss");
  const int64_t k = j.at("classes");
  const std::vector<int64_t> counts = j.at("confusion").get<std::vector<int64_t>>();
  MINIDL_CHECK(int64_t(counts.size()) == k * k, "a fold result's confusion matrix has ", counts.size(), " counts for ",
               k, " classes");
  f.confusion = ConfusionMatrix(k);
  for (int64_t t = 0; t < k; ++t)
    for (int64_t p = 0; p < k; ++p)
      if (counts[size_t(t * k + p)]) f.confusion.add(t, p, counts[size_t(t * k + p)]);
  f.epochs_run = j.at("epochs_run"), f.best_epoch = j.at("best_epoch"), f.stopped_early = j.at("stopped_early");
  f.best_val_accuracy = j.at("best_val_accuracy");
  f.measurements = j.at("measurements").get<std::map<std::string, double>>();
  f.preprocessing = j.at("preprocessing"), f.threads = j.at("threads"), f.seconds = j.at("seconds");
  f.fit_seconds = j.at("fit_seconds"), f.score_seconds = j.at("score_seconds");
  f.train_accuracy = j.at("train_accuracy"), f.train_macro_f1 = j.at("train_macro_f1"), f.train_loss = j.at("train_loss");
  return f;
}

void exchange_folds(CVResult& res, const std::vector<int>& finished, const std::string& error, Communicator& group) {
  // A rank's message: its error ("" for none), then one CBOR record per finished fold.
  std::vector<std::string> mine{error};
  for (int i : finished) mine.push_back(fold_bytes(res.folds[size_t(i)]));
  const std::vector<std::string> all = allgather(group, pack_strings(mine));
  std::string errors;
  for (size_t r = 0; r < all.size(); ++r) {
    const std::vector<std::string> parts = unpack_strings(all[r]);
    MINIDL_CHECK(!parts.empty(), "rank ", r, " sent an empty message");
    if (!parts[0].empty()) errors += (errors.empty() ? "" : "; ") + ("rank " + std::to_string(r) + ": ") + parts[0];
    for (size_t p = 1; p < parts.size(); ++p) {
      FoldResult f = fold_from_bytes(parts[p]);
      MINIDL_CHECK(f.index >= 0 && size_t(f.index) < res.folds.size(), "rank ", r, " sent fold ", f.index, " of ",
                   res.folds.size());
      res.folds[size_t(f.index)] = std::move(f);
    }
  }
  if (!errors.empty()) throw CollectiveError(errors);
}

void exchange_units(StudyResult& res, const std::vector<std::pair<int, int>>& finished, const std::string& error,
                    Communicator& group) {
  // A rank's message: its error, "trained resumed", then "<recipe>" and the unit's
  // JSON (validate/study.h's run_json: doubles in round-trip precision) per unit.
  std::vector<std::string> mine{error, std::to_string(res.trained) + " " + std::to_string(res.resumed)};
  for (const auto& [k, i] : finished) {
    mine.push_back(std::to_string(k));
    mine.push_back(run_json(k < 0 ? res.dense[size_t(i)] : res.runs[size_t(k)][size_t(i)]));
  }
  const std::vector<std::string> all = allgather(group, pack_strings(mine));
  std::string errors;
  res.trained = res.resumed = 0;
  for (size_t r = 0; r < all.size(); ++r) {
    const std::vector<std::string> parts = unpack_strings(all[r]);
    MINIDL_CHECK(parts.size() >= 2 && parts.size() % 2 == 0, "rank ", r, " sent a malformed study message");
    if (!parts[0].empty()) errors += (errors.empty() ? "" : "; ") + ("rank " + std::to_string(r) + ": ") + parts[0];
    int trained = 0, resumed = 0;
    std::sscanf(parts[1].c_str(), "%d %d", &trained, &resumed);
    res.trained += trained, res.resumed += resumed;
    for (size_t p = 2; p < parts.size(); p += 2) {
      const int k = std::stoi(parts[p]);
      RunResult u = run_from_json(parts[p + 1], "rank " + std::to_string(r) + "'s result");
      MINIDL_CHECK(k >= -1 && k < int(res.runs.size()) && u.index >= 0 && size_t(u.index) < res.dense.size(), "rank ",
                   r, " sent unit (", k, ", ", u.index, ") outside the study");
      (k < 0 ? res.dense[size_t(u.index)] : res.runs[size_t(k)][size_t(u.index)]) = std::move(u);
    }
  }
  if (!errors.empty()) throw CollectiveError(errors);
}

}  // namespace minidl::validate
