// libFuzzer target: the CSV reader, the table reader, the number parser and the writer's
// quoting, on arbitrary bytes.
//
// The first input byte chooses the dialect and the read_table mode; the rest is the file.
// Allowed outcomes are a result or an ebm::DataError; any other exception, a sanitizer
// report or a broken invariant (__builtin_trap) is a bug:
//   * a cell that parse_number accepts is finite, and format_number's shortest form and
//     its 17-digit form both parse back to the same double;
//   * CsvReader::number agrees with parse_number;
//   * rows written back with CsvWriter (header and data) read back as the same cells;
//   * read_table agrees with CsvReader row by row on the numeric columns.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ebm/csv.h"
#include "ebm/errors.h"

namespace {

// The reader takes a path (that is what the tools give it), so inputs go through
// anonymous in-memory files, read back by their /proc/self/fd path: no disk I/O, and
// nothing is left behind however the process ends.
class MemoryFile {
 public:
  explicit MemoryFile(const char* name) : fd_(::memfd_create(name, 0)) {
    if (fd_ < 0) __builtin_trap();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& write(std::string_view bytes) {
    if (::ftruncate(fd_, 0) != 0) __builtin_trap();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) __builtin_trap();
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_number(std::string_view text) {
  double value = std::numeric_limits<double>::quiet_NaN();
  if (!ebm::parse_number(text, value)) return;
  if (!std::isfinite(value)) __builtin_trap();
  for (int precision : {0, 17}) {
    double again = std::numeric_limits<double>::quiet_NaN();
    if (!ebm::parse_number(ebm::format_number(value, precision), again) || !same_double(value, again)) {
      __builtin_trap();
    }
  }
}

struct Records {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// Reads every record it can; stops at the first DataError (the records before it stay).
Records read_all(const std::string& path, const ebm::CsvOptions& options, bool check_numbers) {
  Records records;
  try {
    ebm::CsvReader reader(path, options);
    records.columns = reader.columns();
    while (reader.next()) {
      std::vector<std::string> row;
      for (std::size_t j = 0; j < reader.columns().size(); ++j) {
        const std::string_view cell = reader.cell(j);
        row.emplace_back(cell);
        if (!check_numbers) continue;
        check_number(cell);
        double expected = 0;
        const bool ok = ebm::parse_number(cell, expected);
        try {
          const double got = reader.number(j);
          if (!ok || !same_double(got, expected)) __builtin_trap();
        } catch (const ebm::DataError&) {
          if (ok) __builtin_trap();
        }
      }
      records.rows.push_back(std::move(row));
    }
  } catch (const ebm::DataError&) {
  }
  return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static MemoryFile input("ebm-fuzz-csv"), rewritten("ebm-fuzz-csv-rewritten");
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  ebm::CsvOptions options;
  options.delimiter = (mode & 3) == 0 ? ',' : (mode & 3) == 1 ? ';' : (mode & 3) == 2 ? '\t' : ' ';
  options.header = !(mode & 4);
  const bool require_first_column = mode & 8;
  const bool only_required = mode & 16;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string& path = input.write(bytes);

  // Streaming reader, cell by cell.
  const Records records = read_all(path, options, /*check_numbers=*/true);

  // Writing what was read and reading it again gives the same header and cells. (A first
  // header cell that starts with a byte-order mark is the one exception: the reader
  // strips a leading BOM from the file, as it should.)
  const bool bom_first = !records.columns.empty() && records.columns[0].rfind("\xEF\xBB\xBF", 0) == 0;
  const bool bom_data = !options.header && !records.rows.empty() && records.rows[0][0].rfind("\xEF\xBB\xBF", 0) == 0;
  if (!records.columns.empty() && !bom_first && !bom_data) {
    std::ostringstream out;
    ebm::CsvWriter writer(out, options);
    if (options.header) writer.write_row(records.columns);
    for (const auto& row : records.rows) writer.write_row(row);
    const Records again = read_all(rewritten.write(out.str()), options, /*check_numbers=*/false);
    if (again.columns != records.columns || again.rows != records.rows) __builtin_trap();
  }

  // Whole-table reader: numeric columns hold exactly what the streaming reader parses.
  try {
    std::vector<std::string> required;
    if (require_first_column && !records.columns.empty()) required.push_back(records.columns[0]);
    const ebm::Table table = ebm::read_table(path, options, required, only_required);
    if (table.columns != records.columns || table.rows() != records.rows.size() ||
        table.numeric.size() != table.columns.size() || table.line_numbers.size() != table.rows()) {
      __builtin_trap();
    }
    for (std::size_t j = 0; j < table.columns.size(); ++j) {
      if (table.column_index(table.columns[j]) != j) __builtin_trap();
      for (std::size_t i = 0; i < table.rows(); ++i) {
        const double v = table.values(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
        double expected = 0;
        // A missing cell (empty or an NA token) reads as NaN in any column.
        const bool missing = ebm::is_missing(records.rows[i][j], options);
        if (table.numeric[j] && !missing
                ? !(ebm::parse_number(records.rows[i][j], expected) && same_double(v, expected))
                : !std::isnan(v)) {
          __builtin_trap();
        }
      }
    }
  } catch (const ebm::DataError&) {
  }
  return 0;
}
