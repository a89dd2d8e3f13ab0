// Checked access to a parsed JSON document (a checkpoint): every failure is a DataError
// "SOURCE: ..." naming the key path ('architecture.hidden') and what was expected.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ebm/errors.h"

namespace ebm {

class JsonReader {
 public:
  JsonReader(const nlohmann::ordered_json& root, std::string source) : root_(root), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& message) const { throw DataError(source_ + ": " + message); }

  const nlohmann::ordered_json& at(const nlohmann::ordered_json& object, const std::string& key, const std::string& path) const {
    if (!object.is_object()) fail("'" + path + "' is not an object");
    const auto it = object.find(key);
    if (it == object.end()) fail("missing key '" + (path.empty() ? key : path + "." + key) + "'");
    return *it;
  }

  std::string string(const nlohmann::ordered_json& object, const std::string& key, const std::string& path) const {
    const auto& v = at(object, key, path);
    if (!v.is_string()) fail("'" + join(path, key) + "' must be a string");
    return v.get<std::string>();
  }

  long integer(const nlohmann::ordered_json& object, const std::string& key, const std::string& path,
               long min_value, long max_value = 1L << 40) const {
    const auto& v = at(object, key, path);
    if (!v.is_number_integer()) fail("'" + join(path, key) + "' must be an integer");
    const long value = v.get<long>();
    if (value < min_value) fail("'" + join(path, key) + "' must be at least " + std::to_string(min_value));
    if (value > max_value) fail("'" + join(path, key) + "' must be at most " + std::to_string(max_value));
    return value;
  }

  std::vector<double> numbers(const nlohmann::ordered_json& object, const std::string& key, const std::string& path,
                              std::size_t expected_size, bool positive = false) const {
    const auto& v = at(object, key, path);
    const std::string name = join(path, key);
    if (!v.is_array()) fail("'" + name + "' must be an array of numbers");
    if (v.size() != expected_size) {
      fail("'" + name + "' has " + std::to_string(v.size()) + " values, expected " + std::to_string(expected_size));
    }
    std::vector<double> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number()) fail("'" + name + "[" + std::to_string(i) + "]' is not a finite number");
      const double d = v[i].get<double>();
      if (!std::isfinite(d)) fail("'" + name + "[" + std::to_string(i) + "]' is not a finite number");
      if (positive && !(d > 0)) fail("'" + name + "[" + std::to_string(i) + "]' must be positive");
      out.push_back(d);
    }
    return out;
  }

  std::vector<std::string> names(const nlohmann::ordered_json& object, const std::string& key) const {
    const auto& v = at(object, key, "");
    if (!v.is_array() || v.empty()) fail("'" + key + "' must be a non-empty array of column names");
    std::vector<std::string> out;
    for (const auto& item : v) {
      if (!item.is_string()) fail("'" + key + "' must contain only strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  const nlohmann::ordered_json& root_;
  std::string source_;
};

}  // namespace ebm
