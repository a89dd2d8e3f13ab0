// libFuzzer target: the checkpoint loader on arbitrary bytes.
//
// Malformed input must end in ebm::DataError or a nlohmann::json exception (which
// load_checkpoint turns into a DataError); any other exception escapes and is reported
// by libFuzzer as a crash, as is a sanitizer report, an allocation above -malloc_limit_mb
// or a broken invariant (__builtin_trap):
//   * a checkpoint that loads has one name per feature and target, normalisation
//     vectors of the right sizes with positive scales, and exactly the architecture's
//     parameter count, all finite (also in the resume block);
//   * loading with and without the resume block gives the same model;
//   * writing it with checkpoint_to_json and loading that gives the same values, bit
//     for bit;
//   * the model evaluates (x-branch, energies, proposal) without a sanitizer report.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "ebm/checkpoint.h"
#include "ebm/errors.h"
#include "ebm/model.h"

namespace {

bool same_floats(const ebm::ParamVector& a, const ebm::ParamVector& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

bool all_finite(const ebm::ParamVector& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

void check_loaded(const ebm::Checkpoint& c) {
  const ebm::Architecture& a = c.architecture;
  const ebm::EnergyModel model(a);
  if (static_cast<int>(c.features.size()) != a.x_dim || static_cast<int>(c.targets.size()) != a.y_dim ||
      c.x_scaler.size() != a.x_dim || static_cast<int>(c.x_scaler.scale.size()) != a.x_dim ||
      c.y_scaler.size() != a.y_dim || static_cast<int>(c.y_scaler.scale.size()) != a.y_dim ||
      c.params.size() != model.parameter_count() || !all_finite(c.params)) {
    __builtin_trap();
  }
  for (const auto* s : {&c.x_scaler, &c.y_scaler}) {
    for (std::size_t i = 0; i < s->mean.size(); ++i) {
      if (!std::isfinite(s->mean[i]) || !(s->scale[i] > 0) || !std::isfinite(s->scale[i])) __builtin_trap();
    }
  }
  if (c.resume) {
    const ebm::TrainingState& r = *c.resume;
    for (const auto* v : {&r.params, &r.adam_m, &r.adam_v, &r.best_params}) {
      if (v->size() != c.params.size() || !all_finite(*v)) __builtin_trap();
    }
    if (r.history.size() != static_cast<std::size_t>(r.epochs_done)) __builtin_trap();
  }
}

// Energies of a few candidates and the proposal for one all-zero row. Small models only,
// to keep the fuzzer fast; check_loaded covers every size.
void evaluate(const ebm::Checkpoint& c) {
  const ebm::Architecture& a = c.architecture;
  const ebm::EnergyModel model(a);
  if (model.parameter_count() > 20000 || a.x_dim > 64 || a.y_dim > 16) return;
  const ebm::Matrix<float> x = ebm::Matrix<float>::Zero(a.x_dim, 1);
  const ebm::Matrix<float> hx = model.x_features(c.params.data(), x);
  const int candidates = 3;
  const ebm::Matrix<float> y = ebm::Matrix<float>::Zero(a.y_dim, candidates);
  const ebm::RowVector<float> f = model.energy(c.params.data(), hx, y, candidates);
  if (f.size() != candidates) __builtin_trap();
  ebm::MdnOutput<float> proposal;
  model.proposal(c.params.data(), hx, proposal, nullptr);
  if (proposal.examples() != 1) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::ordered_json json;
  try {
    json = nlohmann::ordered_json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  ebm::Checkpoint with_resume, without_resume;
  try {
    with_resume = ebm::checkpoint_from_json(json, "fuzz.json", /*with_resume_state=*/true);
  } catch (const ebm::DataError&) {
    return 0;
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  // What loads with the resume block also loads without it, to the same model.
  without_resume = ebm::checkpoint_from_json(json, "fuzz.json", /*with_resume_state=*/false);
  check_loaded(with_resume);
  check_loaded(without_resume);
  if (without_resume.resume || !same_floats(with_resume.params, without_resume.params) ||
      with_resume.features != without_resume.features || with_resume.targets != without_resume.targets) {
    __builtin_trap();
  }

  // Round trip through the writer. checkpoint_to_json refuses only non-finite values,
  // which check_loaded has ruled out.
  const nlohmann::ordered_json written = ebm::checkpoint_to_json(with_resume);
  const ebm::Checkpoint again =
      ebm::checkpoint_from_json(nlohmann::ordered_json::parse(written.dump()), "again.json", true);
  if (again.features != with_resume.features || again.targets != with_resume.targets ||
      again.x_scaler.mean != with_resume.x_scaler.mean || again.x_scaler.scale != with_resume.x_scaler.scale ||
      again.y_scaler.mean != with_resume.y_scaler.mean || again.y_scaler.scale != with_resume.y_scaler.scale ||
      !same_floats(again.params, with_resume.params) || again.resume.has_value() != with_resume.resume.has_value()) {
    __builtin_trap();
  }
  if (again.resume) {
    const ebm::TrainingState &r1 = *with_resume.resume, &r2 = *again.resume;
    if (!same_floats(r1.params, r2.params) || !same_floats(r1.adam_m, r2.adam_m) ||
        !same_floats(r1.adam_v, r2.adam_v) || !same_floats(r1.best_params, r2.best_params) ||
        r1.epochs_done != r2.epochs_done || r1.adam_steps != r2.adam_steps || r1.best_epoch != r2.best_epoch ||
        r1.epochs_since_best != r2.epochs_since_best || r1.history.size() != r2.history.size()) {
      __builtin_trap();
    }
  }
  evaluate(with_resume);
  return 0;
}
