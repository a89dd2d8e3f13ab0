#include "ebm/progress.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "ebm/csv.h"

namespace ebm {

RowProgress::RowProgress(std::ostream* out) : out_(out), start_(std::chrono::steady_clock::now()), last_(start_) {}

RowProgress::~RowProgress() {
  if (out_ != nullptr && drawn_) *out_ << "\r\033[K" << std::flush;
}

void RowProgress::update(std::size_t rows) {
  if (out_ == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(250)) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  *out_ << "\r\033[K" << rows << " rows, " << static_cast<long>(static_cast<double>(rows) / std::max(seconds, 1e-9))
        << " rows/s" << std::flush;
  drawn_ = true;
}

TrainProgress::TrainProgress(std::ostream* log, int verbosity, bool bar, int first_epoch, int total_epochs,
                             double log_jacobian)
    : log_(verbosity >= 1 ? log : nullptr),
      verbosity_(verbosity),
      bar_(bar && log != nullptr && verbosity >= 1),
      first_epoch_(first_epoch),
      total_epochs_(total_epochs),
      current_epoch_(first_epoch),
      log_jacobian_(log_jacobian),
      start_(std::chrono::steady_clock::now()) {}

double TrainProgress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void TrainProgress::clear_bar() {
  if (bar_) *log_ << "\r\033[K";
}

void TrainProgress::epoch_done(const EpochRecord& r, int best_epoch) {
  std::ostringstream figures;
  figures << std::fixed << std::setprecision(4) << "loss " << r.train_loss;
  if (std::isfinite(r.valid_nll)) figures << "  valid_nll " << r.valid_nll + log_jacobian_;
  last_figures_ = figures.str();
  if (log_ == nullptr || verbosity_ < 2) return;
  clear_bar();
  std::ostringstream line;
  line << "epoch " << std::setw(3) << r.epoch << "/" << total_epochs_ << std::fixed << std::setprecision(4)
       << "  loss " << r.train_loss << "  proposal_nll " << r.train_proposal_nll + log_jacobian_;
  if (std::isfinite(r.valid_nll)) {
    line << "  valid_nll " << r.valid_nll + log_jacobian_ << "  valid_proposal_nll "
         << r.valid_proposal_nll + log_jacobian_;
    if (std::isfinite(r.valid_temperature)) {
      line << "  tempered " << r.valid_score + log_jacobian_ << std::setprecision(3) << " (T " << r.valid_temperature
           << ")" << std::setprecision(4);
    }
  }
  line << std::setprecision(2) << "  " << r.seconds << "s";
  if (r.epoch == best_epoch && std::isfinite(r.valid_nll)) line << "  *";
  *log_ << line.str() << "\n" << std::flush;
}

void TrainProgress::batch_done(int batch, int batches) {
  if (!bar_ || (batch != batches && batch % 4 != 0)) return;
  const int width = 24;
  const double done = (current_epoch_ - first_epoch_) + static_cast<double>(batch) / batches;
  const double left = total_epochs_ - first_epoch_ + 1 - done;
  const double eta = done > 0 ? seconds() / done * left : 0;
  const int filled = static_cast<int>(width * static_cast<double>(batch) / batches);
  *log_ << "\r\033[Kepoch " << current_epoch_ << "/" << total_epochs_ << " [" << std::string(filled, '#')
        << std::string(width - filled, '.') << "] " << last_figures_ << "  ~" << static_cast<long>(eta + 0.5)
        << "s left" << std::flush;
  if (batch == batches) ++current_epoch_;
}

void TrainProgress::summary(const TrainingState& st, bool stopped_early, const CalibrationSummary& cal) const {
  if (log_ == nullptr) return;
  std::ostringstream line;
  line << "trained " << st.history.size() << " epochs in " << std::fixed << std::setprecision(1) << seconds() << "s"
       << (stopped_early ? " (early stop)" : "") << "; best epoch " << st.best_epoch;
  for (const EpochRecord& r : st.history) {
    if (r.epoch != st.best_epoch) continue;
    line << std::setprecision(4) << ": train loss " << r.train_loss << ", train proposal NLL "
         << r.train_proposal_nll + log_jacobian_;
    if (std::isfinite(r.valid_nll)) line << ", valid NLL " << r.valid_nll + log_jacobian_;
    if (std::isfinite(r.valid_temperature)) {
      line << " (" << r.valid_score + log_jacobian_ << " at T " << std::setprecision(3) << r.valid_temperature << ")";
    }
  }
  line << "\n";
  // The training-time valid NLL above and calibration's come from different draws (and
  // the widened proposal), so only calibration's own before/after pair is compared.
  if (std::isfinite(cal.nll_after)) {
    line << "calibration: temperature " << format_number(cal.temperature, 4) << ", proposal width x"
         << format_number(cal.proposal_scale, 4) << ": valid NLL " << cal.nll_before + log_jacobian_
         << " at T = 1 -> " << cal.nll_after + log_jacobian_ << "\n";
  }
  *log_ << line.str();
}

}  // namespace ebm
