#include "ebm/feature_encoding.h"

#include <algorithm>
#include <cmath>

#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/json_reader.h"

namespace ebm {

int FeatureEncoding::width() const {
  if (kind == FeatureKind::categorical) return static_cast<int>(levels.size());
  return missing_in_training ? 2 : 1;
}

bool is_plain(const FeatureEncodings& encodings) {
  for (const FeatureEncoding& e : encodings) {
    if (e.kind != FeatureKind::numeric || e.missing_in_training) return false;
  }
  return true;
}

int encoded_width(const FeatureEncodings& encodings, std::size_t features) {
  if (encodings.empty()) return static_cast<int>(features);
  int width = 0;
  for (const FeatureEncoding& e : encodings) width += e.width();
  return width;
}

bool is_categorical(const FeatureEncodings& encodings, std::size_t feature) {
  return feature < encodings.size() && encodings[feature].kind == FeatureKind::categorical;
}

std::string level_key(std::string_view text) {
  double value = 0.0;
  if (parse_number(text, value)) return format_number(value == 0.0 ? 0.0 : value);  // -0 and 0 are one level
  return std::string(text);
}

std::vector<std::string> categorical_levels(const std::vector<std::string>& cells, const std::string& what) {
  std::vector<std::string> levels;
  for (const std::string& cell : cells) {
    if (!cell.empty()) levels.push_back(level_key(cell));
  }
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  if (levels.size() > static_cast<std::size_t>(kMaxCategoricalLevels)) {
    throw DataError(what + " has " + std::to_string(levels.size()) + " distinct values; a categorical feature may have " +
                    "at most " + std::to_string(kMaxCategoricalLevels));
  }
  return levels;
}

double categorical_code(const FeatureEncoding& encoding, std::string_view cell, bool missing) {
  if (missing) return kMissingCode;
  const std::string key = level_key(cell);
  const auto it = std::lower_bound(encoding.levels.begin(), encoding.levels.end(), key);
  if (it == encoding.levels.end() || *it != key) return kUnknownCode;
  return static_cast<double>(it - encoding.levels.begin());
}

// ------------------------------------------------------------------------- encoding

namespace {

void count_imputed(EncodingCounts* counts, std::size_t feature, std::size_t features) {
  if (counts == nullptr) return;
  counts->imputed.resize(features, 0);
  ++counts->imputed[feature];
}

// A numeric feature's inputs: the standardised value (0 when missing) [, the indicator].
int encode_numeric(const FeatureEncoding& e, const Standardizer& x_scaler, std::size_t j, double v, float* out,
                   EncodingCounts* counts, std::size_t features) {
  const bool missing = std::isnan(v);
  out[0] = missing ? 0.0f : static_cast<float>(x_scaler.to_standard(static_cast<int>(j), v));
  if (e.missing_in_training) {
    out[1] = missing ? 1.0f : 0.0f;
    return 2;
  }
  if (missing) count_imputed(counts, j, features);
  return 1;
}

// A categorical feature's inputs: one-hot over the levels, all zeros for no level.
int encode_categorical(const FeatureEncoding& e, double code, float* out) {
  const int width = e.width();
  std::fill(out, out + width, 0.0f);
  if (code >= 0) out[static_cast<int>(code)] = 1.0f;
  return width;
}

}  // namespace

void encode_row(const FeatureEncodings& encodings, const Standardizer& x_scaler, const double* raw,
                std::size_t features, float* out, EncodingCounts* counts) {
  if (encodings.empty()) {  // plain: the standardised values, a missing one imputed by the mean
    for (std::size_t j = 0; j < features; ++j) {
      if (std::isnan(raw[j])) {
        out[j] = 0.0f;
        count_imputed(counts, j, features);
      } else {
        out[j] = static_cast<float>(x_scaler.to_standard(static_cast<int>(j), raw[j]));
      }
    }
    return;
  }
  int k = 0;
  for (std::size_t j = 0; j < features; ++j) {
    const FeatureEncoding& e = encodings[j];
    k += e.kind == FeatureKind::numeric ? encode_numeric(e, x_scaler, j, raw[j], out + k, counts, features)
                                        : encode_categorical(e, raw[j], out + k);
  }
}

void EncodingCounts::add_unknown(std::size_t feature, std::size_t features, std::string_view text) {
  unknown.resize(features, 0);
  first_unknown.resize(features);
  if (unknown[feature]++ == 0) first_unknown[feature] = std::string(text.substr(0, 40));
}

void EncodingCounts::merge(const EncodingCounts& other) {
  const auto add = [](std::vector<long>& a, const std::vector<long>& b) {
    if (a.size() < b.size()) a.resize(b.size(), 0);
    for (std::size_t i = 0; i < b.size(); ++i) a[i] += b[i];
  };
  if (first_unknown.size() < other.first_unknown.size()) first_unknown.resize(other.first_unknown.size());
  for (std::size_t i = 0; i < other.first_unknown.size(); ++i) {
    if (first_unknown[i].empty()) first_unknown[i] = other.first_unknown[i];
  }
  add(imputed, other.imputed);
  add(unknown, other.unknown);
}

namespace {

// "bmi: 3, age: 1" and the total, over the features with a non-zero count.
std::string per_feature(const std::vector<long>& counts, const std::vector<std::string>& features, long& total,
                        const std::vector<std::string>* examples = nullptr) {
  std::string text;
  total = 0;
  for (std::size_t j = 0; j < counts.size(); ++j) {
    if (counts[j] == 0) continue;
    total += counts[j];
    if (!text.empty()) text += ", ";
    text += features[j] + ": " + std::to_string(counts[j]);
    if (examples != nullptr && j < examples->size() && !(*examples)[j].empty()) text += " (e.g. '" + (*examples)[j] + "')";
  }
  return text;
}

}  // namespace

std::string EncodingCounts::warnings(const std::string& program, const std::vector<std::string>& features) const {
  std::string out;
  long total = 0;
  const std::string imputed_text = per_feature(imputed, features, total);
  if (total > 0) {
    out += program + ": warning: " + std::to_string(total) + " missing value(s) in features that had none in " +
           "training, imputed with the training mean (" + imputed_text + ")\n";
  }
  const std::string unknown_text = per_feature(unknown, features, total, &first_unknown);
  if (total > 0) {
    out += program + ": warning: " + std::to_string(total) + " value(s) of categorical features not seen in " +
           "training, treated as unknown (" + unknown_text + ")\n";
  }
  return out;
}

Standardizer fit_feature_scaler(const Eigen::MatrixXd& raw, const FeatureEncodings& encodings) {
  if (encodings.empty()) return Standardizer::fit(raw);
  Standardizer s;
  for (Eigen::Index j = 0; j < raw.cols(); ++j) {
    if (encodings[static_cast<std::size_t>(j)].kind == FeatureKind::categorical) {
      s.mean.push_back(0.0);
      s.scale.push_back(1.0);
      continue;
    }
    std::vector<double> observed;
    for (Eigen::Index r = 0; r < raw.rows(); ++r) {
      if (!std::isnan(raw(r, j))) observed.push_back(raw(r, j));
    }
    const Standardizer one =
        Standardizer::fit(Eigen::Map<const Eigen::MatrixXd>(observed.data(), static_cast<Eigen::Index>(observed.size()), 1));
    s.mean.push_back(one.mean[0]);
    s.scale.push_back(one.scale[0]);
  }
  return s;
}

// ------------------------------------------------------------------------- training

namespace {

FeatureEncoding fit_encoding(const Table& table, std::size_t column, bool categorical,
                             const std::vector<std::size_t>& rows) {
  FeatureEncoding e;
  const std::string what = table.source + ": column '" + table.columns[column] + "'";
  if (categorical) {
    e.kind = FeatureKind::categorical;
    std::vector<std::string> cells;
    for (std::size_t r : rows) cells.push_back(table.text[column][r]);
    e.levels = categorical_levels(cells, what);
    e.missing_in_training = std::find(cells.begin(), cells.end(), std::string()) != cells.end();
    if (e.levels.empty()) throw DataError(what + ": no value in the training rows (every cell is missing)");
    return e;
  }
  std::size_t observed = 0;
  for (std::size_t r : rows) observed += std::isnan(table.values(static_cast<Eigen::Index>(r), column)) ? 0 : 1;
  if (observed == 0) throw DataError(what + ": no value in the training rows (every cell is missing)");
  e.missing_in_training = observed < rows.size();
  return e;
}

}  // namespace

FeatureEncodings fit_encodings(const Table& table, const std::vector<std::size_t>& columns,
                               const std::vector<bool>& categorical, const std::vector<std::size_t>& rows) {
  FeatureEncodings encodings;
  for (std::size_t j = 0; j < columns.size(); ++j) encodings.push_back(fit_encoding(table, columns[j], categorical[j], rows));
  if (is_plain(encodings)) encodings.clear();
  return encodings;
}

Eigen::MatrixXd raw_feature_block(const Table& table, const std::vector<std::size_t>& columns,
                                  const FeatureEncodings& encodings, const std::vector<std::size_t>& rows) {
  Eigen::MatrixXd out(rows.size(), columns.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t j = 0; j < columns.size(); ++j) {
      if (is_categorical(encodings, j)) {
        const std::string& cell = table.text[columns[j]][rows[r]];
        out(r, j) = categorical_code(encodings[j], cell, cell.empty());
      } else {
        out(r, j) = table.values(rows[r], columns[j]);
      }
    }
  }
  return out;
}

Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> encode_block(const Eigen::MatrixXd& raw,
                                                                  const FeatureEncodings& encodings,
                                                                  const Standardizer& x_scaler) {
  const auto features = static_cast<std::size_t>(raw.cols());
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> out(encoded_width(encodings, features), raw.rows());
  std::vector<double> row(features);
  for (Eigen::Index r = 0; r < raw.rows(); ++r) {
    for (std::size_t j = 0; j < features; ++j) row[j] = raw(r, static_cast<Eigen::Index>(j));
    encode_row(encodings, x_scaler, row.data(), features, out.col(r).data(), nullptr);
  }
  return out;
}

// ---------------------------------------------------------------------------- JSON

nlohmann::ordered_json encodings_to_json(const FeatureEncodings& encodings) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const FeatureEncoding& e : encodings) {
    nlohmann::ordered_json item;
    item["kind"] = e.kind == FeatureKind::categorical ? "categorical" : "numeric";
    item["missing_in_training"] = e.missing_in_training;
    if (e.kind == FeatureKind::categorical) item["levels"] = e.levels;
    array.push_back(std::move(item));
  }
  return array;
}

namespace {

std::vector<std::string> read_levels(const JsonReader& r, const nlohmann::ordered_json& item, const std::string& path) {
  const auto& levels = r.at(item, "levels", path);
  if (!levels.is_array() || levels.empty() || levels.size() > static_cast<std::size_t>(kMaxCategoricalLevels)) {
    r.fail("'" + path + ".levels' must be an array of 1 to " + std::to_string(kMaxCategoricalLevels) + " strings");
  }
  std::vector<std::string> out;
  for (const auto& level : levels) {
    if (!level.is_string() || level.get<std::string>().empty()) r.fail("'" + path + ".levels' must hold non-empty strings");
    if (!out.empty() && !(out.back() < level.get<std::string>())) {
      r.fail("'" + path + ".levels' must be sorted and distinct");
    }
    out.push_back(level.get<std::string>());
  }
  return out;
}

}  // namespace

FeatureEncodings encodings_from_json(const JsonReader& r, const nlohmann::ordered_json& array, std::size_t features) {
  if (!array.is_array() || array.size() != features) {
    r.fail("'feature_encoding' must be an array with one entry per feature (" + std::to_string(features) + ")");
  }
  FeatureEncodings encodings;
  for (std::size_t j = 0; j < features; ++j) {
    const std::string path = "feature_encoding[" + std::to_string(j) + "]";
    FeatureEncoding e;
    const std::string kind = r.string(array[j], "kind", path);
    if (kind != "numeric" && kind != "categorical") r.fail("'" + path + ".kind' must be numeric or categorical");
    e.kind = kind == "numeric" ? FeatureKind::numeric : FeatureKind::categorical;
    const auto& missing = r.at(array[j], "missing_in_training", path);
    if (!missing.is_boolean()) r.fail("'" + path + ".missing_in_training' must be true or false");
    e.missing_in_training = missing.get<bool>();
    if (e.kind == FeatureKind::categorical) e.levels = read_levels(r, array[j], path);
    encodings.push_back(std::move(e));
  }
  return encodings;
}

}  // namespace ebm
