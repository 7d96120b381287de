#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

#include "lexico/error.h"
#include "lexico/gguf.h"
#include "test_gguf_writer.h"

using lexico::GgufFile;
using lexico::GgufType;
using lexico::test::GgufWriter;
using lexico::test::temp_file;

namespace {

// The message of the error opening `bytes` as a GGUF file throws ("" if none).
std::string open_error(const std::vector<uint8_t>& bytes) {
  const std::string path = temp_file("bad.gguf");
  GgufWriter::write_bytes(path, bytes);
  try {
    GgufFile g(path);
  } catch (const lexico::Error& e) {
    CHECK(e.kind() == lexico::ErrorKind::BadInput);
    CHECK(std::string(e.what()).find(path) != std::string::npos);  // names the file
    return e.what();
  }
  return "";
}

GgufWriter small_file(uint32_t version = 3) {
  GgufWriter w(version);
  w.kv_string("general.architecture", "llama");
  w.kv_u32("llama.block_count", 2);
  w.tensor_f32("a", {3, 2}, {1, 2, 3, 4, 5, 6});
  w.tensor_f32("b", {4}, {-1, -2, -3, -4});
  return w;
}

}  // namespace

TEST_CASE("gguf: metadata of every type, arrays included") {
  GgufWriter w;
  w.kv<uint8_t>("u8", 0, 200);
  w.kv<int8_t>("i8", 1, -100);
  w.kv<uint16_t>("u16", 2, 60000);
  w.kv<int16_t>("i16", 3, -30000);
  w.kv<uint32_t>("u32", 4, 4000000000u);
  w.kv<int32_t>("i32", 5, -2000000000);
  w.kv<float>("f32", 6, 0.25f);
  w.kv<uint8_t>("bool", 7, 1);
  w.kv_string("str", "héllo");
  w.kv<uint64_t>("u64", 10, 1ull << 40);
  w.kv<int64_t>("i64", 11, -(1ll << 40));
  w.kv<double>("f64", 12, -1.5);
  w.kv_strings("tokens", {"<s>", "", "\xC4\xA0the"});
  std::vector<uint8_t> floats;
  GgufWriter::put<uint32_t>(floats, 6);
  GgufWriter::put<uint64_t>(floats, 3);
  for (float f : {0.5f, -1.0f, 2.0f}) GgufWriter::put<float>(floats, f);
  w.kv_raw("scores", 9, floats);
  std::vector<uint8_t> ints;
  GgufWriter::put<uint32_t>(ints, 5);
  GgufWriter::put<uint64_t>(ints, 2);
  GgufWriter::put<int32_t>(ints, 1);
  GgufWriter::put<int32_t>(ints, 6);
  w.kv_raw("types", 9, ints);
  std::vector<uint8_t> nested;  // [[7], []] as arrays of u8
  GgufWriter::put<uint32_t>(nested, 9);
  GgufWriter::put<uint64_t>(nested, 2);
  GgufWriter::put<uint32_t>(nested, 0);
  GgufWriter::put<uint64_t>(nested, 1);
  GgufWriter::put<uint8_t>(nested, 7);
  GgufWriter::put<uint32_t>(nested, 0);
  GgufWriter::put<uint64_t>(nested, 0);
  w.kv_raw("nested", 9, nested);
  const std::string path = temp_file("meta.gguf");
  w.write(path);

  GgufFile g(path);
  CHECK(g.version() == 3);
  CHECK(g.metadata().size() == 16);
  CHECK(g.tensors().empty());
  CHECK(g.at("u8").as_int("") == 200);
  CHECK(g.at("i8").as_int("") == -100);
  CHECK(g.at("u16").as_int("") == 60000);
  CHECK(g.at("i16").as_int("") == -30000);
  CHECK(g.at("u32").as_int("") == 4000000000ll);
  CHECK(g.at("i32").as_int("") == -2000000000);
  CHECK(g.at("f32").as_float("") == 0.25);
  CHECK(g.at("f32").is_float());
  CHECK(g.at("bool").as_bool(""));
  CHECK(g.at("str").as_string("") == "héllo");
  CHECK(g.at("u64").as_int("") == (1ll << 40));
  CHECK(g.at("i64").as_int("") == -(1ll << 40));
  CHECK(g.at("f64").as_float("") == -1.5);
  CHECK(g.at("u32").as_float("") == 4e9);  // integers read as numbers too
  CHECK(g.at("tokens").as_strings("") == std::vector<std::string>{"<s>", "", "\xC4\xA0the"});
  CHECK(g.at("scores").as_floats("") == std::vector<float>{0.5f, -1.0f, 2.0f});
  CHECK(g.at("types").as_ints("") == std::vector<int32_t>{1, 6});
  const auto& outer = g.at("nested").as_array("");
  REQUIRE(outer.size() == 2);
  CHECK(outer[0].as_array("").at(0).as_int("") == 7);
  CHECK(outer[1].as_array("").empty());
  CHECK(g.find("absent") == nullptr);
  CHECK_THROWS_AS(g.at("absent"), lexico::Error);
  CHECK_THROWS_AS(g.at("str").as_int("str"), lexico::Error);
  CHECK_THROWS_AS(g.at("f32").as_int("f32"), lexico::Error);
  CHECK_THROWS_AS(g.at("u8").as_string("u8"), lexico::Error);
  CHECK_THROWS_AS(g.at("tokens").as_floats("tokens"), lexico::Error);
}

TEST_CASE("gguf: tensor table, data offset and reading (v2 and v3)") {
  for (uint32_t version : {2u, 3u}) {
    const std::string path = temp_file("t.gguf");
    small_file(version).write(path);
    GgufFile g(path);
    CHECK(g.version() == version);
    CHECK(g.alignment() == 32);
    CHECK(g.data_offset() % 32 == 0);
    REQUIRE(g.tensors().size() == 2);
    const auto& a = g.tensor("a");
    CHECK(a.shape == std::vector<int64_t>{3, 2});
    CHECK(a.row_length() == 3);
    CHECK(a.n_rows() == 2);
    CHECK(a.type == lexico::GgmlType::F32);
    CHECK(g.read(a) == std::vector<float>{1, 2, 3, 4, 5, 6});
    std::vector<float> row(3);
    g.read_rows(a, 1, 1, row.data());
    CHECK(row == std::vector<float>{4, 5, 6});
    const auto& b = g.tensor("b");
    CHECK(b.offset == 32);  // aligned after a's 24 bytes
    CHECK(g.read(b) == std::vector<float>{-1, -2, -3, -4});
    CHECK(g.find_tensor("c") == nullptr);
    CHECK_THROWS_AS(g.tensor("c"), lexico::Error);
  }
}

TEST_CASE("gguf: general.alignment moves the data section and the offsets") {
  GgufWriter w(3, 64);
  w.kv_u32("general.alignment", 64);
  w.tensor_f32("a", {2}, {1, 2});
  w.tensor_f32("b", {2}, {3, 4});
  const std::string path = temp_file("align.gguf");
  w.write(path);
  GgufFile g(path);
  CHECK(g.alignment() == 64);
  CHECK(g.data_offset() % 64 == 0);
  CHECK(g.tensor("b").offset == 64);
  CHECK(g.read(g.tensor("b")) == std::vector<float>{3, 4});

  GgufWriter odd;
  odd.kv_u32("general.alignment", 12);
  CHECK(open_error(odd.bytes()).find("general.alignment 12") != std::string::npos);
}

TEST_CASE("gguf: F16, BF16 and Q8_0 tensors dequantize row by row") {
  GgufWriter w;
  std::vector<uint8_t> f16;
  for (uint16_t h : {0x3c00, 0xc000, 0x3800, 0x0000}) GgufWriter::put<uint16_t>(f16, h);  // 1, -2, 0.5, 0
  w.tensor("h", 1, {2, 2}, f16);
  std::vector<uint8_t> bf16;
  for (uint16_t h : {0x3f80, 0xc040}) GgufWriter::put<uint16_t>(bf16, h);  // 1, -3
  w.tensor("bf", 30, {2}, bf16);
  std::vector<uint8_t> q8;  // two rows of one block: d = 0.5 then d = 2
  for (uint16_t d : {0x3800, 0x4000}) {
    GgufWriter::put<uint16_t>(q8, d);
    for (int i = 0; i < 32; ++i) GgufWriter::put<int8_t>(q8, static_cast<int8_t>(i - 16));
  }
  w.tensor("q", 8, {32, 2}, q8);
  const std::string path = temp_file("types.gguf");
  w.write(path);
  GgufFile g(path);
  CHECK(g.read(g.tensor("h")) == std::vector<float>{1, -2, 0.5f, 0});
  CHECK(g.read(g.tensor("bf")) == std::vector<float>{1, -3});
  const auto q = g.read(g.tensor("q"));
  REQUIRE(q.size() == 64);
  for (int i = 0; i < 32; ++i) {
    CHECK(q[i] == 0.5f * (i - 16));
    CHECK(q[32 + i] == 2.0f * (i - 16));
  }
}

TEST_CASE("gguf: bad magic, version, truncation") {
  auto bytes = small_file().bytes();
  auto bad = bytes;
  bad[0] = 'X';
  CHECK(open_error(bad).find("bad magic") != std::string::npos);
  CHECK(open_error({}).find("bad magic") != std::string::npos);
  bad = bytes;
  bad[4] = 1;  // version 1
  CHECK(open_error(bad).find("unsupported GGUF version 1") != std::string::npos);
  // Every proper prefix of a valid file is rejected cleanly (never read past the end).
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string e = open_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)));
    CHECK_MESSAGE(!e.empty(), "prefix of ", n, " bytes was accepted");
  }
  CHECK(open_error(bytes).empty());
}

TEST_CASE("gguf: hostile counts and offsets") {
  SUBCASE("data out of bounds") {
    GgufWriter w;
    w.tensor_f32("a", {4}, {1, 2, 3, 4});
    auto bytes = w.bytes();
    bytes.resize(bytes.size() - 4);  // the last float is missing
    CHECK(open_error(bytes).find("tensor 'a': data out of bounds") != std::string::npos);
  }
  SUBCASE("offset past the end, misaligned offset") {
    GgufWriter w;
    w.tensor_f32("a", {4}, {1, 2, 3, 4});
    auto bytes = w.bytes();
    // The offset is the 8 bytes before the (32-aligned) data section's padding.
    const size_t info_end = 4 + 4 + 8 + 8 + (8 + 1) + 4 + 8 + 4 + 8;
    uint64_t off = 1ull << 62;
    std::memcpy(bytes.data() + info_end - 8, &off, 8);
    CHECK(open_error(bytes).find("out of bounds") != std::string::npos);
    off = 3;
    std::memcpy(bytes.data() + info_end - 8, &off, 8);
    CHECK(open_error(bytes).find("not a multiple of the alignment") != std::string::npos);
  }
  SUBCASE("shape that overflows") {
    GgufWriter w;
    w.tensor("a", 0, {1ull << 40, 1ull << 40}, {});
    CHECK(open_error(w.bytes()).find("bad shape") != std::string::npos);
  }
  SUBCASE("huge array and counts") {
    GgufWriter w;
    std::vector<uint8_t> arr;
    GgufWriter::put<uint32_t>(arr, 8);
    GgufWriter::put<uint64_t>(arr, 1ull << 60);
    w.kv_raw("tokens", 9, arr);
    CHECK(open_error(w.bytes()).find("runs past the end") != std::string::npos);
    auto bytes = small_file().bytes();
    uint64_t n = 1ull << 61;
    std::memcpy(bytes.data() + 8, &n, 8);  // tensor count
    CHECK(open_error(bytes).find("cannot fit") != std::string::npos);
  }
  SUBCASE("string longer than the file") {
    GgufWriter w;
    std::vector<uint8_t> s;
    GgufWriter::put<uint64_t>(s, ~0ull);
    w.kv_raw("s", 8, s);
    CHECK(open_error(w.bytes()).find("truncated") != std::string::npos);
  }
  SUBCASE("nesting too deep") {
    GgufWriter w;
    std::vector<uint8_t> v;
    for (int i = 0; i < 100; ++i) {
      GgufWriter::put<uint32_t>(v, 9);
      GgufWriter::put<uint64_t>(v, 1);
    }
    GgufWriter::put<uint32_t>(v, 0);
    GgufWriter::put<uint64_t>(v, 0);
    w.kv_raw("deep", 9, v);
    CHECK(open_error(w.bytes()).find("nested too deeply") != std::string::npos);
  }
  SUBCASE("duplicates, bad value types") {
    GgufWriter w;
    w.kv_u32("k", 1);
    w.kv_u32("k", 2);
    CHECK(open_error(w.bytes()).find("duplicate metadata key 'k'") != std::string::npos);
    GgufWriter t;
    t.tensor_f32("a", {1}, {1});
    t.tensor_f32("a", {1}, {1});
    CHECK(open_error(t.bytes()).find("duplicate tensor 'a'") != std::string::npos);
    GgufWriter v;
    v.kv<uint32_t>("x", 13, 0);
    CHECK(open_error(v.bytes()).find("unknown value type 13") != std::string::npos);
    GgufWriter b;
    b.kv<uint8_t>("b", 7, 2);
    CHECK(open_error(b.bytes()).find("neither 0 nor 1") != std::string::npos);
  }
}

TEST_CASE("gguf: unknown and unsupported tensor types") {
  GgufWriter w;
  w.tensor("a", 6, {32}, std::vector<uint8_t>(22));  // Q5_0: a real type this reader does not handle
  CHECK(open_error(w.bytes()).find("unsupported tensor type 6 (Q5_0)") != std::string::npos);
  GgufWriter u;
  u.tensor("a", 99, {32}, std::vector<uint8_t>(32));
  CHECK(open_error(u.bytes()).find("unsupported tensor type 99 (unknown)") != std::string::npos);
  GgufWriter r;
  r.tensor("a", 8, {16}, std::vector<uint8_t>(34));  // Q8_0 rows are whole blocks of 32
  CHECK(open_error(r.bytes()).find("not a multiple of the Q8_0 block size 32") != std::string::npos);
}

TEST_CASE("gguf: randomly corrupted files open cleanly or fail with an error") {
  const auto good = small_file().bytes();
  const std::string path = temp_file("fuzz.gguf");
  std::mt19937 rng(11);
  int opened = 0;
  for (int trial = 0; trial < 500; ++trial) {
    auto bytes = good;
    for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    GgufWriter::write_bytes(path, bytes);
    try {
      GgufFile g(path);
      for (const auto& t : g.tensors()) g.read(t);  // every table entry stays inside the file
      ++opened;
    } catch (const lexico::Error&) {
    }
  }
  CHECK(opened > 0);
}
