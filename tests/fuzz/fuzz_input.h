// Shared by the fuzz targets: the readers take paths, so the input goes to a
// per-process file in RAM; and a reader may fail only with lexico::Error of
// kind BadInput. Anything else (a crash, a sanitizer report, another
// exception escaping, an internal error) is a finding: abort so libFuzzer
// saves the input.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "lexico/error.h"

namespace lexico::fuzz {

// Rewrites <dir>/lexico-fuzz-<pid><suffix> with the input and returns its
// path. /dev/shm keeps the per-execution write off the disk.
inline std::string input_file(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::string dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/lexico-fuzz-" + std::to_string(::getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

// Runs a reader on the input; a BadInput error is the expected way to refuse
// it (printed with LEXICO_FUZZ_VERBOSE=1, to see why a seed is refused).
template <typename F>
void expect_only_bad_input(F&& read) {
  try {
    read();
  } catch (const Error& e) {
    static const bool verbose = std::getenv("LEXICO_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
    if (e.kind() != ErrorKind::BadInput) {
      std::fprintf(stderr, "finding: a reader failed with a non-input error (exit %d): %s\n", e.exit_code(), e.what());
      std::abort();
    }
  }
}

}  // namespace lexico::fuzz
