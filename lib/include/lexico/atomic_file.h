// Outputs are written under a temporary name beside the final one and renamed
// into place only when complete, so a failure or a kill never leaves a half
// file under the final name and never destroys what the user had.
#pragma once
#include <string>
#include <string_view>

namespace lexico {

class AtomicOutput {
 public:
  // Checks that the final path's folder is writable; picks a unique temporary
  // name "<final>.tmp.<host>.<pid>.<n>" in the same folder (same file system)
  // and removes such names that a dead process of this host left behind
  // (a SIGKILL skips the destructor).
  explicit AtomicOutput(std::string final_path);
  ~AtomicOutput();  // removes the temporary file unless commit() ran
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& temp_path() const { return temp_; }
  const std::string& final_path() const { return final_; }
  // fsyncs the temporary file and renames it over the final name.
  void commit();

 private:
  std::string final_, temp_;
  bool committed_ = false;
};

// Writes a whole text file through AtomicOutput ("-": standard output).
// Throws lexico::Error (Io) when it cannot be written in full.
void write_text_file(const std::string& path, std::string_view text);

}  // namespace lexico
