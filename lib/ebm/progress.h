// What the tools show on a terminal while they work: ebm-train's per-epoch lines, progress
// bar and final summary; ebm-predict's and ebm-sample's rows and rows/s. Nothing here
// changes a result.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <iosfwd>
#include <string>

#include "ebm/training.h"

namespace ebm {

// "12,345 rows, 48,000 rows/s" on a terminal, redrawn at most four times a second and
// cleared at the end, so that a long prediction shows it is alive.
class RowProgress {
 public:
  explicit RowProgress(std::ostream* out);
  ~RowProgress();
  RowProgress(const RowProgress&) = delete;
  RowProgress& operator=(const RowProgress&) = delete;
  void update(std::size_t rows);

 private:
  std::ostream* out_;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

// What calibration did, for the summary: the validation NLLs at T = 1 and at T come from
// one estimate (standardised units; NaN when not calibrated).
struct CalibrationSummary {
  double temperature = 1, proposal_scale = 1;
  double nll_before = NAN, nll_after = NAN;
};

// ebm-train's log: with verbosity >= 2 one line per epoch, with a progress bar a line
// redrawn every four batches (epoch, bar, last loss and validation NLL, time left), and the
// final summary. NLLs are shown in the user's units (standardised + log_jacobian).
class TrainProgress {
 public:
  TrainProgress(std::ostream* log, int verbosity, bool bar, int first_epoch, int total_epochs, double log_jacobian);

  void epoch_done(const EpochRecord& record, int best_epoch);
  void batch_done(int batch, int batches);
  void clear_bar();  // erases the bar before other output
  double seconds() const;
  // "trained N epochs in S s ...; best epoch B: train loss ..., valid NLL ..." and, when
  // calibrated, "calibration: temperature T, proposal width xS: valid NLL A at T = 1 -> B"
  void summary(const TrainingState& state, bool stopped_early, const CalibrationSummary& calibration) const;

 private:
  std::ostream* log_;
  int verbosity_;
  bool bar_;
  int first_epoch_, total_epochs_, current_epoch_;
  double log_jacobian_;
  std::string last_figures_;  // loss / validation NLL of the last epoch, for the bar
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ebm
