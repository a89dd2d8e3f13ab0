// JSON checkpoints: everything needed to predict and sample without the training data.
// Format documented in docs/checkpoint.md. Written atomically (temporary file + rename).
#pragma once

#include <cstdint>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ebm/ensemble.h"
#include "ebm/feature_encoding.h"
#include "ebm/inference.h"
#include "ebm/lattice.h"
#include "ebm/model.h"
#include "ebm/standardizer.h"
#include "ebm/training.h"

namespace ebm {

constexpr const char* kCheckpointFormat = "ebm-checkpoint";
// The newest version read and written. A file is written with the lowest version that
// holds it (checkpoint_format_version): 2, 3 for a relative energy, 4 for an ensemble whose
// members differ in architecture or weight.
constexpr int kCheckpointVersion = 4;
constexpr int kRelativeEnergyVersion = 3;
constexpr int kMixedEnsembleVersion = 4;
// Limits of the checkpoint reader, checked before the JSON is parsed, so that a hostile
// file cannot exhaust memory: the file size, the longest string (names, the recorded
// configuration) and the nesting depth (a checkpoint nests 5 deep).
constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t{1} << 31;
constexpr std::size_t kMaxCheckpointStringBytes = std::size_t{1} << 20;
constexpr int kMaxCheckpointDepth = 32;
constexpr int kOldestCheckpointVersion = 1;  // still read: no "support", densities normalised by SNIS

struct Checkpoint;
// The format_version a checkpoint is written with: 1 for a model without support (loaded
// from a version 1 file), 4 for members of other architectures or unequal weights, 3 for
// a relative energy (older readers would ignore either and report wrong densities), else 2.
int checkpoint_format_version(const Checkpoint& c);

// Members 2..N of an ensemble (docs/maths.md §8c): their own parameters (each member's
// calibrated temperature and proposal width are baked into them) and training results.
// The keys of `results` written by an ensemble's calibration (maths.md §8c): the shared
// temperature, the mixture's validation NLL before and after it, and the weight fitted
// for the members of the other x-embedding (an x-embedding mix only).
inline constexpr const char* kEnsembleCalibrationKeys[] = {"ensemble_temperature", "ensemble_valid_nll",
                                                           "ensemble_valid_nll_calibrated", "ensemble_other_weight"};

// `architecture`: this member's own (version 4), when it differs from the checkpoint's
// (an x-embedding mix, maths.md §8c); otherwise the checkpoint's.
struct EnsembleMember {
  ParamVector params;
  nlohmann::ordered_json results = nlohmann::ordered_json::object();
  std::optional<Architecture> architecture;
};

struct Checkpoint {
  std::vector<std::string> features, targets;
  Standardizer x_scaler, y_scaler;  // x_scaler: one entry per feature (mean 0, scale 1 for a categorical one)
  // How each feature becomes network inputs (feature_encoding.h); empty = the plain
  // encoding (all numeric, no missing-value indicator), and then x_dim = features.size().
  FeatureEncodings feature_encoding;
  // Support of p(y|x) per target in the user's units (version 2): the training range of y
  // widened by half of it on each side. Empty for a version 1 checkpoint.
  std::vector<double> y_support_lo, y_support_hi;
  // Range [x_lo, x_hi] of each feature over the training rows, user's units ("x_range",
  // optional): predictions outside it are flagged. Empty when the checkpoint has none
  // (written before the field existed): no range check.
  std::vector<double> x_lo, x_hi;
  // Lattice of each target (version 2; lattice.h): step 0 = continuous. User's units.
  std::vector<Lattice> y_lattice;
  Architecture architecture;
  ParamVector params;                  // member 1 (the only one of a single model)
  std::vector<EnsembleMember> more_members;  // members 2..N of an ensemble ("ensemble" in the JSON)
  // The mixture weights of members 1..N (version 4, "ensemble_weights"): non-negative, sum
  // 1. Empty = equal weights 1/N.
  std::vector<double> member_weights;
  nlohmann::ordered_json training = nlohmann::ordered_json::object();  // options used
  nlohmann::ordered_json results = nlohmann::ordered_json::object();   // final figures, history
  std::optional<TrainingState> resume;  // present in --checkpoint-every / interrupted checkpoints
  // Hash of the training values (resume.data_fingerprint, written with `resume`): --resume
  // refuses other data even with the same means and spreads. Empty in older checkpoints.
  std::string data_fingerprint;
};

// The support in standardised units of y (empty for a version 1 checkpoint).
TargetSupport standardised_support(const Checkpoint& checkpoint);
// The support for targets whose training values span [y_min, y_max] per dimension: half
// the range on each side, at least one standard deviation (needs y_scaler).
void set_support_from_range(Checkpoint& checkpoint, const std::vector<double>& y_min, const std::vector<double>& y_max);

// How many features of one row (user's units) lie outside the training range (0 when the
// checkpoint records no range).
int features_outside_training(const Checkpoint& checkpoint, const double* x);

// --on-lattice: target d's value `y` (user's units) as the nearest point of its lattice,
// or y itself for a continuous target. For a quantile this is exactly the quantile of the
// lattice distribution whose cell probabilities are the density's masses over the cells
// (the cell of the lattice point k, [k - step/2, k + step/2), holds the continuous
// quantile), and for a draw it is a draw of that distribution.
double snap_to_lattice(const Checkpoint& checkpoint, int d, double y);
// Throws DataError "SOURCE: --on-lattice: ..." unless some target has a lattice.
void require_lattice_target(const Checkpoint& checkpoint, const std::string& source);

// The parameters of every member, member 1 first.
std::vector<ParamVector> member_parameters(const Checkpoint& checkpoint);
// Every member, member 1 first, with its model and mixture weight:
// p(y|x) = sum_n w_n p_n(y|x) (w_n = 1/N unless member_weights says otherwise).
std::vector<Member> ensemble_members(const Checkpoint& checkpoint);
// Member n's architecture (0-based: 0 is the top-level one).
const Architecture& member_architecture(const Checkpoint& checkpoint, std::size_t n);

// What keeps two checkpoints from being members of one ensemble ("" if nothing): they must
// share columns, normalisation, support and lattice (architectures and training options may
// differ). Names the first difference, e.g. "normalization (y_mean)".
std::string ensemble_incompatibility(const Checkpoint& a, const Checkpoint& b);
// One ensemble holding every member of `parts` in order (the first part's training record
// and results stay at the top; training state for --resume is dropped). Each part weighs
// in proportion to its number of members, its own weights kept within it (equal parts
// give equal weights). Throws DataError
// naming the source and what differs when a part is incompatible with the first.
Checkpoint merge_checkpoints(const std::vector<Checkpoint>& parts, const std::vector<std::string>& sources);

nlohmann::ordered_json checkpoint_to_json(const Checkpoint& checkpoint);
// `source` names the file in error messages. Validates format, version, required keys,
// shapes and finiteness; throws DataError "SOURCE: ..." naming the offending field.
// The "resume" block (optimiser state, ~4x the size of the weights) is read and checked
// only when with_resume_state is set; prediction and sampling ignore it.
Checkpoint checkpoint_from_json(const nlohmann::ordered_json& json, const std::string& source,
                                bool with_resume_state = false);

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);
Checkpoint load_checkpoint(const std::string& path, bool with_resume_state = false);

}  // namespace ebm
