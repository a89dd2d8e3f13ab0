// Typed settings of a model (Architecture) and of a training run (TrainSettings): their
// bounds, checks, equality and the one JSON form each has in a checkpoint.
//
// The library checks its own invariants here (validate), so a library caller gets the same
// clear UsageError as a user of the command line; the CLI's range checks use the same
// bounds. Resuming compares typed values (operator==, first_difference), not JSON text.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "ebm/model.h"
#include "ebm/training.h"

namespace ebm {

// Bounds of the architecture's sizes, shared by the CLI, validate() and the checkpoint
// reader (a checkpoint outside them is refused before anything is allocated).
struct ArchitectureBounds {
  static constexpr int kMaxXDim = 1 << 20;
  static constexpr int kMaxYDim = 1024;
  static constexpr int kMaxHidden = 1 << 16;
  static constexpr int kMaxLayers = 64;          // x_layers, y_layers (at least 1)
  static constexpr int kMaxResidualBlocks = 64;  // at least 0
  static constexpr int kMaxComponents = 4096;
  // The periodic x-embedding: K frequencies and d values per feature, and the scale of
  // the initial frequencies (standardised units, > 0). With x_dim <= 2^20 the widths
  // x_dim * 2K and x_dim * d stay below 2^30.
  static constexpr int kMaxEmbeddingFrequencies = 256;
  static constexpr int kMaxEmbeddingDim = 256;
  static constexpr double kMaxEmbeddingSigma = 100.0;
};
// At most this many gmm noise components (--gmm-sigmas).
constexpr std::size_t kMaxGmmComponents = 64;
// At most this many Langevin steps per ml-mcmc chain (--mcmc-steps).
constexpr int kMaxMcmcSteps = 10000;

// The embedding's sizes count only when there is an embedding.
bool operator==(const Architecture& a, const Architecture& b);
inline bool operator!=(const Architecture& a, const Architecture& b) { return !(a == b); }
// Throws UsageError naming the first size outside its bounds.
void validate(const Architecture& architecture);
// The embedding's keys are written only when there is one, so a model without it has the
// same JSON form as before the embedding existed.
nlohmann::ordered_json to_json(const Architecture& architecture);
// The "architecture" object of a checkpoint; `source` names the file in DataErrors. An
// object without "x_embedding" (an older checkpoint) reads as none.
Architecture architecture_from_json(const nlohmann::ordered_json& object, const std::string& source);

// Throws UsageError (worded with the command-line option) for a value no run can use.
void validate(const TrainSettings& settings);
// Name (the checkpoint's key) of the first setting that differs between a and b, or ""
// if they would train the same way. The thread count is not compared: it never changes
// a result.
std::string first_difference(const TrainSettings& a, const TrainSettings& b);
inline bool operator==(const TrainSettings& a, const TrainSettings& b) { return first_difference(a, b).empty(); }
inline bool operator!=(const TrainSettings& a, const TrainSettings& b) { return !(a == b); }

// What a checkpoint records about a run beside its settings.
struct TrainingFacts {
  std::string data;        // the data file ("<stdin>" for standard input)
  std::size_t rows = 0;    // training rows
  int epochs = 0;          // epochs planned (settings.epochs, or the automatic choice)
  std::string valid_path;  // validation file, if any
  std::size_t valid_rows = 0;
  std::string config;      // the effective options in --config format ("" = none)
  std::string weight;      // the --weight column ("" = unweighted; not recorded then)
  std::string init_model;  // the --init-model checkpoint ("" = none; not recorded then)
};

// The checkpoint's "training" object: the settings and the facts, in one fixed order.
nlohmann::ordered_json training_record(const TrainSettings& settings, const TrainingFacts& facts);
// The settings back from a "training" object (threads stay at their default). Throws
// DataError naming the missing or malformed key.
TrainSettings train_settings_from_record(const nlohmann::ordered_json& training, const std::string& source);

}  // namespace ebm
