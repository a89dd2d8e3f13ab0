// Tests of CSV reading, number parsing/formatting, atomic output files and CSV writing.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <fcntl.h>
#include <sstream>
#include <string>
#include <vector>

#include "bimodal_model.h"
#include "ebm/csv.h"
#include "ebm/output_file.h"
#include "ebm/errors.h"
#include "ebm/rng.h"

namespace fs = std::filesystem;
using ebm::testing::read_file;

namespace {

// A fresh directory under the system temp directory, removed with everything in it.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("ebm-test-csv-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  // Writes `content` byte for byte (no newline translation) and returns the file's path.
  std::string write(const std::string& name, const std::string& content) const {
    const fs::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << content;
    REQUIRE(out.good());
    return file.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& root() const { return path_; }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

// The message of the DataError thrown by `action` ("" if none was thrown).
template <typename Action>
std::string data_error_message(Action&& action) {
  try {
    action();
  } catch (const ebm::DataError& e) {
    return e.what();
  }
  return "";
}

// All records of a file as trimmed, unquoted cells.
std::vector<std::vector<std::string>> read_all(const std::string& path, const ebm::CsvOptions& options = {}) {
  ebm::CsvReader reader(path, options);
  std::vector<std::vector<std::string>> rows;
  while (reader.next()) {
    std::vector<std::string> row;
    for (std::size_t j = 0; j < reader.columns().size(); ++j) row.emplace_back(reader.cell(j));
    rows.push_back(row);
  }
  return rows;
}

// Replaces std::cin's buffer for the lifetime of the object, so "-" can be tested.
class StdinFromString {
 public:
  explicit StdinFromString(const std::string& content) : buffer_(content), saved_(std::cin.rdbuf(&buffer_)) {}
  ~StdinFromString() {
    std::cin.rdbuf(saved_);
    std::cin.clear();
  }

 private:
  std::stringbuf buffer_;
  std::streambuf* saved_;
};

bool same_double(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;  // also distinguishes -0.0 from 0.0
}

}  // namespace

TEST_CASE("parse_number accepts plain decimal numbers with padding and a leading plus") {
  double v = -1;
  CHECK(ebm::parse_number("1", v));
  CHECK(v == 1.0);
  CHECK(ebm::parse_number("  2.5\t", v));
  CHECK(v == 2.5);
  CHECK(ebm::parse_number("+3", v));
  CHECK(v == 3.0);
  CHECK(ebm::parse_number("+.5", v));
  CHECK(v == 0.5);
  CHECK(ebm::parse_number("-1.25e-3", v));
  CHECK(v == -1.25e-3);
  CHECK(ebm::parse_number("1E5", v));
  CHECK(v == 1e5);
  CHECK(ebm::parse_number("5.", v));
  CHECK(v == 5.0);
  CHECK(ebm::parse_number("-0", v));
  CHECK(same_double(v, -0.0));
  CHECK(ebm::parse_number("9.855536508", v));
  CHECK(v == 9.855536508);  // correctly rounded, unlike the fccp parser
  CHECK(ebm::parse_number("4.9e-324", v));
  CHECK(v > 0.0);
  // Underflow rounds to (signed) zero, the correctly rounded value.
  CHECK(ebm::parse_number("1e-400", v));
  CHECK(same_double(v, 0.0));
  CHECK(ebm::parse_number("-0.0000000000000000000000001e-380", v));
  CHECK(same_double(v, -0.0));
}

TEST_CASE("parse_number rejects non-numbers, non-finite values, hex and trailing garbage") {
  double v = 42.0;
  for (const char* text : {"", "   ", "nan", "NaN", "-nan", "inf", "-inf", "+inf", "infinity", "1x", "1 2",
                           "0x1A", "0x1p3", "1e", "1e+", "+-1", "++1", "-+1", "+", "-", ".", "e5", "1,5",
                           "1e400", "-1e400", "123456789e305", "1.5.2", "NA", "\"1\""}) {
    const std::string shown = text;
    CAPTURE(shown);
    CHECK_FALSE(ebm::parse_number(text, v));
  }
  CHECK(v == 42.0);  // untouched on failure
}

TEST_CASE("CsvReader parses quoted fields, padding, CRLF, BOM and a missing final newline") {
  ScratchDirectory dir;

  SUBCASE("quoted fields") {
    const std::string path = dir.write(
        "quoted.csv", "name,value,note\n\"a,b\",1,\"say \"\"hi\"\"\"\n  \" padded \" , 2 ,\"\"\n");
    const auto rows = read_all(path);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0] == std::vector<std::string>{"a,b", "1", "say \"hi\""});
    CHECK(rows[1] == std::vector<std::string>{" padded ", "2", ""});
  }
  SUBCASE("padding with spaces and tabs is trimmed, numbers parse") {
    const std::string path = dir.write("ws.csv", " x \t, y\n \t1.5 ,\t+2\t\n");
    ebm::CsvReader reader(path);
    CHECK(reader.columns() == std::vector<std::string>{"x", "y"});
    REQUIRE(reader.next());
    CHECK(reader.number(0) == 1.5);
    CHECK(reader.number(1) == 2.0);
    CHECK_FALSE(reader.next());
  }
  SUBCASE("CRLF line endings") {
    const std::string path = dir.write("crlf.csv", "a,b\r\n1,2\r\n\r\n3,4\r\n");
    ebm::CsvReader reader(path);
    CHECK(reader.columns() == std::vector<std::string>{"a", "b"});
    REQUIRE(reader.next());
    CHECK(reader.cell(1) == "2");
    CHECK(reader.line_number() == 2);
    REQUIRE(reader.next());
    CHECK(reader.number(1) == 4.0);
    CHECK(reader.line_number() == 4);
    CHECK_FALSE(reader.next());
  }
  SUBCASE("missing final newline") {
    const std::string path = dir.write("nofinal.csv", "a,b\n1,2\n3,4");
    const auto rows = read_all(path);
    REQUIRE(rows.size() == 2);
    CHECK(rows[1] == std::vector<std::string>{"3", "4"});
  }
  SUBCASE("UTF-8 byte order mark before the header") {
    const std::string path = dir.write("bom.csv", "\xEF\xBB\xBFx,y\n1,2\n");
    ebm::CsvReader reader(path);
    CHECK(reader.columns().front() == "x");
    CHECK(reader.column_index("x") == 0);
  }
  SUBCASE("blank lines are skipped and line numbers stay physical") {
    const std::string path = dir.write("blank.csv", "\n\na,b\n\n1,2\n   \n\n3,4\n\n");
    ebm::CsvReader reader(path);
    CHECK(reader.columns() == std::vector<std::string>{"a", "b"});
    REQUIRE(reader.next());
    CHECK(reader.line_number() == 5);
    REQUIRE(reader.next());
    CHECK(reader.line_number() == 8);
    CHECK_FALSE(reader.next());
  }
  SUBCASE("other delimiters") {
    const std::string semicolon = dir.write("semi.csv", "a;b\n\"1;5\";2,5\n");
    ebm::CsvOptions options;
    options.delimiter = ';';
    const auto rows = read_all(semicolon, options);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0] == std::vector<std::string>{"1;5", "2,5"});

    // With tabs as the delimiter an empty cell between two tabs must survive trimming.
    const std::string tabs = dir.write("tabs.tsv", "a\tb\tc\n1\t\t 3 \n");
    options.delimiter = '\t';
    const auto tab_rows = read_all(tabs, options);
    REQUIRE(tab_rows.size() == 1);
    CHECK(tab_rows[0] == std::vector<std::string>{"1", "", "3"});
  }
  SUBCASE("standard input") {
    StdinFromString input("a,b\n1,2\n3,4");
    ebm::CsvReader reader("-");
    CHECK(reader.source() == "<stdin>");
    REQUIRE(reader.next());
    REQUIRE(reader.next());
    CHECK(reader.number(0) == 3.0);
    CHECK_FALSE(reader.next());
  }
}

TEST_CASE("CsvReader without a header names columns 1..k and returns the first line as data") {
  ScratchDirectory dir;
  const std::string path = dir.write("noheader.csv", "\n1.5,2,x\n3,4,y\n");
  ebm::CsvOptions options;
  options.header = false;
  ebm::CsvReader reader(path, options);
  CHECK(reader.columns() == std::vector<std::string>{"1", "2", "3"});
  CHECK(reader.column_index("2") == 1);
  REQUIRE(reader.next());
  CHECK(reader.line_number() == 2);
  CHECK(reader.number(0) == 1.5);
  CHECK(reader.cell(2) == "x");
  REQUIRE(reader.next());
  CHECK(reader.line_number() == 3);
  CHECK(reader.number(1) == 4.0);
  CHECK_FALSE(reader.next());

  const std::string empty = dir.write("empty.csv", "");
  CHECK(data_error_message([&] { ebm::CsvReader r(empty, options); }) == empty + ": empty input");
}

TEST_CASE("CsvReader error messages name the source, line and column") {
  ScratchDirectory dir;

  SUBCASE("cannot open") {
    const std::string missing = dir.path("missing.csv");
    CHECK(data_error_message([&] { ebm::CsvReader r(missing); }) ==
          missing + ": cannot open: No such file or directory");
    CHECK(data_error_message([&] { ebm::CsvReader r(dir.root().string()); }) ==
          dir.root().string() + ": cannot open: Is a directory");
  }
  SUBCASE("empty input") {
    const std::string empty = dir.write("empty.csv", "");
    CHECK(data_error_message([&] { ebm::CsvReader r(empty); }) == empty + ": empty input (no header row)");
    const std::string blank = dir.write("blank.csv", "\n \r\n\n");
    CHECK(data_error_message([&] { ebm::CsvReader r(blank); }) == blank + ": empty input (no header row)");
    StdinFromString input("");
    CHECK(data_error_message([&] { ebm::CsvReader r("-"); }) == "<stdin>: empty input (no header row)");
  }
  SUBCASE("duplicate and empty column names") {
    const std::string duplicate = dir.write("dup.csv", "x,y,x\n1,2,3\n");
    CHECK(data_error_message([&] { ebm::CsvReader r(duplicate); }) ==
          duplicate + ":1: duplicate column name 'x' (columns 1 and 3)");
    const std::string late_header = dir.write("dup3.csv", "\n\na,a\n");
    CHECK(data_error_message([&] { ebm::CsvReader r(late_header); }).rfind(late_header + ":3: duplicate", 0) == 0);
    const std::string unnamed = dir.write("unnamed.csv", "a,,c\n1,2,3\n");
    CHECK(data_error_message([&] { ebm::CsvReader r(unnamed); }) == unnamed + ":1:2: empty column name in the header");
  }
  SUBCASE("no such column") {
    const std::string path = dir.write("abc.csv", "a,b,c\n1,2,3\n");
    ebm::CsvReader reader(path);
    CHECK(data_error_message([&] { reader.column_index("z"); }) == path + ": no column 'z' (columns: a, b, c)");
  }
  SUBCASE("wrong number of cells, with the physical line number") {
    const std::string path = dir.write("ragged.csv", "a,b,c\n1,2,3\n\n4,5\n");
    ebm::CsvReader reader(path);
    REQUIRE(reader.next());
    CHECK(data_error_message([&] { reader.next(); }) == path + ":4: expected 3 cells, found 2");
    const std::string extra = dir.write("extra.csv", "a,b\n1,2,\n");
    ebm::CsvReader extra_reader(extra);
    CHECK(data_error_message([&] { extra_reader.next(); }) == extra + ":2: expected 2 cells, found 3");
  }
  SUBCASE("not a number") {
    const std::string path = dir.write("bad.csv", "a,b,c\n1,2,3\n\n4,abc,6\n7,,9\n1,nan,2\n");
    ebm::CsvReader reader(path);
    REQUIRE(reader.next());
    REQUIRE(reader.next());
    CHECK(reader.number(0) == 4.0);
    CHECK(data_error_message([&] { reader.number(1); }) ==
          path + ":4:2: column 'b': expected a number, found 'abc'");
    REQUIRE(reader.next());
    CHECK(data_error_message([&] { reader.number(1); }) ==
          path + ":5:2: column 'b': expected a number, found an empty cell");
    REQUIRE(reader.next());
    CHECK(data_error_message([&] { reader.number(1); }) ==
          path + ":6:2: column 'b': expected a number, found 'nan'");
  }
  SUBCASE("long offending text is shortened") {
    const std::string long_text(500, 'q');
    const std::string path = dir.write("long.csv", "a\n" + long_text + "\n");
    ebm::CsvReader reader(path);
    REQUIRE(reader.next());
    const std::string message = data_error_message([&] { reader.number(0); });
    CHECK(message.size() < 150);
    CHECK(message.find("...'") != std::string::npos);
  }
  SUBCASE("unterminated quote and text after a closing quote") {
    const std::string path = dir.write("quote.csv", "a,b,c\n1,\"two\n3\",4\n");
    ebm::CsvReader reader(path);
    CHECK(data_error_message([&] { reader.next(); }).rfind(path + ":2:2: unterminated quoted field", 0) == 0);
    const std::string after = dir.write("after.csv", "a,b\n\"1\"x,2\n");
    ebm::CsvReader after_reader(after);
    CHECK(data_error_message([&] { after_reader.next(); }) ==
          after + ":2:1: unexpected text after the closing quote of a quoted field");
    const std::string in_header = dir.write("header.csv", "a,\"b\n");
    CHECK(data_error_message([&] { ebm::CsvReader r(in_header); }).rfind(in_header + ":1:2: unterminated", 0) == 0);
  }
  SUBCASE("stdin is named <stdin>") {
    StdinFromString input("a,b\n1,x\n");
    ebm::CsvReader reader("-");
    REQUIRE(reader.next());
    CHECK(data_error_message([&] { reader.number(1); }) ==
          "<stdin>:2:2: column 'b': expected a number, found 'x'");
  }
  SUBCASE("a quote cannot be the delimiter") {
    const std::string path = dir.write("a.csv", "a\n1\n");
    ebm::CsvOptions options;
    options.delimiter = '"';
    CHECK_THROWS_AS(ebm::CsvReader(path, options), ebm::UsageError);
  }
}

TEST_CASE("read_table infers column kinds from the first data row") {
  ScratchDirectory dir;
  const std::string path = dir.write("table.csv", "id,x,y,label\nr1,1.5,-2,cat\n\nr2,3,4e2,5\n");
  const ebm::Table table = ebm::read_table(path, {}, {"x", "y"});
  CHECK(table.source == path);
  CHECK(table.columns == std::vector<std::string>{"id", "x", "y", "label"});
  CHECK(table.numeric == std::vector<bool>{false, true, true, false});
  REQUIRE(table.rows() == 2);
  REQUIRE(table.values.cols() == 4);
  CHECK(std::isnan(table.values(0, 0)));
  CHECK(table.values(0, 1) == 1.5);
  CHECK(table.values(0, 2) == -2.0);
  CHECK(table.values(1, 1) == 3.0);
  CHECK(table.values(1, 2) == 400.0);
  CHECK(std::isnan(table.values(1, 3)));  // a text column stays text even if a later cell is a number
  CHECK(table.line_numbers == std::vector<std::size_t>{2, 4});
  CHECK(table.column_index("y") == 2);
  CHECK(data_error_message([&] { table.column_index("q"); }) ==
        path + ": no column 'q' (columns: id, x, y, label)");
}

TEST_CASE("read_table: missing values do not decide a column's kind") {
  ScratchDirectory dir;
  // bmi's first cell is NA: the column is still numeric (it used to become "text").
  const std::string path =
      dir.write("t.csv", "bmi,region,y,note\nNA,north,1,\n 22.5 ,,2,hello\nnull,south,N/A,3\n,\"NA\",4,x\n");
  const ebm::Table table = ebm::read_table(path, {}, {"y"}, false, {"region"});
  CHECK(table.numeric == std::vector<bool>{true, false, true, false});
  REQUIRE(table.rows() == 4);
  CHECK(std::isnan(table.values(0, 0)));
  CHECK(table.values(1, 0) == 22.5);
  CHECK(std::isnan(table.values(2, 0)));
  CHECK(std::isnan(table.values(3, 0)));
  CHECK(std::isnan(table.values(2, 2)));  // N/A target
  CHECK(table.values(3, 2) == 4.0);
  CHECK(table.text[1] == std::vector<std::string>{"north", "", "south", ""});  // "NA", quoted or not, is missing
  CHECK(table.text[0].empty());
  // Another set of tokens: "NA" is then a text value.
  ebm::CsvOptions options;
  options.na_values = {"-"};
  const std::string other = dir.write("u.csv", "a,b\n-,NA\n2,x\n");
  const ebm::Table t2 = ebm::read_table(other, options);
  CHECK(t2.numeric == std::vector<bool>{true, false});
  CHECK(std::isnan(t2.values(0, 0)));
  CHECK(data_error_message([&] { ebm::read_table(dir.write("v.csv", "a\nNA\n1\n"), options, {"a"}); }) ==
        dir.path("v.csv") + ":2:1: column 'a': expected a number, found 'NA'");
}

TEST_CASE("CsvReader: missing() and number_or_missing()") {
  ScratchDirectory dir;
  const std::string path = dir.write("t.csv", "a,b,c,d\nNaN, ,NULL,7\n");
  ebm::CsvReader reader(path);
  REQUIRE(reader.next());
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(reader.missing(j));
    CHECK(std::isnan(reader.number_or_missing(j)));
  }
  CHECK(!reader.missing(3));
  CHECK(reader.number_or_missing(3) == 7.0);
  CHECK(data_error_message([&] { reader.number(0); }) == path + ":2:1: column 'a': expected a number, found 'NaN'");
}

TEST_CASE("read_table errors") {
  ScratchDirectory dir;
  SUBCASE("a required column that is text in the first row") {
    const std::string path = dir.write("t.csv", "x,y\n1,oops\n2,3\n");
    CHECK(data_error_message([&] { ebm::read_table(path, {}, {"x", "y"}); }) ==
          path + ":2:2: column 'y': expected a number, found 'oops'");
  }
  SUBCASE("a later bad cell in a numeric column") {
    const std::string path = dir.write("t.csv", "x,y\n1,2\n3,4\n5,oops\n");
    CHECK(data_error_message([&] { ebm::read_table(path, {}); }) ==
          path + ":4:2: column 'y': expected a number, found 'oops'");
  }
  SUBCASE("a required column without any number") {
    const std::string path = dir.write("t.csv", "x,y\n1,NA\n3,\n");
    CHECK(data_error_message([&] { ebm::read_table(path, {}, {"y"}); }) ==
          path + ": column 'y' has no numbers (every cell is empty or a missing-value token)");
  }
  SUBCASE("a required column whose first value is text") {
    const std::string path = dir.write("t.csv", "x,y\n1,NA\n3,abc\n");
    CHECK(data_error_message([&] { ebm::read_table(path, {}, {"y"}); }) ==
          path + ":3:2: column 'y': expected a number, found 'abc'");
  }
  SUBCASE("a missing required column") {
    const std::string path = dir.write("t.csv", "x,y\n1,2\n");
    CHECK(data_error_message([&] { ebm::read_table(path, {}, {"z"}); }) == path + ": no column 'z' (columns: x, y)");
  }
  SUBCASE("no data rows") {
    const std::string path = dir.write("t.csv", "x,y\n\n");
    CHECK(data_error_message([&] { ebm::read_table(path, {}); }) == path + ": no data rows");
  }
  SUBCASE("without a header") {
    const std::string path = dir.write("t.csv", "1,2\n3,4\n");
    ebm::CsvOptions options;
    options.header = false;
    const ebm::Table table = ebm::read_table(path, options, {"2"});
    CHECK(table.rows() == 2);
    CHECK(table.values(0, 0) == 1.0);
    CHECK(table.values(1, 1) == 4.0);
  }
}

TEST_CASE("format_number round-trips and honours the precision") {
  double parsed = 0.0;
  for (double x : {0.1, 1e-300, -0.0, 0.0, 1e300, -1e300, 1.0 / 3.0, 5e-324, 2.2250738585072014e-308,
                   1.7976931348623157e308, 123456789012345678.0, -2.5}) {
    CAPTURE(x);
    const std::string text = ebm::format_number(x);
    REQUIRE(ebm::parse_number(text, parsed));
    CHECK(same_double(parsed, x));
  }
  // Random doubles: uniformly random bit patterns (every exponent) and ordinary scales.
  ebm::Rng rng(12345);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t bits = rng.next();
    double x = 0.0;
    std::memcpy(&x, &bits, sizeof x);
    if (!std::isfinite(x)) continue;
    const std::string text = ebm::format_number(x);
    REQUIRE(ebm::parse_number(text, parsed));
    REQUIRE_MESSAGE(same_double(parsed, x), text);
    const double y = rng.normal() * std::pow(10.0, static_cast<double>(rng.below(21)) - 10.0);
    const std::string y_text = ebm::format_number(y);
    REQUIRE(ebm::parse_number(y_text, parsed));
    REQUIRE_MESSAGE(same_double(parsed, y), y_text);
  }

  CHECK(ebm::format_number(3.0) == "3");
  CHECK(ebm::format_number(0.1) == "0.1");
  CHECK(ebm::format_number(-0.0) == "-0");
  CHECK(ebm::format_number(1e300) == "1e+300");
  CHECK(ebm::format_number(3.0, 6) == "3");
  CHECK(ebm::format_number(-12.0, 6) == "-12");
  CHECK(ebm::format_number(0.1, 6) == "0.1");
  CHECK(ebm::format_number(3.14159265358979, 6) == "3.14159");
  CHECK(ebm::format_number(1234567.0, 6) == "1.23457e+06");
  CHECK(ebm::format_number(0.000123456789, 3) == "0.000123");
  CHECK(ebm::format_number(1.0 / 3.0, 40) == ebm::format_number(1.0 / 3.0, 17));
}

TEST_CASE("printable_text escapes control bytes and cuts long text") {
  CHECK(ebm::printable_text("plain text", 100) == "plain text");
  CHECK(ebm::printable_text(std::string("a\nb\r\x1b[1m\x7f"), 100) == "a\\x0ab\\x0d\\x1b[1m\\x7f");
  CHECK(ebm::printable_text(std::string("\0z", 2), 100) == "\\x00z");
  CHECK(ebm::printable_text("abcdef", 3) == "abc...");
  CHECK(ebm::printable_text("abc", 3) == "abc");
  CHECK(ebm::printable_text("\xc3\xa9t\xc3\xa9", 100) == "\xc3\xa9t\xc3\xa9");  // UTF-8 kept
  CHECK(ebm::printable_text(std::string_view(), 10).empty());
}

TEST_CASE("OutputFile makes the target appear only on commit") {
  ScratchDirectory dir;
  const std::string target = dir.path("out.csv");

  SUBCASE("commit renames the temporary file over the target") {
    {
      ebm::OutputFile out(target);
      CHECK(out.path() == target);
      out.stream() << "a,b\n1,2\n";
      // An empty view may hold a null pointer (the writer's empty cell); under UBSan a
      // memcpy from it fails this test.
      out.stream() << std::string_view();
      out.stream().write(nullptr, 0);
      CHECK_FALSE(fs::exists(target));
      const auto during = dir.entries();
      REQUIRE(during.size() == 1);
      CHECK(during[0].rfind(".out.csv.tmp.", 0) == 0);  // hidden, next to the target
      out.commit();
      CHECK(read_file(target) == "a,b\n1,2\n");
    }
    CHECK(dir.entries() == std::vector<std::string>{"out.csv"});  // no temporary left over
  }
  SUBCASE("without commit the existing target is untouched and the temporary removed") {
    dir.write("out.csv", "old content\n");
    {
      ebm::OutputFile out(target);
      out.stream() << "half written";
    }
    CHECK(read_file(target) == "old content\n");
    CHECK(dir.entries() == std::vector<std::string>{"out.csv"});
  }
  SUBCASE("an exception before commit leaves no trace") {
    try {
      ebm::OutputFile out(target);
      out.stream() << "x\n";
      throw ebm::DataError("simulated failure");
    } catch (const ebm::DataError&) {
    }
    CHECK(dir.entries().empty());
  }
  SUBCASE("commit replaces an existing file") {
    dir.write("out.csv", "old\n");
    ebm::OutputFile out(target);
    out.stream() << "new\n";
    out.commit();
    out.commit();  // a second commit is harmless
    CHECK(read_file(target) == "new\n");
  }
  SUBCASE("two objects for the same target do not share a temporary file") {
    ebm::OutputFile first(target);
    ebm::OutputFile second(target);
    first.stream() << "first\n";
    second.stream() << "second\n";
    CHECK(dir.entries().size() == 2);
    second.commit();
    first.commit();
    CHECK(read_file(target) == "first\n");
  }
  SUBCASE("a missing directory or a directory target fails in the constructor") {
    const std::string nowhere = dir.path("no/such/dir/out.csv");
    CHECK(data_error_message([&] { ebm::OutputFile out(nowhere); }) ==
          nowhere + ": cannot create: No such file or directory");
    const std::string directory = dir.root().string();
    CHECK(data_error_message([&] { ebm::OutputFile out(directory); }) == directory + ": cannot create: Is a directory");
  }
}

TEST_CASE("OutputFile '-' writes to standard output (descriptor 1, left open)") {
  ScratchDirectory dir;
  const std::string path = (dir.root() / "stdout.txt").string();
  std::cout.flush();
  const int saved = ::dup(STDOUT_FILENO);
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(saved >= 0);
  REQUIRE(file >= 0);
  ::dup2(file, STDOUT_FILENO);
  ::close(file);
  {
    ebm::OutputFile out("-");
    out.stream() << "hello\n";
    out.commit();
  }
  const bool still_open = ::fcntl(STDOUT_FILENO, F_GETFD) != -1;
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  CHECK(still_open);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "hello\n");
}

TEST_CASE("CsvWriter quotes fields only where needed") {
  std::ostringstream out;
  ebm::CsvWriter writer(out);
  writer.write_row({"plain", "a,b", "say \"hi\"", "two\nlines", " padded", "", "cr\r"});
  writer.field("x");
  writer.field(0.1);
  writer.field(-0.0);
  writer.end_row();
  writer.write_row({""});  // must not become a blank line
  CHECK(out.str() ==
        "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded\",,\"cr\r\"\n"
        "x,0.1,-0\n"
        "\"\"\n");

  std::ostringstream semicolons;
  ebm::CsvOptions options;
  options.delimiter = ';';
  ebm::CsvWriter precise(semicolons, options, 3);
  precise.field("a;b");
  precise.field("c,d");
  precise.field(3.14159);
  precise.field(2.0);
  precise.end_row();
  CHECK(semicolons.str() == "\"a;b\";c,d;3.14;2\n");
}

TEST_CASE("CsvWriter output reads back through CsvReader") {
  ScratchDirectory dir;
  const std::string target = dir.path("roundtrip.csv");
  const std::vector<std::string> header{"name", "value"};
  const std::vector<std::string> names{"plain", "with,comma", "with \"quotes\"", "  spaces  ", ""};
  {
    ebm::OutputFile out(target);
    ebm::CsvWriter writer(out.stream());
    writer.write_row(header);
    for (std::size_t i = 0; i < names.size(); ++i) {
      writer.field(names[i]);
      writer.field(0.1 * static_cast<double>(i) - 1e-17);
      writer.end_row();
    }
    out.commit();
  }
  ebm::CsvReader reader(target);
  CHECK(reader.columns() == header);
  for (std::size_t i = 0; i < names.size(); ++i) {
    REQUIRE(reader.next());
    CHECK(reader.cell(0) == names[i]);
    CHECK(same_double(reader.number(1), 0.1 * static_cast<double>(i) - 1e-17));
  }
  CHECK_FALSE(reader.next());
}

TEST_CASE("a first line that starts like JSON is refused as a checkpoint; a CSV cell starting with '{' is not") {
  ScratchDirectory dir;
  const auto opens = [&](const std::string& name, const std::string& text) {
    try {
      ebm::CsvReader reader(dir.write(name, text));
      return std::string("read: ") + reader.columns()[0];
    } catch (const ebm::DataError& e) {
      return std::string(e.what());
    }
  };
  CHECK(opens("pretty.json", "{\n  \"format\": \"ebm\"\n}\n").find("this is JSON") != std::string::npos);
  CHECK(opens("compact.json", "{\"format\":\"ebm\"}\n").find("this is JSON") != std::string::npos);
  CHECK(opens("braces.csv", "{a},b\n1,2\n") == "read: {a}");
  // What the writer writes reads back: a first cell "{" is quoted, so it cannot read as
  // JSON (the CSV fuzzer's round trip found this).
  std::ostringstream out;
  ebm::CsvWriter writer(out, ebm::CsvOptions{});
  writer.write_row(std::vector<std::string>{"{"});
  CHECK(out.str() == "\"{\"\n");
  CHECK(opens("brace.csv", out.str()) == "read: {");
  // The delimiter is never padding: with tabs, an empty first cell, "{" and a quoted cell
  // are three cells (the fuzzer's second find), while a space before '{"' is still JSON.
  ebm::CsvOptions tabs;
  tabs.delimiter = '\t';
  tabs.header = false;
  const std::string path = dir.write("tabs.tsv", "\t{\t\"a\"\n");
  ebm::CsvReader reader(path, tabs);
  REQUIRE(reader.next());
  CHECK(reader.columns().size() == 3);
  CHECK(reader.cell(1) == "{");
  CHECK(reader.cell(2) == "a");
  CHECK(opens("spaced.json", " { \"format\": \"ebm\"}\n").find("this is JSON") != std::string::npos);
}
