// Output files that appear under their final name only when complete.
//
// Data goes to a temporary name in the target's directory (".NAME.tmp.PID.N") and is
// renamed over the target by commit(): an interrupted or failed run leaves the previous
// file (or none) in place, never a half-written one, and a reader never sees a partial
// file. Used for every output of the tools: predictions, samples, checkpoints, metrics and
// pictures.
#pragma once

#include <fstream>
#include <iosfwd>
#include <string>
#include <vector>

namespace ebm {

// Output file that appears under its final name only when complete.
// path "-" writes to standard output (commit() then just flushes). An existing device,
// FIFO or socket (/dev/null, /dev/full, /dev/stdout, a named pipe) is written in place.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path);
  ~OutputFile();  // removes the temporary file if commit() was not called
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& stream();
  const std::string& path() const { return path_; }
  // Flushes, checks the stream, renames the temporary file to the final name.
  // Throws DataError on any I/O failure ("OUT.csv: cannot write: No space left on device").
  void commit();
  // The first half of commit(): flushes, closes and checks, without renaming. Lets a
  // command writing two files find a write error in either before it renames one.
  void finish();

 private:
  std::string path_;
  std::string temp_path_;
  std::ofstream file_;
  bool finished_ = false;
  bool committed_ = false;
};

// A file a command reads or writes, with the option that names it ("-m", "-o", "DATA").
struct NamedPath {
  std::string option;
  std::string path;
};

// Refuses (UsageError) an output that is the same file as an input or as another output,
// so that no output replaces an input or another output of the same run. Files are
// compared by identity (device and inode, links resolved) where they exist and by their
// absolute, normalised path where they do not; "-" and existing non-regular files
// (/dev/null, pipes) may repeat.
void check_distinct_files(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs);

}  // namespace ebm
