// Hostile inputs found by issue "Reliability v2": values at the edge of the double range,
// very wide headers. Each test fails on the code before the fix.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <thread>

#include "bimodal_model.h"
#include "ebm/checkpoint.h"
#include "ebm/commands.h"
#include "ebm/csv.h"
#include "ebm/errors.h"
#include "ebm/output_file.h"
#include "ebm/thread_pool.h"

using namespace ebm;
using namespace ebm::testing;

namespace {

std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ebm-test-reliability-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

// 300 rows: x = i / 300, y = sin(7x) plus `special` in row 0 (and `other` in row 1).
std::string write_data(const std::string& name, const std::string& special, const std::string& other = "") {
  const std::string path = scratch(name).string();
  std::ofstream out(path);
  out << "x,y\n";
  for (int i = 0; i < 300; ++i) {
    out << i / 300.0 << ",";
    if (i == 0) {
      out << special;
    } else if (i == 1 && !other.empty()) {
      out << other;
    } else {
      out << std::sin(7.0 * i / 300.0);
    }
    out << "\n";
  }
  return path;
}

TrainOptions tiny_training(const std::string& data, const std::string& model) {
  TrainOptions o;
  o.data_path = data;
  o.model_path = model;
  o.targets = {"y"};
  o.architecture.hidden = 4;
  o.settings.epochs = 1;
  o.settings.samples = 4;
  o.verbosity = 0;
  return o;
}

}  // namespace

TEST_CASE("a target whose variance overflows a double is standardised, and the checkpoint loads") {
  // One target of 1e160 among 300 rows: its sum of squares is 1e320 (inf); before the fix
  // the checkpoint held "y_scale": [null] and could not be read back.
  const std::string model = scratch("huge.json").string();
  run_train(tiny_training(write_data("huge.csv", "1e160"), model));
  const Checkpoint c = load_checkpoint(model);
  CHECK(std::isfinite(c.y_scaler.scale[0]));
  CHECK(c.y_scaler.scale[0] > 1e157);
}

TEST_CASE("a column whose values span more than a double can hold is refused, naming it, and no file is written") {
  const std::string model = scratch("span.json").string();
  std::filesystem::remove(model);
  try {
    run_train(tiny_training(write_data("span.csv", "1.7e308", "-1.7e308"), model));
    FAIL("training accepted targets spanning more than a double");
  } catch (const DataError& e) {
    CHECK(std::string(e.what()).find("target column 'y': its values span more than a double can hold") !=
          std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(model));
}

TEST_CASE("a header of 200,000 columns is read and searched in linear time" * doctest::timeout(10)) {
  // Before: a pairwise duplicate check and a linear search per name (100,000 columns took
  // 18.6 s; 200,000 about 75 s).
  // (50,000 under the sanitizers, which slow every access down 20-40x.)
  const int columns = kSanitized ? 50000 : 200000;
  const std::string path = scratch("wide.csv").string();
  {
    std::ofstream out(path);
    for (int j = 0; j < columns; ++j) out << (j ? "," : "") << "c" << j;
    out << "\n";
    for (int j = 0; j < columns; ++j) out << (j ? "," : "") << j;
    out << "\n";
  }
  CsvReader reader(path);
  std::size_t sum = 0;
  for (int j = 0; j < columns; ++j) sum += reader.column_index("c" + std::to_string(j));
  CHECK(sum == static_cast<std::size_t>(columns - 1) * columns / 2);
  const std::string duplicate = scratch("duplicate.csv").string();
  std::ofstream(duplicate) << "a,b,c,b\n1,2,3,4\n";
  CHECK_THROWS_WITH_AS(CsvReader{duplicate}, doctest::Contains("duplicate column name 'b' (columns 2 and 4)"),
                       DataError);
}

// ------------------------------------------------------------- Reliability v2, items 2, 9, 14, 15

TEST_CASE("an allocation failure in a worker is not caught by the pool: it ends in std::terminate") {
  // Before: the pool caught std::bad_alloc and rethrew it on the caller, unwinding through
  // Eigen matrices whose failed resize had already freed their buffer ("double free or
  // corruption" under ulimit -v). Now it never unwinds: the tools' terminate handler
  // prints "out of memory". Run in a child process, whose terminate handler exits 42.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::set_terminate([] { _exit(42); });
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<bool> worker_started{false};
    try {
      ThreadPool pool(2);
      pool.run(2, [&](std::size_t) {
        if (std::this_thread::get_id() != caller) {
          worker_started = true;
          throw std::bad_alloc();
        }
        // The caller's task waits for the worker, so that the worker runs the other task.
        for (int i = 0; i < 5000 && !worker_started; ++i) usleep(1000);
        usleep(200000);
      });
    } catch (const std::bad_alloc&) {
      _exit(1);  // the old behaviour: caught and rethrown on the caller
    }
    _exit(worker_started ? 2 : 3);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 42);
}

TEST_CASE("errors thrown by tasks still reach the caller") {
  ThreadPool pool(3);
  CHECK_THROWS_WITH_AS(pool.run(8, [](std::size_t i) {
    if (i == 5) throw DataError("task 5 failed");
  }),
                       "task 5 failed", DataError);
}

TEST_CASE("remove_temporary_outputs removes what a signal or a fatal error would leave") {
  const auto dir = scratch("tmpreg");
  std::filesystem::create_directories(dir);
  const auto count_temporaries = [&] {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) n += entry.path().filename().string()[0] == '.';
    return n;
  };
  {
    OutputFile out((dir / "a.csv").string());
    out.stream() << "partial";
    CHECK(count_temporaries() == 1);
    remove_temporary_outputs();  // what the handlers call; no destructor has run
    CHECK(count_temporaries() == 0);
  }
  OutputFile committed((dir / "b.csv").string());
  committed.stream() << "done\n";
  committed.commit();
  remove_temporary_outputs();
  CHECK(std::filesystem::exists(dir / "b.csv"));
}

TEST_CASE("temporary names fit the 255-byte name limit") {
  CHECK(temporary_name("m.json", 12, 3) == ".m.json.tmp.12.3");
  const std::string long_name(250, 'p');
  const std::string temp = temporary_name(long_name, 4194303, 17);
  CHECK(temp.size() <= 255);
  CHECK(temp.find(".tmp.4194303.17") != std::string::npos);
  CHECK(temporary_name(long_name, 4194303, 17) != temporary_name(std::string(249, 'p') + "q", 4194303, 17));
  // A real file with a 254-byte name.
  const auto path = scratch(std::string(254, 'n'));
  OutputFile out(path.string());
  out.stream() << "x\n";
  out.commit();
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("a full disk is reported as such, also when it fills up in the middle of the output") {
  if (!std::filesystem::exists("/dev/full")) return;
  // More than the stream's buffer: the first write fails long before the final flush,
  // where std::ofstream had lost errno ("Input/output error").
  OutputFile out("/dev/full");
  const std::string block(1 << 20, 'x');
  out.stream() << block << block;
  CHECK_THROWS_WITH_AS(out.commit(), "/dev/full: cannot write: No space left on device", DataError);
}
