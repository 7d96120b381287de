// SHA-256 (FIPS 180-4). Codes files carry the digest of the dictionary they
// were made with, so they can never be decoded with the wrong one.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lexico {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::array<uint8_t, 32> finish();
  std::string hex();  // finish() as 64 lowercase hex digits

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace lexico
