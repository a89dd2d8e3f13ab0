// libFuzzer target: the checkpoint loader on arbitrary bytes. Malformed input must end in
// ebm::DataError (or a JSON parse error); anything else is a bug.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ebm/checkpoint.h"
#include "ebm/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::ordered_json json;
  try {
    json = nlohmann::ordered_json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  try {
    const ebm::Checkpoint c = ebm::checkpoint_from_json(json, "fuzz.json", /*with_resume_state=*/true);
    // A checkpoint that loads must describe a model whose parameter count matches.
    const ebm::EnergyModel model(c.architecture);
    if (model.parameter_count() != c.params.size()) __builtin_trap();
  } catch (const ebm::Error&) {
  } catch (const nlohmann::json::exception&) {
    // Type errors inside the loader are reported by load_checkpoint as DataError.
  }
  return 0;
}
