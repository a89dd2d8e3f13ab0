// Error types shared by the library and the executables.
//
// The library never prints: it throws. The executables catch and print one line,
// "PROGRAM: error: MESSAGE", and exit with the error's code: 1 for data/model
// errors (bad CSV cell, malformed checkpoint, numerical failure), 2 for usage errors
// (bad option values or combinations).
#pragma once

#include <stdexcept>
#include <string>

namespace ebm {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int exit_code)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Problem in an input file, a checkpoint, or the numbers (exit 1).
class DataError : public Error {
 public:
  explicit DataError(const std::string& message) : Error(message, 1) {}
};

// Problem with how the tool was invoked (exit 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, 2) {}
};

// Thrown when a NaN or infinity appears where the maths promises finite numbers;
// the message says where (which quantity, epoch, batch) so the run can be diagnosed.
class NumericalError : public DataError {
 public:
  explicit NumericalError(const std::string& message) : DataError(message) {}
};

// Training stopped by SIGINT/SIGTERM after saving what it had (exit 130, as a shell
// reports a process killed by SIGINT).
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& message) : Error(message, 130) {}
};

// strerror(error_number), or that of EIO for 0: errno is not reliably set by every
// iostream failure, and a message should still say something true.
std::string error_text(int error_number);

}  // namespace ebm
