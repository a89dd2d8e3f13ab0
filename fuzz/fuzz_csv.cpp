// libFuzzer target: the CSV reader and number parser on arbitrary bytes.
// Any exception other than ebm::Error, any sanitizer report or any crash is a bug.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "ebm/csv.h"
#include "ebm/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The reader takes a path (it is what the tools give it), so the input goes through a
  // file in memory-backed /dev/shm.
  static const std::string path = "/dev/shm/ebm-fuzz-csv-" + std::to_string(::getpid()) + ".csv";
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return 0;
  std::fwrite(data, 1, size, file);
  std::fclose(file);
  ebm::CsvOptions options;
  // The first byte picks the dialect, so the fuzzer explores every combination.
  if (size > 0) {
    options.delimiter = (data[0] & 1) ? ';' : ',';
    if (data[0] & 2) options.delimiter = '\t';
    options.header = !(data[0] & 4);
  }
  try {
    const ebm::Table table = ebm::read_table(path, options);
    if (!table.columns.empty()) (void)table.column_index(table.columns.front());
  } catch (const ebm::Error&) {
  }
  try {
    ebm::CsvReader reader(path, options);
    while (reader.next()) {
      for (std::size_t j = 0; j < reader.columns().size(); ++j) {
        double value = 0;
        (void)ebm::parse_number(reader.cell(j), value);
      }
      if (!reader.columns().empty()) {
        try {
          (void)reader.number(0);
        } catch (const ebm::DataError&) {
        }
      }
    }
  } catch (const ebm::Error&) {
  }
  return 0;
}
