// minidl/validate/deal.h — dealing cross-validation folds and study units to
// the ranks of a distributed run, and bringing their results back to every rank.
//
//   mpirun -np 2 build/examples/kfold --folds 5 ...   // rank 0: folds 0, 2, 4; rank 1: folds 1, 3
//
// Schedule: static round-robin, fold i to rank i mod N (each rank then runs
// its folds on its own --jobs threads). Why static and not a dynamic queue
// served by rank 0:
//  - a fold's result depends only on its seed and data, never on where or
//    when it ran, so any schedule gives the same bits and the choice is about
//    speed and failure behaviour alone;
//  - folds cost the same (equal-sized parts, the same recipes), so a static
//    deal is balanced whenever N divides the number of folds (5 folds on 2
//    ranks: 3 against 2, the price of the simple scheme);
//  - no messages until the end: a rank that fails or is slow blocks nobody
//    while the others finish their folds and keep their results;
//  - in a study a fold's dense model must precede its recipes and is the
//    dearest unit, so dealing whole folds keeps it (and its checkpoint) on
//    one machine, and a restart with the same N deals every fold to the same
//    rank again, so resuming works even when each machine has its own disk.
// At the end each rank packs its results (and its error, if one of its folds
// failed: which fold and why) and they are gathered to rank 0 and broadcast
// back, so every rank returns the same complete result, or throws the same
// CollectiveError naming every failure.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "validate/cross_validate.h"
#include "validate/study.h"

namespace minidl::validate {

// The jobs 0 .. n−1 that `rank` of `world_size` runs: those ≡ rank (mod world_size).
std::vector<int> dealt_jobs(int n, int rank, int world_size);

// The message of a caught exception ("" for none): what a rank reports.
std::string error_text(const std::exception_ptr& error);

// A FoldResult as bytes and back, every double bit for bit (CBOR).
std::string fold_bytes(const FoldResult& f);
FoldResult fold_from_bytes(const std::string& bytes);

// Puts every rank's finished folds (`finished`: the indices of res.folds this
// rank completed) into res.folds on every rank, or throws the CollectiveError of
// all ranks' errors (`error`: this rank's, "" for none).
void exchange_folds(CVResult& res, const std::vector<int>& finished, const std::string& error, Communicator& group);

// The same for a study: `finished` lists the (recipe, fold) units this rank
// completed or loaded (recipe −1: the fold's dense model), which go into
// res.dense / res.runs on every rank; res.trained and res.resumed become the
// sums over ranks.
void exchange_units(StudyResult& res, const std::vector<std::pair<int, int>>& finished, const std::string& error,
                    Communicator& group);

}  // namespace minidl::validate
