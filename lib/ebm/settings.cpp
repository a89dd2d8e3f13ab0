#include "ebm/settings.h"

#include <utility>
#include <vector>

#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/json_reader.h"

namespace ebm {

namespace {

void check_range(const char* option, long value, long low, long high) {
  if (value < low || value > high) {
    throw UsageError(std::string(option) + " must be in [" + std::to_string(low) + ", " + std::to_string(high) +
                     "], found " + std::to_string(value));
  }
}

}  // namespace

// The names of the methods and noises, as the CLI and the checkpoint spell them (declared
// in training.h; defined here, with the rest of the settings' text forms).
std::string objective_name(Objective objective) {
  switch (objective) {
    case Objective::nce: return "nce";
    case Objective::nce_plus: return "nce+";
    case Objective::ml_is: return "ml-is";
    case Objective::kld_is: return "kld-is";
    case Objective::ml_mcmc: return "ml-mcmc";
    case Objective::dsm: return "dsm";
    case Objective::sm: return "sm";
  }
  return "nce";
}

Objective objective_from_name(const std::string& name) {
  if (name == "nce") return Objective::nce;
  if (name == "nce+") return Objective::nce_plus;
  if (name == "ml-is") return Objective::ml_is;
  if (name == "kld-is") return Objective::kld_is;
  if (name == "ml-mcmc") return Objective::ml_mcmc;
  if (name == "dsm") return Objective::dsm;
  if (name == "sm") return Objective::sm;
  throw UsageError("unknown method '" + name + "' (expected ml-is, kld-is, ml-mcmc, nce, nce+, dsm or sm)");
}

std::string noise_name(NoiseKind noise) { return noise == NoiseKind::learned ? "learned" : "gmm"; }

std::string energy_form_name(EnergyForm form) { return form == EnergyForm::relative ? "relative" : "absolute"; }

EnergyForm energy_form_from_name(const std::string& name) {
  if (name == "absolute") return EnergyForm::absolute;
  if (name == "relative") return EnergyForm::relative;
  throw UsageError("unknown energy form '" + name + "' (expected absolute or relative)");
}

NoiseKind noise_from_name(const std::string& name) {
  if (name == "learned") return NoiseKind::learned;
  if (name == "gmm") return NoiseKind::gmm;
  throw UsageError("unknown noise '" + name + "' (expected learned or gmm)");
}

bool operator==(const Architecture& a, const Architecture& b) {
  return a.x_dim == b.x_dim && a.y_dim == b.y_dim && a.hidden == b.hidden && a.x_layers == b.x_layers &&
         a.y_layers == b.y_layers && a.residual_blocks == b.residual_blocks && a.components == b.components &&
         a.activation == b.activation && a.x_embedding == b.x_embedding && a.energy_form == b.energy_form &&
         (a.x_embedding == XEmbedding::none ||
          (a.embedding_frequencies == b.embedding_frequencies && a.embedding_dim == b.embedding_dim &&
           a.embedding_sigma == b.embedding_sigma));
}

void validate(const Architecture& a) {
  using B = ArchitectureBounds;
  check_range("the number of features", a.x_dim, 1, B::kMaxXDim);
  check_range("the number of targets", a.y_dim, 1, B::kMaxYDim);
  check_range("--hidden", a.hidden, 1, B::kMaxHidden);
  check_range("--x-layers", a.x_layers, 1, B::kMaxLayers);
  check_range("--y-layers", a.y_layers, 1, B::kMaxLayers);
  check_range("--residual-blocks", a.residual_blocks, 0, B::kMaxResidualBlocks);
  check_range("--components", a.components, 1, B::kMaxComponents);
  if (a.x_embedding == XEmbedding::none) return;
  check_range("--embedding-frequencies", a.embedding_frequencies, 1, B::kMaxEmbeddingFrequencies);
  check_range("--embedding-dim", a.embedding_dim, 1, B::kMaxEmbeddingDim);
  if (!(a.embedding_sigma > 0 && a.embedding_sigma <= B::kMaxEmbeddingSigma)) {
    throw UsageError("--embedding-sigma must be in (0, " + format_number(B::kMaxEmbeddingSigma) + "]");
  }
}

nlohmann::ordered_json to_json(const Architecture& a) {
  nlohmann::ordered_json object = {{"x_dim", a.x_dim},
                                   {"y_dim", a.y_dim},
                                   {"hidden", a.hidden},
                                   {"x_layers", a.x_layers},
                                   {"y_layers", a.y_layers},
                                   {"residual_blocks", a.residual_blocks},
                                   {"components", a.components},
                                   {"activation", activation_name(a.activation)}};
  if (a.x_embedding != XEmbedding::none) {
    object["x_embedding"] = x_embedding_name(a.x_embedding);
    object["embedding_frequencies"] = a.embedding_frequencies;
    object["embedding_dim"] = a.embedding_dim;
    object["embedding_sigma"] = a.embedding_sigma;
  }
  // Written only when relative, so that every other checkpoint is unchanged.
  if (a.energy_form != EnergyForm::absolute) object["energy_form"] = energy_form_name(a.energy_form);
  return object;
}

namespace {

// The embedding's keys of an "architecture" object; absent "x_embedding" = none.
void read_embedding(const JsonReader& r, const nlohmann::ordered_json& arch, Architecture& a) {
  using B = ArchitectureBounds;
  const char* path = "architecture";
  if (!arch.contains("x_embedding")) return;
  const std::string name = r.string(arch, "x_embedding", path);
  try {
    a.x_embedding = x_embedding_from_name(name);
  } catch (const Error&) {
    r.fail("'architecture.x_embedding' is '" + name + "', expected none or periodic");
  }
  if (a.x_embedding == XEmbedding::none) return;
  a.embedding_frequencies =
      static_cast<int>(r.integer(arch, "embedding_frequencies", path, 1, B::kMaxEmbeddingFrequencies));
  a.embedding_dim = static_cast<int>(r.integer(arch, "embedding_dim", path, 1, B::kMaxEmbeddingDim));
  const auto& sigma = r.at(arch, "embedding_sigma", path);
  if (!sigma.is_number() || !(sigma.get<double>() > 0 && sigma.get<double>() <= B::kMaxEmbeddingSigma)) {
    r.fail("'architecture.embedding_sigma' must be a number in (0, " + format_number(B::kMaxEmbeddingSigma) + "]");
  }
  a.embedding_sigma = sigma.get<double>();
}

}  // namespace

Architecture architecture_from_json(const nlohmann::ordered_json& arch, const std::string& source) {
  using B = ArchitectureBounds;
  const JsonReader r(arch, source);
  const char* path = "architecture";
  Architecture a;
  a.x_dim = static_cast<int>(r.integer(arch, "x_dim", path, 1, B::kMaxXDim));
  a.y_dim = static_cast<int>(r.integer(arch, "y_dim", path, 1, B::kMaxYDim));
  a.hidden = static_cast<int>(r.integer(arch, "hidden", path, 1, B::kMaxHidden));
  a.x_layers = static_cast<int>(r.integer(arch, "x_layers", path, 1, B::kMaxLayers));
  a.y_layers = static_cast<int>(r.integer(arch, "y_layers", path, 1, B::kMaxLayers));
  a.residual_blocks = static_cast<int>(r.integer(arch, "residual_blocks", path, 0, B::kMaxResidualBlocks));
  a.components = static_cast<int>(r.integer(arch, "components", path, 1, B::kMaxComponents));
  const std::string activation = r.string(arch, "activation", path);
  try {
    a.activation = activation_from_name(activation);
  } catch (const Error&) {
    r.fail("'architecture.activation' is '" + activation + "', expected relu, tanh or silu");
  }
  read_embedding(r, arch, a);
  if (arch.contains("energy_form")) {
    const std::string form = r.string(arch, "energy_form", path);
    try {
      a.energy_form = energy_form_from_name(form);
    } catch (const Error&) {
      r.fail("'architecture.energy_form' is '" + form + "', expected absolute or relative");
    }
  }
  return a;
}

void validate(const TrainSettings& s) {
  if (s.gmm_sigmas.empty()) throw UsageError("--gmm-sigmas: expected at least one number");
  for (double sigma : s.gmm_sigmas) {
    if (!(sigma > 0)) throw UsageError("--gmm-sigmas: every sigma must be positive");
  }
  if (s.gmm_sigmas.size() > kMaxGmmComponents) {
    throw UsageError("--gmm-sigmas: at most " + std::to_string(kMaxGmmComponents) + " components");
  }
  if (!(s.nce_plus_beta > 0)) throw UsageError("--nce-plus-beta must be positive");
  if (!(s.label_sigma > 0)) throw UsageError("--label-sigma must be positive");
  if (s.mcmc_steps < 1 || s.mcmc_steps > kMaxMcmcSteps) {
    throw UsageError("--mcmc-steps must be in [1, " + std::to_string(kMaxMcmcSteps) + "]");
  }
  if (!(s.mcmc_step_size > 0)) throw UsageError("--mcmc-step-size must be positive");
  if (!(s.dsm_sigma > 0)) throw UsageError("--dsm-sigma must be positive");
  if (s.epochs < 0) throw UsageError("--epochs must be a positive integer or auto");
  if (s.auto_steps < 1) throw UsageError("the automatic epoch count needs at least one step");
  if (s.batch_size < 1) throw UsageError("--batch-size must be at least 1");
  if (s.samples < 1) throw UsageError("--samples must be at least 1");
  if (!(s.learning_rate > 0)) throw UsageError("--lr must be positive");
  if (!(s.weight_decay >= 0)) throw UsageError("--weight-decay must be >= 0");
  if (!(s.average_decay >= 0 && s.average_decay < 1)) throw UsageError("--average-decay must be in [0, 1)");
  if (s.threads < 1) throw UsageError("--threads must be at least 1");
  if (s.early_stopping < 0) throw UsageError("--early-stopping must be >= 0");
  if (s.valid_samples < 2) throw UsageError("--valid-samples must be at least 2");
  if (!(s.valid_fraction >= 0 && s.valid_fraction < 1)) throw UsageError("--valid-fraction must be in [0, 1)");
  if (s.valid_min_rows < 0) throw UsageError("--valid-min-rows must be >= 0");
}

std::string first_difference(const TrainSettings& a, const TrainSettings& b) {
  // In the order of the checkpoint's "training" object.
  const std::pair<const char*, bool> same[] = {
      {"method", a.objective == b.objective},
      {"noise", a.noise == b.noise},
      {"gmm_sigmas", a.gmm_sigmas == b.gmm_sigmas},
      {"nce_plus_beta", a.nce_plus_beta == b.nce_plus_beta},
      {"label_sigma", a.label_sigma == b.label_sigma},
      {"mcmc_steps", a.mcmc_steps == b.mcmc_steps},
      {"mcmc_step_size", a.mcmc_step_size == b.mcmc_step_size},
      {"dsm_sigma", a.dsm_sigma == b.dsm_sigma},
      {"epochs_option", a.epochs == b.epochs && a.auto_steps == b.auto_steps},
      {"batch_size", a.batch_size == b.batch_size},
      {"samples", a.samples == b.samples},
      {"learning_rate", a.learning_rate == b.learning_rate},
      {"weight_decay", a.weight_decay == b.weight_decay},
      {"schedule", a.cosine_schedule == b.cosine_schedule},
      {"average_decay", a.average_decay == b.average_decay},
      {"seed", a.seed == b.seed},
      {"early_stopping", a.early_stopping == b.early_stopping},
      {"epoch_score", a.tempered_epoch_score == b.tempered_epoch_score},
      {"valid_fraction", a.valid_fraction == b.valid_fraction},
      {"valid_min_rows", a.valid_min_rows == b.valid_min_rows},
      {"valid_samples", a.valid_samples == b.valid_samples},
      {"calibrate", a.calibrate == b.calibrate},
  };
  for (const auto& [key, equal] : same) {
    if (!equal) return key;
  }
  return "";
}

nlohmann::ordered_json training_record(const TrainSettings& s, const TrainingFacts& facts) {
  nlohmann::ordered_json t;
  t["data"] = facts.data;
  t["rows"] = facts.rows;
  t["method"] = objective_name(s.objective);
  t["noise"] = noise_name(s.noise);
  t["gmm_sigmas"] = s.gmm_sigmas;
  t["nce_plus_beta"] = s.nce_plus_beta;
  // A method's own settings only with that method: other checkpoints keep their bytes.
  if (s.objective == Objective::kld_is) t["label_sigma"] = s.label_sigma;
  if (s.objective == Objective::ml_mcmc) {
    t["mcmc_steps"] = s.mcmc_steps;
    t["mcmc_step_size"] = s.mcmc_step_size;
  }
  if (s.objective == Objective::dsm) t["dsm_sigma"] = s.dsm_sigma;
  t["epochs"] = facts.epochs;
  t["epochs_option"] = s.epochs == 0 ? nlohmann::ordered_json("auto") : nlohmann::ordered_json(s.epochs);
  t["batch_size"] = s.batch_size;
  t["samples"] = s.samples;
  t["learning_rate"] = s.learning_rate;
  t["weight_decay"] = s.weight_decay;
  t["schedule"] = s.cosine_schedule ? "cosine" : "constant";
  t["average_decay"] = s.average_decay;
  t["seed"] = s.seed;
  t["early_stopping"] = s.early_stopping;
  t["epoch_score"] = s.tempered_epoch_score ? "tempered" : "raw";
  t["valid"] = facts.valid_path;
  t["valid_fraction"] = s.valid_fraction;
  t["valid_min_rows"] = s.valid_min_rows;
  t["valid_rows"] = facts.valid_rows;
  t["valid_samples"] = s.valid_samples;
  t["calibrate"] = s.calibrate;
  if (!facts.weight.empty()) t["weight"] = facts.weight;
  if (!facts.init_model.empty()) t["init_model"] = facts.init_model;
  if (!facts.config.empty()) t["config"] = facts.config;
  return t;
}

TrainSettings train_settings_from_record(const nlohmann::ordered_json& t, const std::string& source) {
  const JsonReader r(t, source);
  const char* path = "training";
  const auto number = [&](const char* key) {
    const auto& v = r.at(t, key, path);
    if (!v.is_number()) r.fail("'training." + std::string(key) + "' must be a number");
    return v.get<double>();
  };
  const auto flag = [&](const char* key) {
    const auto& v = r.at(t, key, path);
    if (!v.is_boolean()) r.fail("'training." + std::string(key) + "' must be true or false");
    return v.get<bool>();
  };
  TrainSettings s;
  try {
    s.objective = objective_from_name(r.string(t, "method", path));
    s.noise = noise_from_name(r.string(t, "noise", path));
  } catch (const UsageError& e) {
    r.fail(std::string("'training': ") + e.what());
  }
  const auto& sigmas = r.at(t, "gmm_sigmas", path);
  s.gmm_sigmas = r.numbers(t, "gmm_sigmas", path, sigmas.is_array() ? sigmas.size() : 0, true);
  s.nce_plus_beta = number("nce_plus_beta");
  // Optional (absent in checkpoints of the methods that do not use them): the defaults.
  if (t.contains("label_sigma")) s.label_sigma = number("label_sigma");
  if (t.contains("mcmc_steps")) s.mcmc_steps = static_cast<int>(r.integer(t, "mcmc_steps", path, 1, kMaxMcmcSteps));
  if (t.contains("mcmc_step_size")) s.mcmc_step_size = number("mcmc_step_size");
  if (t.contains("dsm_sigma")) s.dsm_sigma = number("dsm_sigma");
  const auto& epochs = r.at(t, "epochs_option", path);
  s.epochs = epochs == "auto" ? 0 : static_cast<int>(r.integer(t, "epochs_option", path, 1, 1000000));
  s.batch_size = static_cast<int>(r.integer(t, "batch_size", path, 1, 1 << 20));
  s.samples = static_cast<int>(r.integer(t, "samples", path, 1, 1 << 20));
  s.learning_rate = number("learning_rate");
  s.weight_decay = number("weight_decay");
  const std::string schedule = r.string(t, "schedule", path);
  if (schedule != "cosine" && schedule != "constant") r.fail("'training.schedule' must be cosine or constant");
  s.cosine_schedule = schedule == "cosine";
  // Absent in checkpoints written before parameter averaging: those runs kept the
  // optimiser's own parameters.
  s.average_decay = t.contains("average_decay") ? number("average_decay") : 0.0;
  const auto& seed = r.at(t, "seed", path);
  if (!seed.is_number_unsigned()) r.fail("'training.seed' must be a non-negative integer");
  s.seed = seed.get<std::uint64_t>();
  s.early_stopping = static_cast<int>(r.integer(t, "early_stopping", path, 0, 1 << 30));
  // Absent in checkpoints written before the tempered epoch score: those runs judged their
  // epochs at T = 1.
  if (t.contains("epoch_score")) {
    const std::string score = r.string(t, "epoch_score", path);
    if (score != "tempered" && score != "raw") r.fail("'training.epoch_score' must be tempered or raw");
    s.tempered_epoch_score = score == "tempered";
  } else {
    s.tempered_epoch_score = false;
  }
  s.valid_fraction = number("valid_fraction");
  s.valid_min_rows = static_cast<int>(r.integer(t, "valid_min_rows", path, 0, 1 << 30));
  s.valid_samples = static_cast<int>(r.integer(t, "valid_samples", path, 2, 1 << 20));
  s.calibrate = flag("calibrate");
  return s;
}

}  // namespace ebm
