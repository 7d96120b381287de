// A whole file mapped read-only into memory. Model files are large and read
// once, piecewise: mapping lets the OS page them in and out on demand.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lexico {

class MappedFile {
 public:
  // Throws BadInput when the file is missing or unreadable.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lexico
