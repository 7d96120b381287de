// A minimal GGUF writer for tests: builds files byte by byte so each test can
// make exactly the (valid or broken) file it needs.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace lexico::test {

// A path in a per-process scratch folder, removed when the tests exit.
inline std::string temp_file(const std::string& name) {
  struct Dir {
    std::filesystem::path path;
    Dir() : path(std::filesystem::temp_directory_path() / ("lexico-unit-" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return (dir.path / name).string();
}

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3, uint64_t alignment = 32) : version_(version), alignment_(alignment) {}

  // Raw pieces, for building values by hand.
  template <typename T>
  static void put(std::vector<uint8_t>& out, T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  static void put_string(std::vector<uint8_t>& out, const std::string& s) {
    put<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
  }

  // A metadata entry whose value bytes (after the type) are given.
  void kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& value) {
    put_string(kv_, key);
    put<uint32_t>(kv_, type);
    kv_.insert(kv_.end(), value.begin(), value.end());
    ++n_kv_;
  }
  template <typename T>
  void kv(const std::string& key, uint32_t type, T v) {
    std::vector<uint8_t> b;
    put<T>(b, v);
    kv_raw(key, type, b);
  }
  void kv_u32(const std::string& key, uint32_t v) { kv(key, 4, v); }
  void kv_f32(const std::string& key, float v) { kv(key, 6, v); }
  void kv_string(const std::string& key, const std::string& v) {
    std::vector<uint8_t> b;
    put_string(b, v);
    kv_raw(key, 8, b);
  }
  void kv_strings(const std::string& key, const std::vector<std::string>& v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, 8);
    put<uint64_t>(b, v.size());
    for (const auto& s : v) put_string(b, s);
    kv_raw(key, 9, b);
  }

  // A tensor of `type` with dims (fastest first) and raw data bytes.
  void tensor(const std::string& name, uint32_t type, const std::vector<uint64_t>& dims, const std::vector<uint8_t>& data) {
    put_string(info_, name);
    put<uint32_t>(info_, static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) put<uint64_t>(info_, d);
    put<uint32_t>(info_, type);
    while (data_.size() % alignment_) data_.push_back(0);
    put<uint64_t>(info_, data_.size());
    data_.insert(data_.end(), data.begin(), data.end());
    ++n_tensors_;
  }
  void tensor_f32(const std::string& name, const std::vector<uint64_t>& dims, const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    tensor(name, 0, dims, b);
  }

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    put<uint32_t>(out, 0x46554747);
    put<uint32_t>(out, version_);
    put<uint64_t>(out, n_tensors_);
    put<uint64_t>(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    out.insert(out.end(), info_.begin(), info_.end());
    while (out.size() % alignment_) out.push_back(0);
    out.insert(out.end(), data_.begin(), data_.end());
    return out;
  }
  void write(const std::string& path) const { write_bytes(path, bytes()); }

  static void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }

 private:
  uint32_t version_;
  uint64_t alignment_;
  uint64_t n_kv_ = 0, n_tensors_ = 0;
  std::vector<uint8_t> kv_, info_, data_;
};

}  // namespace lexico::test
