// CSV input and output.
//
// Reading: one record per line (RFC 4180 quoting within a line: "a,b" and "say ""hi"""
// are single cells; quoted newlines are not supported and are reported), a runtime
// delimiter, a header row unless told otherwise, CRLF tolerated, blank lines skipped,
// a missing final newline tolerated. Numbers are parsed with std::from_chars after
// trimming spaces: a leading '+' is accepted; "nan", "inf", empty cells and trailing
// garbage are not numbers. An empty cell or one of the missing-value tokens
// (CsvOptions::na_values: NA, N/A, NaN, nan, null, NULL by default) is a missing value,
// which the callers that allow it ask for with missing() / number_or_missing(). Every error message is "SOURCE:LINE:COLUMN: expected ..., found ..."
// (1-based line of the physical file, 1-based column index of the cell) or
// "SOURCE: ..." when no line applies. SOURCE is the path, or "<stdin>" for "-".
//
// Writing: numbers in the shortest form that round-trips (std::to_chars), or with a
// fixed number of significant digits; fields that need it are quoted. The writer takes any
// stream; the tools give it an OutputFile (output_file.h), so that a failed run never
// leaves a half-written file.
#pragma once

#include <cstddef>
#include <fstream>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <Eigen/Core>

namespace ebm {

// Column name -> position.
using ColumnIndex = std::unordered_map<std::string, std::size_t>;

// The tokens that mean "missing" besides the empty cell (--na-values replaces them).
inline const std::vector<std::string> kDefaultNaValues = {"NA", "N/A", "NaN", "nan", "null", "NULL"};

struct CsvOptions {
  char delimiter = ',';
  bool header = true;  // false: columns are named "1", "2", ... (1-based)
  std::vector<std::string> na_values = kDefaultNaValues;  // an empty cell is always missing
};

// Whether a cell (as CsvReader::cell returns it) is a missing value under `options`.
bool is_missing(std::string_view cell, const CsvOptions& options);

// Streaming reader: one row at a time, memory independent of the file size.
class CsvReader {
 public:
  // Longest physical line accepted (16 MiB): memory stays bounded on a file without
  // line breaks, yet a row of 100,000 wide numeric cells still fits.
  static constexpr std::size_t kMaxLineBytes = std::size_t{1} << 24;
  // Most columns a header (or a first line without header) may have: the cells of a line
  // are then at most 2^20 strings (about 32 MB besides the line), and the most features a
  // model can have (ArchitectureBounds::kMaxXDim) still fit.
  static constexpr std::size_t kMaxColumns = std::size_t{1} << 20;

  // path "-" reads standard input. Throws DataError if the file cannot be opened or
  // is empty (no header), or if header names are empty or duplicated.
  CsvReader(const std::string& path, const CsvOptions& options = {});
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  const std::string& source() const { return source_; }
  const std::vector<std::string>& columns() const { return columns_; }

  // Index of a named column; throws DataError "SOURCE: no column 'NAME' (columns: a, b, c)".
  std::size_t column_index(const std::string& name) const;

  // Advances to the next non-blank record; false at end of input. Throws DataError if the
  // record has a different number of cells than the header ("expected 4 cells, found 3").
  bool next();

  std::size_t line_number() const { return line_number_; }  // of the current record
  std::string_view cell(std::size_t column) const;           // the trimmed, unquoted text
  // Parses a cell as a finite number; throws "SOURCE:LINE:COL: column 'NAME': expected a
  // number, found 'TEXT'".
  double number(std::size_t column) const;
  std::string location(std::size_t column) const;  // "SOURCE:LINE:COL" of a cell of the current record
  // Whether the cell is empty or a missing-value token; number_or_missing returns NaN for
  // such a cell and number() for any other.
  bool missing(std::size_t column) const { return is_missing(cell(column), options_); }
  double number_or_missing(std::size_t column) const;

 private:
  std::size_t split_current_line();  // returns the number of cells (only the first width + 1 stored)
  bool read_line();           // one physical line into line_; false at end of input
  bool read_nonblank_line();  // into line_, counting physical lines; false at end of input

  std::string source_;
  CsvOptions options_;
  std::unique_ptr<std::istream> owned_stream_;
  std::istream* stream_ = nullptr;
  std::vector<std::string> columns_;
  std::string line_;
  std::vector<std::string> cells_;
  ColumnIndex index_;
  std::size_t line_number_ = 0;
  std::string pending_first_record_;  // with header=false the first line is data
  bool has_pending_ = false;
};

// Parses a number the way CsvReader::number does; returns false instead of throwing.
bool parse_number(std::string_view text, double& value);
// Text echoed in a message, kept on one printable line: control bytes (a binary file, a
// stray carriage return) become \xHH, and text longer than max_bytes is cut and ends in
// "...". The one escaping of the project: the reader quotes cells with it, the tools print
// every error message through it.
std::string printable_text(std::string_view text, std::size_t max_bytes);
// "a, b, c" for messages; after 30 names "..., (N more)", so that a message about a very
// wide file stays one readable line.
std::string join_names(const std::vector<std::string>& names);
// A comma-separated list of numbers given to `option` (e.g. "--quantiles"); throws
// UsageError naming the option and the item that is not a number.
std::vector<double> parse_number_list(const std::string& text, const std::string& option);

// A whole table read into memory, as the trainer needs it. Column kinds are inferred
// from the first cell of each column that is not missing: a number makes the column
// numeric, anything else text. A later non-numeric cell in a numeric column is an error
// naming line and column; a missing cell is NaN. A column with no value at all is not
// numeric.
struct Table {
  std::string source;
  std::vector<std::string> columns;
  std::vector<bool> numeric;  // per column
  Eigen::MatrixXd values;     // rows x columns; text columns and missing cells hold NaN
  // Per column: the cells of the columns read as text (read_table's text_columns), one
  // per row, "" for a missing cell; empty for the other columns.
  std::vector<std::vector<std::string>> text;
  std::vector<std::size_t> line_numbers;  // physical line of each row, for messages
  ColumnIndex column_lookup;              // name -> position (filled by read_table)

  std::size_t rows() const { return static_cast<std::size_t>(values.rows()); }
  std::size_t column_index(const std::string& name) const;  // throws like CsvReader
};

// Reads a table; every column in `required_numeric` must exist and be numeric
// (a non-number there, even in the first row, is an error with its line and column;
// missing cells are allowed, but not a column without any number).
// Throws DataError if there are no data rows.
// With only_required, the other columns are not parsed at all (numeric = false, NaN):
// a blank or text cell in a column the caller does not use is then no error.
// The columns in text_columns (which must exist) are kept as text in Table::text.
Table read_table(const std::string& path, const CsvOptions& options,
                 const std::vector<std::string>& required_numeric = {}, bool only_required = false,
                 const std::vector<std::string>& text_columns = {});

// Formats a double: precision 0 = shortest round-trip form; otherwise that many
// significant digits (printf %.Ng style, trailing zeros dropped).
std::string format_number(double value, int precision = 0);

class CsvWriter {
 public:
  CsvWriter(std::ostream& out, const CsvOptions& options = {}, int precision = 0)
      : out_(out), options_(options), precision_(precision) {}
  void write_row(const std::vector<std::string>& fields);  // quotes where needed
  // Writes a field into the current row (adds the delimiter as needed).
  void field(std::string_view text);
  void field(double value);
  void end_row();

 private:
  std::ostream& out_;
  CsvOptions options_;
  int precision_;
  bool row_started_ = false;
  bool row_is_one_empty_field_ = false;  // such a row needs "" or it would read as a blank line
};

}  // namespace ebm
