// Argument parsing for the executables (header-only: only apps use CLI11).
#pragma once
#include <CLI/CLI.hpp>

#include "lexico/error.h"

namespace lexico {

// Parses argv. Returns -1 to go on; otherwise the exit code: 0 after --help or
// --version, 2 (usage) after any other parse error, whose message CLI11 prints.
inline int parse_arguments(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ErrorKind::Usage);
  }
}

}  // namespace lexico
