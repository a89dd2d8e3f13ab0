// Output files that appear under their final name only when complete.
//
// Data goes to a temporary name in the target's directory (".NAME.tmp.PID.N") and is
// renamed over the target by commit(): an interrupted or failed run leaves the previous
// file (or none) in place, never a half-written one, and a reader never sees a partial
// file. Used for every output of the tools: predictions, samples, checkpoints, metrics and
// pictures.
#pragma once

#include <iosfwd>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

namespace ebm {

// A stream buffer over a file descriptor that remembers the errno of the first failed
// write: std::ofstream loses it (a full disk was reported as "Input/output error").
class FdStreamBuf : public std::streambuf {
 public:
  // `owns`: close the descriptor at close() and destruction (false for standard output).
  explicit FdStreamBuf(int fd, bool owns = true);
  ~FdStreamBuf() override;
  int error() const { return error_; }  // errno of the first failure, 0 if none
  bool close();                         // flushes and closes; false on any failure

 protected:
  int_type overflow(int_type c) override;
  int sync() override;
  std::streamsize xsputn(const char* data, std::streamsize count) override;

 private:
  bool flush_buffer();
  bool write_all(const char* data, std::size_t count);
  int fd_;
  bool owns_;
  int error_ = 0;
  std::vector<char> buffer_;
};

// Output file that appears under its final name only when complete.
// path "-" writes to standard output (commit() then just flushes). An existing device,
// FIFO or socket (/dev/null, /dev/full, /dev/stdout, a named pipe) is written in place.
// A symbolic link is written through: the file it points to is replaced, the link stays.
// An existing file's permission bits (and, where allowed, owner) are kept. Hard links
// are not preserved: the new contents are a new file (the atomic rename needs one).
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
  [[noreturn]] void fail_write(int error_number) const;

  std::string path_;
  std::string final_path_;  // path_ with a symbolic link resolved: what is replaced
  std::string temp_path_;
  std::unique_ptr<FdStreamBuf> buffer_;
  std::unique_ptr<std::ostream> file_;
  int registry_slot_ = -1;
  bool finished_ = false;
  bool committed_ = false;
};

// Removes every temporary output file not yet committed or removed. Async-signal-safe
// (unlink only): the tools call it from signal handlers and from the handler of a fatal
// error (out of memory), where no destructor runs.
void remove_temporary_outputs() noexcept;

// The temporary name for `target` in its directory: ".NAME.tmp.PID.N", with NAME
// shortened (and a hash of the full name added) when the result would exceed the
// file system's 255-byte limit on a name.
std::string temporary_name(const std::string& file_name, unsigned long pid, unsigned long counter);

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
