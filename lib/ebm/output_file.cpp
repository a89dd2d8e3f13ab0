#include "ebm/output_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <system_error>

#include "ebm/errors.h"

namespace ebm {

namespace {
constexpr const char* kStdoutName = "<stdout>";
}  // namespace

OutputFile::OutputFile(const std::string& path) : path_(path) {
  if (path_ == "-") return;
  namespace fs = std::filesystem;
  const fs::path target(path_);
  std::error_code ignored;
  if (!target.has_filename() || fs::is_directory(target, ignored)) {
    // Found now rather than at rename time, after all the work is done.
    throw DataError(path_ + ": cannot create: " + std::strerror(EISDIR));
  }
  // A device, FIFO or socket (/dev/null, /dev/full, /dev/stdout, a named pipe) is written
  // in place: renaming a temporary file over it would replace the device node itself
  // wherever the directory is writable (e.g. /dev as root) instead of writing to it.
  const fs::file_status status = fs::status(target, ignored);
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    errno = 0;
    file_.open(path_, std::ios::binary);
    if (!file_.is_open()) throw DataError(path_ + ": cannot open: " + error_text(errno));
    return;  // temp_path_ stays empty: nothing to rename or remove
  }
  // Same directory as the target, so the final rename stays within one file system and
  // is atomic; pid and counter keep concurrent writers (processes and objects) apart.
  static std::atomic<unsigned long> counter{0};
  const std::string temp_name = "." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                                std::to_string(counter.fetch_add(1));
  temp_path_ = (target.parent_path() / temp_name).string();
  errno = 0;
  file_.open(temp_path_, std::ios::binary | std::ios::trunc);
  if (!file_.is_open()) throw DataError(path_ + ": cannot create: " + error_text(errno));
}

OutputFile::~OutputFile() {
  if (path_ == "-" || committed_) return;
  if (file_.is_open()) file_.close();
  if (!temp_path_.empty()) std::remove(temp_path_.c_str());
}

std::ostream& OutputFile::stream() {
  if (path_ == "-") return std::cout;
  return file_;
}

void OutputFile::finish() {
  if (finished_) return;
  if (path_ == "-") {
    errno = 0;
    std::cout.flush();
    if (!std::cout) throw DataError(std::string(kStdoutName) + ": cannot write: " + error_text(errno));
    finished_ = true;
    return;
  }
  errno = 0;
  file_.flush();
  if (!file_) throw DataError(path_ + ": cannot write: " + error_text(errno));
  file_.close();
  if (file_.fail()) throw DataError(path_ + ": cannot write: " + error_text(errno));
  finished_ = true;
}

void OutputFile::commit() {
  if (committed_) return;
  finish();
  if (path_ != "-" && !temp_path_.empty() && std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    throw DataError(path_ + ": cannot write: " + error_text(errno));
  }
  committed_ = true;
}

namespace {

// What identifies a file: device and inode if it exists (following links), else the
// absolute normalised path it would be created at. Empty for "-" and non-regular files.
std::string file_identity(const std::string& path) {
  if (path.empty() || path == "-") return "";
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (!S_ISREG(info.st_mode)) return "";
    return "inode:" + std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino);
  }
  std::error_code ignored;
  return "path:" + std::filesystem::weakly_canonical(std::filesystem::absolute(path, ignored), ignored).string();
}

}  // namespace

void check_distinct_files(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
  std::vector<std::pair<std::string, const NamedPath*>> seen;
  for (const NamedPath& in : inputs) seen.emplace_back(file_identity(in.path), &in);
  const std::size_t input_count = seen.size();
  for (const NamedPath& out : outputs) {
    const std::string id = file_identity(out.path);
    if (id.empty()) continue;
    for (std::size_t i = 0; i < seen.size(); ++i) {
      if (seen[i].first != id) continue;
      const NamedPath& other = *seen[i].second;
      throw UsageError(out.option + " " + out.path + " is the same file as " + other.option + " " + other.path +
                       (i < input_count ? ", an input: an output never replaces an input"
                                        : ": two outputs of one run cannot share a file"));
    }
    seen.emplace_back(id, &out);
  }
}

}  // namespace ebm
