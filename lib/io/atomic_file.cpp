#include "lexico/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "lexico/error.h"

namespace lexico {

namespace fs = std::filesystem;

AtomicOutput::AtomicOutput(std::string final_path) : final_(std::move(final_path)) {
  if (final_.empty() || final_ == "-") usage_error(final_, "an output file name is required here");
  fs::path dir = fs::path(final_).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) io_error(final_, "output folder {} does not exist", dir.string());
  if (fs::is_directory(final_, ec)) io_error(final_, "output path is a folder");
  // The rename would replace a device or pipe (as root, /dev/null itself).
  if (fs::exists(fs::symlink_status(final_, ec)) && !fs::is_regular_file(fs::symlink_status(final_, ec)))
    io_error(final_, "exists and is not a regular file; an output replaces only files");
  if (access(dir.c_str(), W_OK) != 0) io_error(final_, "output folder {} is not writable", dir.string());
  static std::atomic<int> counter{0};
  temp_ = fmt::format("{}.tmp.{}.{}", final_, static_cast<long>(getpid()), counter++);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicOutput::commit() {
  int fd = open(temp_.c_str(), O_RDONLY);
  if (fd < 0) io_error(temp_, "cannot reopen temporary output: {}", std::strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) io_error(final_, "cannot flush output to disk: {}", std::strerror(err));
  if (std::rename(temp_.c_str(), final_.c_str()) != 0)
    io_error(final_, "cannot rename {} into place: {}", temp_, std::strerror(errno));
  committed_ = true;
}

void write_text_file(const std::string& path, std::string_view text) {
  if (path == "-") {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
      io_error("stdout", "cannot write: {}", std::strerror(errno));
    return;
  }
  AtomicOutput out(path);
  std::FILE* f = std::fopen(out.temp_path().c_str(), "wb");
  if (!f) io_error(path, "cannot create {}: {}", out.temp_path(), std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int err = errno;
  if (std::fclose(f) != 0 || !written) io_error(path, "cannot write: {}", std::strerror(written ? errno : err));
  out.commit();
}

}  // namespace lexico
