// From a row's raw feature cells to the network's input vector (docs/maths.md §1b).
//
// A feature is numeric or categorical (ebm-train --categorical). Each row is first turned
// into one raw value per feature:
//   numeric      the number, or NaN when the cell is missing (empty or an --na-values token)
//   categorical  the index of the cell's level among the training levels, kMissingCode for
//                a missing cell, kUnknownCode for a level not seen in training
// (this raw row also seeds the row's random stream, maths.md §10), and then encoded into
// the network's inputs, feature after feature:
//   numeric      z = (v - mean) / scale, with a missing v imputed by the training mean
//                (z = 0); plus one input m = 1 if missing, 0 if observed, for a feature
//                that had missing values in the training rows
//   categorical  one-hot over the training levels; missing and unknown levels give all
//                zeros (the "no level" code the model saw for missing cells in training)
// A model whose features are all numeric and had no missing values has the plain
// encoding (no "feature_encoding" in its checkpoint): its inputs are the standardised
// values, exactly as before the encoding existed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ebm/standardizer.h"

namespace ebm {

enum class FeatureKind { numeric, categorical };

// Most levels a categorical feature may have (each is one input of the network).
constexpr int kMaxCategoricalLevels = 1000;
constexpr double kMissingCode = -1.0;  // raw value of a missing categorical cell
constexpr double kUnknownCode = -2.0;  // raw value of a level not seen in training

struct FeatureEncoding {
  FeatureKind kind = FeatureKind::numeric;
  // Some training row had this feature missing: a numeric feature then has an indicator
  // input; a categorical one has seen the all-zeros code in training.
  bool missing_in_training = false;
  std::vector<std::string> levels;  // categorical: level keys (level_key), sorted

  int width() const;  // network inputs of this feature
  bool operator==(const FeatureEncoding& o) const {
    return kind == o.kind && missing_in_training == o.missing_in_training && levels == o.levels;
  }
};

// One per feature, or empty for the plain encoding (every feature numeric, no indicator).
using FeatureEncodings = std::vector<FeatureEncoding>;

bool is_plain(const FeatureEncodings& encodings);
// Network inputs for `features` features (= features for the plain encoding).
int encoded_width(const FeatureEncodings& encodings, std::size_t features);
bool is_categorical(const FeatureEncodings& encodings, std::size_t feature);

// The key a categorical cell is matched by: its text, except that a number is written in
// its shortest form ("1.0" and "1" are one level; integer codes work as text does).
std::string level_key(std::string_view text);
// The sorted distinct level keys of non-missing cells ("" = missing). Throws DataError
// naming `what` beyond kMaxCategoricalLevels.
std::vector<std::string> categorical_levels(const std::vector<std::string>& cells, const std::string& what);
// The raw value of a categorical cell (missing: pass missing = true).
double categorical_code(const FeatureEncoding& encoding, std::string_view cell, bool missing);

// What encoding rows replaced silently, per feature, for one warning line each.
struct EncodingCounts {
  std::vector<long> imputed;  // missing numeric values of features without an indicator
  std::vector<long> unknown;  // categorical levels not seen in training
  std::vector<std::string> first_unknown;  // the first such level, for the message
  void add_unknown(std::size_t feature, std::size_t features, std::string_view text);
  void merge(const EncodingCounts& other);
  // "PROGRAM: warning: ..." lines ("" when nothing happened).
  std::string warnings(const std::string& program, const std::vector<std::string>& features) const;
};

// Encodes one raw row (features values) into `out` (encoded_width values). x_scaler has
// one entry per feature (categorical ones unused). Counts the imputations of features
// without an indicator when counts is given (unknown levels are counted by whoever reads
// the cells, with add_unknown).
void encode_row(const FeatureEncodings& encodings, const Standardizer& x_scaler, const double* raw,
                std::size_t features, float* out, EncodingCounts* counts);

// The standardiser of raw feature values (rows x features), each numeric column fitted on
// its observed values (NaN = missing); categorical columns get mean 0 and scale 1. Without
// any NaN or categorical feature this is Standardizer::fit(raw), bit for bit.
Standardizer fit_feature_scaler(const Eigen::MatrixXd& raw, const FeatureEncodings& encodings);

// ---- training: the features of a table (csv.h), columns `columns`, over the rows `rows`

struct Table;
// The encoding fitted on the rows: levels of the categorical features, and which features
// had missing values. Empty (plain) when no feature is categorical or has a missing value.
// Throws DataError for a numeric feature without any value in the rows.
FeatureEncodings fit_encodings(const Table& table, const std::vector<std::size_t>& columns,
                               const std::vector<bool>& categorical, const std::vector<std::size_t>& rows);
// Raw values (rows x features): numbers (NaN = missing) and level codes.
Eigen::MatrixXd raw_feature_block(const Table& table, const std::vector<std::size_t>& columns,
                                  const FeatureEncodings& encodings, const std::vector<std::size_t>& rows);
// encode_row applied to each raw row: a (encoded width x rows) float matrix.
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> encode_block(const Eigen::MatrixXd& raw,
                                                                  const FeatureEncodings& encodings,
                                                                  const Standardizer& x_scaler);

// The checkpoint's "feature_encoding" array and back (one object per feature).
nlohmann::ordered_json encodings_to_json(const FeatureEncodings& encodings);
class JsonReader;
FeatureEncodings encodings_from_json(const JsonReader& reader, const nlohmann::ordered_json& array,
                                     std::size_t features);

}  // namespace ebm
