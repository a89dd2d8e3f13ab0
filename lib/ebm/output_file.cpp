#include "ebm/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <system_error>

#include "ebm/errors.h"

namespace ebm {

namespace {
constexpr const char* kStdoutName = "<stdout>";

// Temporary files of this process, for remove_temporary_outputs(): fixed slots, so that a
// signal handler can read them without locks or allocation.
constexpr int kRegistrySlots = 64;
constexpr std::size_t kRegistryPathBytes = 4096;
struct RegistrySlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 holds a path
  char path[kRegistryPathBytes];
};
RegistrySlot g_registry[kRegistrySlots];

int register_temporary(const std::string& path) {
  if (path.size() >= kRegistryPathBytes) return -1;
  for (int i = 0; i < kRegistrySlots; ++i) {
    int expected = 0;
    if (g_registry[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_registry[i].path, path.c_str(), path.size() + 1);
      g_registry[i].state.store(2);  // published once complete: a handler reads only state 2
      return i;
    }
  }
  return -1;  // more than 64 open outputs: still removed by the destructor, not by a signal
}

void unregister_temporary(int slot) {
  if (slot >= 0) g_registry[slot].state.store(0);
}

// FNV-1a, for the shortened temporary name.
std::uint64_t name_hash(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The file a path names, with a symbolic link (chain) resolved; the path itself otherwise
// (also for a dangling link, which is then replaced by the new file).
std::string resolve_link(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_symlink(fs::symlink_status(path, error))) return path;
  const fs::path real = fs::canonical(path, error);
  return error ? path : real.string();
}
}  // namespace

void remove_temporary_outputs() noexcept {
  for (auto& slot : g_registry) {
    if (slot.state.load() == 2) ::unlink(slot.path);
  }
}

std::string temporary_name(const std::string& file_name, unsigned long pid, unsigned long counter) {
  const std::string suffix = ".tmp." + std::to_string(pid) + "." + std::to_string(counter);
  constexpr std::size_t kMaxName = 255;  // NAME_MAX of Linux file systems
  if (1 + file_name.size() + suffix.size() <= kMaxName) return "." + file_name + suffix;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(name_hash(file_name)));
  const std::size_t keep = kMaxName - 1 - 1 - 16 - suffix.size();
  return "." + file_name.substr(0, keep) + "~" + hash + suffix;
}

// ------------------------------------------------------------------- FdStreamBuf

FdStreamBuf::FdStreamBuf(int fd, bool owns) : fd_(fd), owns_(owns), buffer_(1 << 16) {
  setp(buffer_.data(), buffer_.data() + buffer_.size());
}

FdStreamBuf::~FdStreamBuf() {
  if (fd_ >= 0 && owns_) ::close(fd_);
}

bool FdStreamBuf::write_all(const char* data, std::size_t count) {
  while (count > 0 && error_ == 0) {
    const ssize_t written = ::write(fd_, data, count);
    if (written < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
    } else if (written == 0) {
      error_ = EIO;
    } else {
      data += written;
      count -= static_cast<std::size_t>(written);
    }
  }
  return error_ == 0;
}

bool FdStreamBuf::flush_buffer() {
  const std::size_t pending = static_cast<std::size_t>(pptr() - pbase());
  const bool ok = error_ == 0 && write_all(pbase(), pending);
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  return ok;
}

FdStreamBuf::int_type FdStreamBuf::overflow(int_type c) {
  if (!flush_buffer()) return traits_type::eof();
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  *pptr() = traits_type::to_char_type(c);
  pbump(1);
  return c;
}

std::streamsize FdStreamBuf::xsputn(const char* data, std::streamsize count) {
  // An empty string_view may carry a null pointer, and memcpy from null is undefined even
  // for zero bytes.
  if (count <= 0) return 0;
  if (count <= epptr() - pptr()) {
    std::memcpy(pptr(), data, static_cast<std::size_t>(count));
    pbump(static_cast<int>(count));
    return count;
  }
  if (!flush_buffer() || !write_all(data, static_cast<std::size_t>(count))) return 0;
  return count;
}

int FdStreamBuf::sync() { return flush_buffer() ? 0 : -1; }

bool FdStreamBuf::close() {
  bool ok = flush_buffer();
  if (fd_ >= 0 && owns_) {
    if (::close(fd_) != 0 && error_ == 0) error_ = errno;
    fd_ = -1;
  }
  return ok && error_ == 0;
}

// -------------------------------------------------------------------- OutputFile

OutputFile::OutputFile(const std::string& path) : path_(path) {
  if (path_ == "-") {
    // Standard output through the same buffer as a file, so that a failed write keeps its
    // errno ("No space left on device"; std::cout's would read "Input/output error").
    std::cout.flush();
    buffer_ = std::make_unique<FdStreamBuf>(STDOUT_FILENO, false);
    file_ = std::make_unique<std::ostream>(buffer_.get());
    return;
  }
  namespace fs = std::filesystem;
  std::error_code ignored;
  if (!fs::path(path_).has_filename() || fs::is_directory(path_, ignored)) {
    // Found now rather than at rename time, after all the work is done.
    throw DataError(path_ + ": cannot create: " + std::strerror(EISDIR));
  }
  final_path_ = resolve_link(path_);
  const fs::path target(final_path_);
  struct stat existing {};
  const bool exists = ::stat(final_path_.c_str(), &existing) == 0;
  // A device, FIFO or socket (/dev/null, /dev/full, /dev/stdout, a named pipe) is written
  // in place: renaming a temporary file over it would replace the device node itself
  // wherever the directory is writable (e.g. /dev as root) instead of writing to it.
  if (exists && !S_ISREG(existing.st_mode)) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) throw DataError(path_ + ": cannot open: " + error_text(errno));
    buffer_ = std::make_unique<FdStreamBuf>(fd);
    file_ = std::make_unique<std::ostream>(buffer_.get());
    return;  // temp_path_ stays empty: nothing to rename or remove
  }
  // Same directory as the target, so the final rename stays within one file system and
  // is atomic; pid and counter keep concurrent writers (processes and objects) apart.
  static std::atomic<unsigned long> counter{0};
  const std::string temp_name =
      temporary_name(target.filename().string(), static_cast<unsigned long>(::getpid()), counter.fetch_add(1));
  temp_path_ = (target.parent_path() / temp_name).string();
  registry_slot_ = register_temporary(temp_path_);
  const int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, exists ? 0600 : 0666);
  if (fd < 0) {
    const int error_number = errno;
    unregister_temporary(registry_slot_);
    throw DataError(path_ + ": cannot create: " + error_text(error_number));
  }
  if (exists) {
    // Replacing a file keeps its permissions (a 0600 model stays private) and, where the
    // user may, its owner and group.
    if (::fchown(fd, existing.st_uid, existing.st_gid) != 0) { /* an ordinary user keeps their own */ }
    if (::fchmod(fd, existing.st_mode & 07777) != 0) { /* best effort, as for the owner */ }
  }
  buffer_ = std::make_unique<FdStreamBuf>(fd);
  file_ = std::make_unique<std::ostream>(buffer_.get());
}

OutputFile::~OutputFile() {
  if (path_ == "-" || committed_) return;
  file_.reset();
  buffer_.reset();  // closes the descriptor
  if (!temp_path_.empty()) std::remove(temp_path_.c_str());
  unregister_temporary(registry_slot_);
}

std::ostream& OutputFile::stream() { return *file_; }

void OutputFile::fail_write(int error_number) const {
  throw DataError(path_ + ": cannot write: " + error_text(error_number));
}

void OutputFile::finish() {
  if (finished_) return;
  if (path_ == "-") {
    file_->flush();
    if (!buffer_->close() || !*file_) {
      throw DataError(std::string(kStdoutName) + ": cannot write: " + error_text(buffer_->error()));
    }
    finished_ = true;
    return;
  }
  file_->flush();
  const bool closed = buffer_->close();
  if (!closed || !*file_) fail_write(buffer_->error());
  finished_ = true;
}

void OutputFile::commit() {
  if (committed_) return;
  finish();
  if (path_ != "-" && !temp_path_.empty() && std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    fail_write(errno);
  }
  unregister_temporary(registry_slot_);
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
