// One error type for the whole library: what went wrong and where (a file,
// a dataset, an option). Apps catch it in main, print one line, and exit
// with the code of its kind (see man/lexico.1, EXIT STATUS).
#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace lexico {

enum class ErrorKind {
  Usage = 2,     // bad option value or combination
  BadInput = 3,  // an input file or text is missing, malformed or inconsistent
  Io = 4,        // an output could not be written (permissions, disk full)
  Internal = 1,  // a bug or a resource failure inside lexico
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what), kind_(kind), where_(std::move(where)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& where() const { return where_; }
  int exit_code() const { return static_cast<int>(kind_); }

 private:
  ErrorKind kind_;
  std::string where_;
};

// Shorthands: bad_input("dump.h5", "layer {} is empty", 3)
template <typename... Args>
[[noreturn]] void bad_input(const std::string& where, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::BadInput, where, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void usage_error(const std::string& where, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Usage, where, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void io_error(const std::string& where, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Io, where, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void internal_error(const std::string& where, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Internal, where, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace lexico
