#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "lexico/error.h"
#include "lexico/llama2c.h"
#include "test_gguf_writer.h"

using lexico::Llama2cFile;
using lexico::test::temp_file;

namespace {

// A checkpoint whose every float is its own index, so slices can be located.
void write_checkpoint(const std::string& path, std::vector<int32_t> header, size_t n_floats) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header.data()), 28);
  for (size_t i = 0; i < n_floats; ++i) {
    const float f = static_cast<float>(i);
    out.write(reinterpret_cast<const char*>(&f), 4);
  }
}

// Floats of a checkpoint with these dimensions (freq_cis tables included).
size_t n_floats(int dim, int hidden, int layers, int heads, int kv_heads, int vocab, int seq, bool shared) {
  const size_t kv = static_cast<size_t>(dim) / heads * kv_heads;
  return static_cast<size_t>(vocab) * dim + layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * size_t(hidden) * dim) +
         dim + static_cast<size_t>(seq) * (dim / heads) + (shared ? 0 : static_cast<size_t>(vocab) * dim);
}

}  // namespace

TEST_CASE("llama2c: header and weight layout") {
  const std::string path = temp_file("tiny.bin");
  // dim 8, hidden 12, 2 layers, 4 heads, 2 KV heads, vocab 5, seq 3
  write_checkpoint(path, {8, 12, 2, 4, 2, 5, 3}, n_floats(8, 12, 2, 4, 2, 5, 3, true));
  Llama2cFile f(path);
  const auto& h = f.header();
  CHECK(h.dim == 8);
  CHECK(h.head_dim() == 2);
  CHECK(h.kv_dim() == 4);
  CHECK(h.shared_classifier);
  CHECK(f.tensor("token_embedding_table").data[0] == 0);
  CHECK(f.tensor("rms_att_weight").data[0] == 40);  // after 5 x 8 embeddings
  CHECK(f.tensor("wq").shape == std::vector<int64_t>{2, 8, 8});
  CHECK(f.tensor("wk").shape == std::vector<int64_t>{2, 4, 8});
  CHECK(f.tensor("wq").data[0] == 40 + 16);
  CHECK(f.tensor("wk").data[0] == 40 + 16 + 128);
  CHECK(f.tensor("w2").shape == std::vector<int64_t>{2, 8, 12});
  CHECK(f.tensor("wcls").data == f.tensor("token_embedding_table").data);
  CHECK_THROWS_AS(f.tensor("nope"), lexico::Error);
}

TEST_CASE("llama2c: negative vocab_size means an unshared classifier") {
  const std::string path = temp_file("unshared.bin");
  const size_t n = n_floats(8, 12, 1, 2, 2, 5, 3, false);
  write_checkpoint(path, {8, 12, 1, 2, 2, -5, 3}, n);
  Llama2cFile f(path);
  CHECK(f.header().vocab_size == 5);
  CHECK_FALSE(f.header().shared_classifier);
  CHECK(f.tensor("wcls").data[0] == static_cast<float>(n - 40));  // the last 5 x 8 floats
}

TEST_CASE("llama2c: bad headers and truncated files") {
  const std::string path = temp_file("bad.bin");
  auto error = [&]() -> std::string {
    try {
      Llama2cFile f(path);
    } catch (const lexico::Error& e) {
      return e.what();
    }
    return "";
  };
  write_checkpoint(path, {8, 12, 2, 4, 2, 5, 3}, n_floats(8, 12, 2, 4, 2, 5, 3, true) - 1);
  CHECK(error().find("truncated file") != std::string::npos);
  write_checkpoint(path, {8, 12, 2, 3, 2, 5, 3}, 1000);
  CHECK(error().find("bad llama2.c header") != std::string::npos);
  write_checkpoint(path, {0, 12, 2, 4, 2, 5, 3}, 1000);
  CHECK(error().find("bad llama2.c header") != std::string::npos);
  write_checkpoint(path, {1 << 30, 1 << 30, 1 << 30, 2, 2, 5, 3}, 10);  // sizes that overflow
  CHECK(error().find("truncated file") != std::string::npos);
  std::ofstream(path, std::ios::binary) << "abc";
  CHECK(error().find("no llama2.c header") != std::string::npos);
}

TEST_CASE("llama2c: stories260K header") {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  const std::filesystem::path path = std::filesystem::path(env ? env : LEXICO_SHARED_DIR) / "models/stories260K/stories260K.bin";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: ", path.string(), " is absent (shared data not available)");
    return;
  }
  Llama2cFile f(path.string());
  const auto& h = f.header();
  CHECK(h.dim == 64);
  CHECK(h.hidden_dim == 172);
  CHECK(h.n_layers == 5);
  CHECK(h.n_heads == 8);
  CHECK(h.n_kv_heads == 4);
  CHECK(h.vocab_size == 512);
  CHECK(h.seq_len == 512);
  CHECK(h.shared_classifier);
}
