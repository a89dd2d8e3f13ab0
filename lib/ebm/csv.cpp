#include "ebm/csv.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "ebm/errors.h"

namespace ebm {

namespace {

constexpr const char* kStdinName = "<stdin>";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Offending text is echoed in messages; a runaway cell (e.g. a whole line read with the
// wrong delimiter) must not turn the one-line error into a screenful.
constexpr std::size_t kMaxQuotedTextLength = 60;

// Spaces and tabs around cells are insignificant, except that a tab delimiter must
// still separate cells.
bool is_padding(char c, char delimiter) { return (c == ' ' || c == '\t') && c != delimiter; }

std::string_view trim_padding(std::string_view text, char delimiter) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_padding(text[begin], delimiter)) ++begin;
  while (end > begin && is_padding(text[end - 1], delimiter)) --end;
  return text.substr(begin, end - begin);
}

std::string_view trim_spaces_and_tabs(std::string_view text) {
  // '\0' is never a padding character, so this trims both ' ' and '\t'.
  return trim_padding(text, '\0');
}

std::string shorten_for_message(std::string_view text) { return printable_text(text, kMaxQuotedTextLength); }

// Index of every column name (names are unique: the reader refuses duplicates), so that
// finding F features among C columns costs O(F + C), not O(F C): a header of 100,000
// columns is read in a fraction of a second.
ColumnIndex index_columns(const std::vector<std::string>& columns) {
  ColumnIndex index;
  index.reserve(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) index.emplace(columns[i], i);
  return index;
}

std::size_t find_column(const std::string& source, const std::vector<std::string>& columns, const ColumnIndex& index,
                        const std::string& name) {
  const auto it = index.find(name);
  if (it != index.end()) return it->second;
  // A tab-separated file read with the default comma is one column whose name has tabs.
  const bool tabs_in_one_column = columns.size() == 1 && columns[0].find('\t') != std::string::npos;
  throw DataError(source + ": no column '" + name + "' (columns: " + join_names(columns) + ")" +
                  (tabs_in_one_column ? "; the header has tabs but reads as one column: tab-separated input needs --tabs"
                                      : ""));
}

// Decimal exponent of a syntactically valid, unsigned number: that of its leading
// significant digit plus the explicit exponent (2 for "123.4", -3 for "0.00123", -400 for
// "1e-400"). Only its sign is used, to tell underflow from overflow when from_chars
// reports result_out_of_range. Saturates instead of overflowing on absurd inputs.
long decimal_exponent(std::string_view number) {
  constexpr long kSaturation = 1000000000L;
  long exponent = 0;
  long fraction_position = 0;  // -1 for the first digit after the point, -2 for the next...
  bool found_significant = false;
  bool after_point = false;
  std::size_t i = 0;
  for (; i < number.size(); ++i) {
    const char c = number[i];
    if (c == '.') {
      after_point = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    if (after_point && fraction_position > -kSaturation) --fraction_position;
    if (!found_significant) {
      if (c != '0') {
        found_significant = true;
        exponent = after_point ? fraction_position : 0;
      }
    } else if (!after_point && exponent < kSaturation) {
      ++exponent;
    }
  }
  if (!found_significant) return 0;
  long explicit_exponent = 0;
  if (i < number.size() && (number[i] == 'e' || number[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < number.size() && (number[i] == '+' || number[i] == '-')) {
      negative = number[i] == '-';
      ++i;
    }
    for (; i < number.size() && number[i] >= '0' && number[i] <= '9'; ++i) {
      explicit_exponent = std::min(kSaturation, explicit_exponent * 10 + (number[i] - '0'));
    }
    if (negative) explicit_exponent = -explicit_exponent;
  }
  return exponent + explicit_exponent;
}

}  // namespace

// --------------------------------------------------------------------------- numbers

std::string printable_text(std::string_view text, std::size_t max_bytes) {
  static const char* const hex = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(text.size(), max_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > n) out += "...";
  return out;
}

std::string join_names(const std::vector<std::string>& columns) {
  // Very wide files would make the message unreadable; the first names identify the file.
  constexpr std::size_t kMaxListed = 30;
  std::string joined;
  for (std::size_t i = 0; i < columns.size() && i < kMaxListed; ++i) {
    if (i > 0) joined += ", ";
    joined += columns[i];
  }
  if (columns.size() > kMaxListed) {
    joined += ", ... (" + std::to_string(columns.size() - kMaxListed) + " more)";
  }
  return joined;
}

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  // Split at every comma, so that an empty item anywhere ("0.5," as well as ",0.5") is
  // refused; getline would drop a trailing one.
  std::vector<double> out;
  if (text.empty()) throw UsageError(option + ": expected at least one number, found an empty list");
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    double v = 0;
    if (!parse_number(item, v)) {
      throw UsageError(option + ": expected a comma-separated list of numbers, found " +
                       (item.empty() ? "an empty item in '" + shorten_for_message(text) + "'"
                                     : "'" + shorten_for_message(item) + "'"));
    }
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool parse_number(std::string_view text, double& value) {
  std::string_view body = trim_spaces_and_tabs(text);
  if (body.empty()) return false;
  // from_chars rejects a leading '+', which spreadsheets and printf("%+g") produce.
  if (body.front() == '+') {
    body.remove_prefix(1);
    if (body.empty() || body.front() == '-' || body.front() == '+') return false;
  }
  // Only the decimal forms are numbers here; "nan", "inf" and "infinity" parse with
  // from_chars, but a data file containing them is almost always a mistake upstream.
  const char first = body.front() == '-' && body.size() > 1 ? body[1] : body.front();
  if (!(first == '.' || (first >= '0' && first <= '9'))) return false;

  double parsed = 0.0;
  const char* begin = body.data();
  const char* end = body.data() + body.size();
  const auto [stop, error] = std::from_chars(begin, end, parsed, std::chars_format::general);
  if (stop != end) return false;  // trailing garbage, including "0x1A" (stops at 'x')
  if (error == std::errc::result_out_of_range) {
    // Values too small for a double round to zero, the correctly rounded result;
    // values too large have no finite representation and are rejected.
    const bool negative = body.front() == '-';
    const std::string_view magnitude = negative ? body.substr(1) : body;
    if (decimal_exponent(magnitude) >= 0) return false;
    value = negative ? -0.0 : 0.0;
    return true;
  }
  if (error != std::errc() || !std::isfinite(parsed)) return false;
  value = parsed;
  return true;
}

std::string format_number(double value, int precision) {
  // More than 17 significant digits never changes which double is denoted.
  constexpr int kMaxUsefulPrecision = 17;
  char buffer[64];
  std::to_chars_result result;
  if (precision <= 0) {
    result = std::to_chars(buffer, buffer + sizeof buffer, value);
  } else {
    result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general,
                           std::min(precision, kMaxUsefulPrecision));
  }
  if (result.ec != std::errc()) throw std::logic_error("format_number: buffer too small");
  return std::string(buffer, result.ptr);
}

// --------------------------------------------------------------------------- reader

namespace {

// The first line of a JSON object: "{" alone, or starting with '{"', with spaces, tabs
// (and a final '\r') around ignored, except the CSV delimiter: with tabs as delimiter,
// "\t{\t\"a\"" is three cells, not JSON (the CSV fuzzer's round trip found this).
bool looks_like_json(std::string_view line, char delimiter) {
  std::string padding = " \t\r";
  padding.erase(std::remove(padding.begin(), padding.end(), delimiter), padding.end());
  const std::size_t first = line.find_first_not_of(padding);
  if (first == std::string_view::npos || line[first] != '{') return false;
  const std::size_t next = line.find_first_not_of(padding, first + 1);
  return next == std::string_view::npos || line[next] == '"';
}

}  // namespace

CsvReader::CsvReader(const std::string& path, const CsvOptions& options)
    : source_(path == "-" ? kStdinName : path), options_(options) {
  if (options_.delimiter == '"' || options_.delimiter == '\n' || options_.delimiter == '\r' ||
      options_.delimiter == '\0') {
    throw UsageError("the delimiter cannot be a quote, a line break or a NUL character");
  }
  if (path == "-") {
    stream_ = &std::cin;  // not owned: standard input stays open for the rest of the program
  } else {
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored)) {
      // Opening a directory "succeeds" on Linux and then reads as empty input.
      throw DataError(source_ + ": cannot open: " + std::strerror(EISDIR));
    }
    errno = 0;
    auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!file->is_open()) throw DataError(source_ + ": cannot open: " + error_text(errno));
    owned_stream_ = std::move(file);
    stream_ = owned_stream_.get();
  }

  if (!read_nonblank_line()) {
    throw DataError(source_ + ": empty input" + (options_.header ? " (no header row)" : ""));
  }
  // A checkpoint given where the data goes ("ebm-train model.json ..."): say so, rather
  // than complain about its second line's quotes. JSON's first line is "{" alone (as ebm
  // writes it) or starts with '{"'; a CSV header cell like "{a}" is still read.
  if (looks_like_json(line_, options_.delimiter)) {
    throw DataError(source_ + ":" + std::to_string(line_number_) +
                    ": this is JSON (an ebm checkpoint?), not a CSV table; the model is given with -m");
  }
  if (split_current_line() > kMaxColumns) {
    throw DataError(source_ + ":" + std::to_string(line_number_) + ": more than " + std::to_string(kMaxColumns) +
                    " columns (the reader's limit)");
  }

  if (options_.header) {
    columns_ = cells_;
    index_.reserve(columns_.size());
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i].empty()) {
        throw DataError(location(i) + ": empty column name in the header");
      }
      const auto [first, inserted] = index_.emplace(columns_[i], i);
      if (!inserted) {
        throw DataError(source_ + ":" + std::to_string(line_number_) + ": duplicate column name '" +
                        columns_[i] + "' (columns " + std::to_string(first->second + 1) + " and " +
                        std::to_string(i + 1) + ")");
      }
    }
  } else {
    // Without a header the first record is data: keep it for the first next().
    for (std::size_t i = 0; i < cells_.size(); ++i) columns_.push_back(std::to_string(i + 1));
    index_ = index_columns(columns_);
    pending_first_record_ = line_;
    has_pending_ = true;
  }
}

CsvReader::~CsvReader() = default;

std::size_t CsvReader::column_index(const std::string& name) const {
  return find_column(source_, columns_, index_, name);
}

std::string CsvReader::location(std::size_t column) const {
  return source_ + ":" + std::to_string(line_number_) + ":" + std::to_string(column + 1);
}

// Reads one physical line into line_ (without the '\n'), refusing lines longer than
// kMaxLineBytes, so that a file without line breaks cannot exhaust memory, and NUL bytes,
// which no text file contains. istream::getline into a fixed buffer keeps libstdc++'s
// fast scan for the delimiter; a full buffer (failbit without eofbit) means "more to come".
// False at the end of the input.
bool CsvReader::read_line() {
  line_.clear();
  char chunk[1 << 16];
  while (true) {
    errno = 0;
    stream_->getline(chunk, sizeof chunk);
    if (stream_->bad()) throw DataError(source_ + ": cannot read: " + error_text(errno));
    const bool full = stream_->fail() && !stream_->eof();
    const bool found_newline = !stream_->fail() && !stream_->eof();
    const auto stored = static_cast<std::size_t>(stream_->gcount()) - (found_newline ? 1 : 0);
    if (std::memchr(chunk, '\0', stored) != nullptr) {
      const std::size_t column = line_.size() + (static_cast<const char*>(std::memchr(chunk, '\0', stored)) - chunk);
      throw DataError(source_ + ":" + std::to_string(line_number_ + 1) + ":" + std::to_string(column + 1) +
                      ": found a NUL byte: not a text CSV file");
    }
    if (line_.size() + stored > kMaxLineBytes) {
      throw DataError(source_ + ":" + std::to_string(line_number_ + 1) + ": line longer than " +
                      std::to_string(kMaxLineBytes) + " bytes (the reader's limit)");
    }
    line_.append(chunk, stored);
    if (full) {
      stream_->clear();
      continue;
    }
    if (found_newline) return true;
    // End of input: a last line without a final newline still counts.
    return stored > 0 || !line_.empty();
  }
}

bool CsvReader::read_nonblank_line() {
  while (read_line()) {
    ++line_number_;
    if (line_number_ == 1 && line_.compare(0, kUtf8Bom.size(), kUtf8Bom) == 0) {
      line_.erase(0, kUtf8Bom.size());  // editors on Windows prepend it
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    bool blank = true;
    for (char c : line_) {
      if (!is_padding(c, options_.delimiter)) {
        blank = false;
        break;
      }
    }
    if (!blank) return true;
  }
  return false;
}

bool CsvReader::next() {
  if (has_pending_) {
    // The first record was split and counted by the constructor; line_number_ is still its line.
    has_pending_ = false;
    line_ = std::move(pending_first_record_);
    split_current_line();
    return true;
  }
  if (!read_nonblank_line()) return false;
  const std::size_t count = split_current_line();
  if (count != columns_.size()) {
    throw DataError(source_ + ":" + std::to_string(line_number_) + ": expected " +
                    std::to_string(columns_.size()) + " cells, found " + std::to_string(count));
  }
  return true;
}

std::string_view CsvReader::cell(std::size_t column) const {
  if (column >= cells_.size()) {
    throw std::out_of_range("CsvReader::cell: column " + std::to_string(column) + " of " +
                            std::to_string(cells_.size()));
  }
  return cells_[column];
}

double CsvReader::number(std::size_t column) const {
  const std::string_view text = cell(column);
  double value = 0.0;
  if (parse_number(text, value)) return value;
  const std::string found =
      trim_spaces_and_tabs(text).empty() ? "an empty cell" : "'" + shorten_for_message(text) + "'";
  throw DataError(location(column) + ": column '" + columns_[column] + "': expected a number, found " + found);
}

double CsvReader::number_or_missing(std::size_t column) const {
  return missing(column) ? std::numeric_limits<double>::quiet_NaN() : number(column);
}

bool is_missing(std::string_view cell, const CsvOptions& options) {
  const std::string_view text = trim_spaces_and_tabs(cell);
  if (text.empty()) return true;
  for (const std::string& token : options.na_values) {
    if (text == token) return true;
  }
  return false;
}

std::size_t CsvReader::split_current_line() {
  const std::string_view line = line_;
  const char delimiter = options_.delimiter;
  std::size_t count = 0;
  std::size_t position = 0;
  // Cells beyond the header's width (or kMaxColumns + 1 for the first line) are counted,
  // not stored: a 16 MiB line of commas is 16 million cells, 1 GB of empty strings.
  const std::size_t limit = (columns_.empty() ? kMaxColumns : columns_.size()) + 1;
  std::string overflow;
  // Cells are assigned in place so that their buffers are reused from record to record.
  auto next_cell = [&]() -> std::string& {
    if (count >= limit) {
      ++count;
      overflow.clear();
      return overflow;
    }
    if (count == cells_.size()) cells_.emplace_back();
    std::string& cell = cells_[count++];
    cell.clear();
    return cell;
  };
  while (true) {
    std::size_t p = position;
    while (p < line.size() && is_padding(line[p], delimiter)) ++p;
    std::string& cell = next_cell();
    if (p < line.size() && line[p] == '"') {
      const std::size_t column = count - 1;
      ++p;
      bool closed = false;
      while (p < line.size()) {
        if (line[p] != '"') {
          cell += line[p++];
        } else if (p + 1 < line.size() && line[p + 1] == '"') {
          cell += '"';  // "" inside quotes is a literal quote
          p += 2;
        } else {
          ++p;
          closed = true;
          break;
        }
      }
      if (!closed) {
        throw DataError(location(column) +
                        ": unterminated quoted field (line breaks inside quotes are not supported)");
      }
      while (p < line.size() && is_padding(line[p], delimiter)) ++p;
      if (p < line.size() && line[p] != delimiter) {
        throw DataError(location(column) + ": unexpected text after the closing quote of a quoted field");
      }
    } else {
      std::size_t end = line.find(delimiter, p);
      if (end == std::string_view::npos) end = line.size();
      cell.assign(trim_padding(line.substr(p, end - p), delimiter));
      p = end;
    }
    if (p >= line.size()) break;
    position = p + 1;  // line[p] is the delimiter
  }
  cells_.resize(std::min(count, limit));
  return count;
}

// --------------------------------------------------------------------------- table

std::size_t Table::column_index(const std::string& name) const {
  return find_column(source, columns, column_lookup, name);
}

namespace {

// How read_table treats a column: decided by the first cell that is not missing, unless
// the caller fixed it (required numeric, kept as text, not parsed).
enum class ColumnKind { undecided, undecided_required, numeric, text_kept, text_ignored, skipped };

// The value stored for cell j of the current record; decides an undecided column.
double table_cell(const CsvReader& reader, std::size_t j, ColumnKind& kind, std::vector<std::string>& text) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  switch (kind) {
    case ColumnKind::numeric:
      return reader.number_or_missing(j);
    case ColumnKind::text_kept:
      text.emplace_back(reader.missing(j) ? std::string_view{} : reader.cell(j));
      return nan;
    case ColumnKind::text_ignored:
    case ColumnKind::skipped:
      return nan;
    case ColumnKind::undecided:
    case ColumnKind::undecided_required:
      break;
  }
  if (reader.missing(j)) return nan;
  double value = 0.0;
  if (kind == ColumnKind::undecided && !parse_number(reader.cell(j), value)) {
    kind = ColumnKind::text_ignored;
    return nan;
  }
  kind = ColumnKind::numeric;
  return reader.number(j);  // a required column's first value must be a number: reported here
}

std::vector<ColumnKind> initial_kinds(const CsvReader& reader, const std::vector<std::string>& required_numeric,
                                      bool only_required, const std::vector<std::string>& text_columns) {
  std::vector<ColumnKind> kinds(reader.columns().size(), only_required ? ColumnKind::skipped : ColumnKind::undecided);
  for (const auto& name : required_numeric) kinds[reader.column_index(name)] = ColumnKind::undecided_required;
  for (const auto& name : text_columns) kinds[reader.column_index(name)] = ColumnKind::text_kept;
  return kinds;
}

}  // namespace

Table read_table(const std::string& path, const CsvOptions& options, const std::vector<std::string>& required_numeric,
                 bool only_required, const std::vector<std::string>& text_columns) {
  CsvReader reader(path, options);
  Table table;
  table.source = reader.source();
  table.columns = reader.columns();
  table.column_lookup = index_columns(table.columns);
  const std::size_t width = table.columns.size();
  std::vector<ColumnKind> kinds = initial_kinds(reader, required_numeric, only_required, text_columns);
  table.text.resize(width);
  std::vector<double> row_major_values;
  while (reader.next()) {
    for (std::size_t j = 0; j < width; ++j) row_major_values.push_back(table_cell(reader, j, kinds[j], table.text[j]));
    table.line_numbers.push_back(reader.line_number());
  }
  if (table.line_numbers.empty()) throw DataError(table.source + ": no data rows");
  table.numeric.assign(width, false);
  for (std::size_t j = 0; j < width; ++j) {
    table.numeric[j] = kinds[j] == ColumnKind::numeric;
    if (kinds[j] == ColumnKind::undecided_required) {
      throw DataError(table.source + ": column '" + table.columns[j] +
                      "' has no numbers (every cell is empty or a missing-value token)");
    }
  }
  const Eigen::Index rows = static_cast<Eigen::Index>(table.line_numbers.size());
  const Eigen::Index cols = static_cast<Eigen::Index>(width);
  table.values = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      row_major_values.data(), rows, cols);
  return table;
}

// --------------------------------------------------------------------------- writer

void CsvWriter::write_row(const std::vector<std::string>& fields) {
  for (const auto& f : fields) field(f);
  end_row();
}

void CsvWriter::field(std::string_view text) {
  const bool row_started_before = row_started_;
  if (row_started_) out_ << options_.delimiter;
  row_is_one_empty_field_ = !row_started_ && text.empty();
  row_started_ = true;
  // Quote what the reader would otherwise split, unescape or trim away.
  bool needs_quotes = text.find_first_of(std::string{options_.delimiter, '"', '\n', '\r'}) != std::string_view::npos;
  if (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.back() == ' ' || text.back() == '\t')) {
    needs_quotes = true;
  }
  // A line starting with '{' may read as JSON (looks_like_json): quoted, it cannot.
  if (!row_started_before && !text.empty() && text.front() == '{') needs_quotes = true;
  if (!needs_quotes) {
    out_ << text;
    return;
  }
  out_ << '"';
  for (char c : text) {
    if (c == '"') out_ << '"';
    out_ << c;
  }
  out_ << '"';
}

void CsvWriter::field(double value) { field(format_number(value, precision_)); }

void CsvWriter::end_row() {
  // A row holding one empty field would be a blank line, which readers skip.
  if (row_is_one_empty_field_) out_ << "\"\"";
  out_ << '\n';
  row_started_ = false;
  row_is_one_empty_field_ = false;
}

}  // namespace ebm
