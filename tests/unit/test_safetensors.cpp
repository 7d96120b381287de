#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "lexico/error.h"
#include "lexico/safetensors.h"
#include "test_gguf_writer.h"

using lexico::Safetensors;
using lexico::test::temp_file;

namespace {

// Writes an 8-byte header length, the JSON header and the data.
void write_st(const std::string& path, const std::string& header, const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::vector<uint8_t> floats(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string open_error(const std::string& path) {
  try {
    Safetensors s(path);
  } catch (const lexico::Error& e) {
    CHECK(e.kind() == lexico::ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: F32, F16 and BF16 tensors from one file") {
  std::vector<uint8_t> data = floats({1, 2, 3, 4, 5, 6});
  for (uint16_t h : {0x3c00, 0xc000}) data.insert(data.end(), {uint8_t(h & 255), uint8_t(h >> 8)});  // F16 1, -2
  for (uint16_t h : {0x3f80, 0xc040}) data.insert(data.end(), {uint8_t(h & 255), uint8_t(h >> 8)});  // BF16 1, -3
  const std::string path = temp_file("one.safetensors");
  write_st(path,
           R"({"__metadata__": {"format": "pt"},
               "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
               "h": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
               "b": {"dtype": "BF16", "shape": [2], "data_offsets": [28, 32]},
               "e": {"dtype": "F32", "shape": [0], "data_offsets": [32, 32]}})",
           data);
  Safetensors s(path);
  CHECK(s.tensors().size() == 4);
  const auto& w = s.tensor("w");
  CHECK(w.shape == std::vector<int64_t>{2, 3});
  CHECK(s.read(w) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(s.read(s.tensor("h")) == std::vector<float>{1, -2});
  CHECK(s.read(s.tensor("b")) == std::vector<float>{1, -3});
  CHECK(s.read(s.tensor("e")).empty());
  CHECK(s.find("nope") == nullptr);
  CHECK_THROWS_AS(s.tensor("nope"), lexico::Error);
  // A folder with model.safetensors opens too.
  const auto dir = std::filesystem::path(temp_file("stdir"));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(path, dir / "model.safetensors", std::filesystem::copy_options::overwrite_existing);
  CHECK(Safetensors(dir.string()).tensors().size() == 4);
}

TEST_CASE("safetensors: sharded checkpoints follow the index's weight_map") {
  const auto dir = std::filesystem::path(temp_file("sharded"));
  std::filesystem::create_directories(dir);
  write_st((dir / "model-00001-of-00002.safetensors").string(),
           R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", floats({1, 2}));
  write_st((dir / "model-00002-of-00002.safetensors").string(),
           R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", floats({3}));
  {
    std::ofstream idx(dir / "model.safetensors.index.json");
    idx << R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                               "b": "model-00002-of-00002.safetensors"}})";
  }
  Safetensors s(dir.string());
  CHECK(s.read(s.tensor("a")) == std::vector<float>{1, 2});
  CHECK(s.read(s.tensor("b")) == std::vector<float>{3});
  CHECK(std::filesystem::path(*s.tensor("b").file).filename() == "model-00002-of-00002.safetensors");
  {
    std::ofstream idx(dir / "model.safetensors.index.json");
    idx << R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})";
  }
  CHECK(open_error(dir.string()).find("tensor 'a' is not in model-00002-of-00002.safetensors") != std::string::npos);
  {
    std::ofstream idx(dir / "model.safetensors.index.json");
    idx << R"({"weight_map": {"a": "../escape.safetensors"}})";
  }
  CHECK(open_error(dir.string()).find("bad shard name") != std::string::npos);
}

TEST_CASE("safetensors: malformed files") {
  const std::string path = temp_file("bad.safetensors");
  SUBCASE("data out of bounds") {
    write_st(path, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", floats({1, 2, 3}));
    const std::string e = open_error(path);
    CHECK(e.find(path) != std::string::npos);
    CHECK(e.find("tensor 'w': data out of bounds") != std::string::npos);
  }
  SUBCASE("size does not match shape and dtype") {
    write_st(path, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", floats({1, 2, 3}));
    CHECK(open_error(path).find("8 bytes of data for 3 F32 values") != std::string::npos);
  }
  SUBCASE("header length past the end") {
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = 1000;
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << "{}";
    out.close();
    CHECK(open_error(path).find("bad safetensors header length 1000") != std::string::npos);
  }
  SUBCASE("truncated and not JSON") {
    std::ofstream(path, std::ios::binary) << "abc";
    CHECK(open_error(path).find("truncated") != std::string::npos);
    write_st(path, "{not json", {});
    CHECK(open_error(path).find("JSON") != std::string::npos);
  }
  SUBCASE("missing field names the file") {
    write_st(path, R"({"w": {"dtype": "F32", "shape": [1]}})", floats({1}));
    const std::string e = open_error(path);
    CHECK(e.find(path) != std::string::npos);
    CHECK(e.find("data_offsets") != std::string::npos);
  }
  SUBCASE("unsupported dtype is reported when read") {
    write_st(path, R"({"i": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", std::vector<uint8_t>(8));
    Safetensors s(path);
    CHECK_THROWS_WITH_AS(s.read(s.tensor("i")), doctest::Contains("unsupported dtype I64"), lexico::Error);
  }
}
