#include "lexico/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "lexico/error.h"

namespace lexico {

namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  std::string host(name);
  for (char& c : host)  // the name is part of a file name
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
  return host;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() < 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// Removes "<final>.tmp.<host>.<pid>.<n>" left by a process of this host that
// no longer exists (killed with SIGKILL, or its machine reset, before its
// destructor ran). Files of live processes and of other hosts (a shared file
// system) stay. Best effort: a file that cannot be removed is left.
void remove_stale_temporaries(const fs::path& dir, const std::string& final_name, const std::string& host) {
  const std::string prefix = final_name + ".tmp." + host + ".";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string_view rest = std::string_view(name).substr(prefix.size());  // "<pid>.<n>"
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || !all_digits(rest.substr(0, dot)) || !all_digits(rest.substr(dot + 1)))
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(std::string(rest.substr(0, dot))));
    if (pid <= 0 || pid == getpid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to know
    std::error_code rm;
    fs::remove(it->path(), rm);
  }
}

}  // namespace

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
  static const std::string host = host_name();
  remove_stale_temporaries(dir, fs::path(final_).filename().string(), host);
  static std::atomic<int> counter{0};
  temp_ = fmt::format("{}.tmp.{}.{}.{}", final_, host, static_cast<long>(getpid()), counter++);
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
