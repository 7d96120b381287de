// Writes the seed corpora of the fuzz targets, one folder per target, with the
// project's own writers: small valid files the mutations start from.
//   fuzz-seeds <dir>        (scripts/fuzz adds ../shared's small files when present)
#include <Eigen/Core>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lexico/codes_file.h"
#include "lexico/dictionary.h"
#include "lexico/error.h"
#include "lexico/fp8.h"
#include "lexico/half.h"
#include "lexico/json.h"
#include "lexico/kv_dump.h"
#include "test_gguf_writer.h"
#include "test_model_files.h"

namespace fs = std::filesystem;
using namespace lexico;
using lexico::test::GgufWriter;

namespace {

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// GPT-2's byte-to-unicode alphabet: printable bytes stand for themselves, the
// others for code points from U+0100 on, in byte order. UTF-8 encoded.
std::string byte_level_char(unsigned char b) {
  auto printable = [](int c) { return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE; };
  uint32_t cp = b;
  if (!printable(b)) {
    cp = 0x100;
    for (int c = 0; c < b; ++c) cp += printable(c) ? 0 : 1;
  }
  if (cp < 0x80) return std::string(1, static_cast<char>(cp));
  return {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
}

// A byte-level BPE vocabulary: the 256 bytes, then merged pieces.
struct ByteBpe {
  std::vector<std::string> tokens;
  std::vector<std::string> merges = {"h e", "l l", "he ll", "Ġ w", "o r", "Ġw or"};
  ByteBpe() {
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_level_char(static_cast<unsigned char>(b)));
    for (const char* t : {"he", "ll", "hell", "Ġw", "or", "Ġwor"}) tokens.push_back(t);
  }
};

std::string tokenizer_json(const std::string& pre_tokenizer, const std::string& post_processor) {
  const ByteBpe bpe;
  std::string vocab, merges;
  for (size_t id = 0; id < bpe.tokens.size(); ++id)
    vocab += fmt::format("{}\"{}\": {}", id ? ", " : "", json::escape(bpe.tokens[id]), id);
  for (size_t i = 0; i < bpe.merges.size(); ++i) merges += fmt::format("{}\"{}\"", i ? ", " : "", bpe.merges[i]);
  const size_t n = bpe.tokens.size();
  return fmt::format(
      R"({{"version": "1.0", "added_tokens": [{{"id": {}, "content": "<|im_start|>", "special": true}},
  {{"id": {}, "content": "<|im_end|>", "special": true}}, {{"id": {}, "content": "<user>", "special": false}}],
"normalizer": null, "pre_tokenizer": {}, "post_processor": {}, "decoder": {{"type": "ByteLevel"}},
"model": {{"type": "BPE", "dropout": null, "vocab": {{{}}}, "merges": [{}]}}}})",
      n, n + 1, n + 3, pre_tokenizer, post_processor, vocab, merges);
}

void tokenizer_json_seeds(const fs::path& dir) {
  write_file(dir / "gpt2.json", tokenizer_json(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})",
                                               "null"));
  write_file(dir / "smollm.json",
             tokenizer_json(R"({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]})",
                            R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|im_start|>"}},
                {"Sequence": {"id": "A"}}]})"));
}

void gguf_tokenizer(GgufWriter& g, bool sentencepiece) {
  std::vector<uint8_t> types, scores;
  GgufWriter::put<uint32_t>(types, 5);  // int32 array
  GgufWriter::put<uint32_t>(scores, 6);  // float32 array
  std::vector<std::string> tokens;
  if (sentencepiece) {
    tokens = {"<unk>", "<s>", "</s>"};
    for (int b = 0; b < 256; ++b) tokens.push_back(fmt::format("<0x{:02X}>", b));
    for (const char* t : {"\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "on", "ce"}) tokens.push_back(t);
    g.kv_string("tokenizer.ggml.model", "llama");
  } else {
    tokens = ByteBpe().tokens;
    tokens.push_back("<|endoftext|>");
    g.kv_string("tokenizer.ggml.model", "gpt2");
    g.kv_strings("tokenizer.ggml.merges", ByteBpe().merges);
    g.kv_string("tokenizer.ggml.pre", "smollm");
  }
  GgufWriter::put<uint64_t>(types, tokens.size());
  GgufWriter::put<uint64_t>(scores, tokens.size());
  for (size_t id = 0; id < tokens.size(); ++id) {
    const bool byte = sentencepiece && id >= 3 && id < 259;
    const bool control = sentencepiece ? id == 1 || id == 2 : id + 1 == tokens.size();
    GgufWriter::put<int32_t>(types, control ? 3 : byte ? 6 : id == 0 && sentencepiece ? 2 : 1);
    GgufWriter::put<float>(scores, -static_cast<float>(id));
  }
  g.kv_strings("tokenizer.ggml.tokens", tokens);
  g.kv_raw("tokenizer.ggml.token_type", 9, types);
  if (sentencepiece) g.kv_raw("tokenizer.ggml.scores", 9, scores);
  g.kv_u32("tokenizer.ggml.bos_token_id", sentencepiece ? 1 : static_cast<uint32_t>(tokens.size() - 1));
  g.kv_u32("tokenizer.ggml.eos_token_id", sentencepiece ? 2 : static_cast<uint32_t>(tokens.size() - 1));
}

// One tensor of each type the reader dequantizes, with sane block scales.
void gguf_quantized(const fs::path& path, bool sentencepiece) {
  GgufWriter g;
  g.kv_string("general.architecture", "llama");
  gguf_tokenizer(g, sentencepiece);
  std::mt19937 rng(3);
  auto random_bytes = [&](size_t n) {
    std::vector<uint8_t> b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
  };
  const uint16_t scale = float_to_half(0.01f);
  auto with_scales = [&](std::vector<uint8_t> b, size_t block_bytes, std::vector<size_t> scale_offsets) {
    for (size_t at = 0; at < b.size(); at += block_bytes)
      for (size_t s : scale_offsets) std::memcpy(&b[at + s], &scale, 2);
    return b;
  };
  g.tensor("f16", 1, {8, 2}, with_scales(random_bytes(32), 2, {0}));
  g.tensor("bf16", 30, {8, 2}, random_bytes(32));
  g.tensor("q4_0", 2, {32, 2}, with_scales(random_bytes(2 * 18), 18, {0}));
  g.tensor("q4_1", 3, {32, 2}, with_scales(random_bytes(2 * 20), 20, {0, 2}));
  g.tensor("q8_0", 8, {32, 2}, with_scales(random_bytes(2 * 34), 34, {0}));
  g.tensor("q4_k", 12, {256}, with_scales(random_bytes(144), 144, {0, 2}));
  g.tensor("q5_k", 13, {256}, with_scales(random_bytes(176), 176, {0, 2}));
  g.tensor("q6_k", 14, {256}, with_scales(random_bytes(210), 210, {208}));
  g.write(path.string());
}

void llama2c_tokenizer(const fs::path& path) {
  std::string out;
  auto put_i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto piece = [&](float score, const std::string& p) {
    out.append(reinterpret_cast<const char*>(&score), 4);
    put_i32(static_cast<int32_t>(p.size()));
    out += p;
  };
  put_i32(8);
  piece(0, "<unk>");
  piece(0, "\n<s>\n");
  piece(0, "\n</s>\n");
  for (int b = 0; b < 256; ++b) piece(0, fmt::format("<0x{:02X}>", b));
  int rank = 0;
  for (const char* p : {" ", "e", "t", "th", " the", "on", "ce", " t", "upon", " a"}) piece(-static_cast<float>(++rank), p);
  write_file(path, out);
}

Dictionary random_dictionary(int layers, int m, int n) {
  Dictionary d;
  d.model = "seed";
  d.n_layers = layers;
  d.head_dim = m;
  d.n_atoms = n;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (int l = 0; l < layers; ++l) {
    Dictionary::Layer layer;
    layer.keys = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
    layer.values = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
    layer.keys.colwise().normalize();
    layer.values.colwise().normalize();
    layer.series["val_rre_keys"] = {0.5, 0.4};
    d.layers[l] = layer;
  }
  d.text_attrs["train.init"] = "random";
  d.number_attrs["train.lr"] = 0.01;
  return d;
}

void codes(const fs::path& path) {
  CodesFile c;
  c.model = "seed";
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.n_atoms = 16;
  c.n_tokens = 6;
  c.sparsity = 2;
  c.dictionary_sha256 = random_dictionary(2, 8, 16).content_sha256();
  std::mt19937 rng(7);
  for (int l : {0, 1}) {
    CodesFile::Layer layer;
    for (SparseCodes* rows : {&layer.keys, &layer.values}) {
      rows->dim = c.head_dim;
      rows->n_atoms = c.n_atoms;
      rows->row_ptr = {0};
      for (int64_t r = 0; r < c.n_tokens * c.n_kv_heads; ++r) {
        for (int k = 0; k < 2; ++k) {
          rows->indices.push_back(static_cast<uint16_t>(rng() % 16));
          rows->values.push_back(fp8_e4m3_encode(static_cast<float>(static_cast<int>(rng() % 200) - 100) / 50));
        }
        rows->row_ptr.push_back(static_cast<uint32_t>(rows->indices.size()));
      }
    }
    c.layers[l] = layer;
  }
  write_codes(path.string(), c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz-seeds <dir>\n");
    return 2;
  }
  const fs::path root = argv[1];
  try {
    auto dir = [&](const char* target) {
      fs::create_directories(root / target);
      return root / target;
    };
    const lexico::test::TinyModel tied(true), untied(false, 2);
    tied.write_gguf((dir("gguf") / "tiny.gguf").string());
    gguf_quantized(dir("gguf") / "quant-gpt2.gguf", false);
    gguf_quantized(dir("gguf") / "quant-llama.gguf", true);

    const fs::path hf = root / "hf-tmp";
    tied.write_hf(hf);
    fs::rename(hf / "model.safetensors", dir("safetensors") / "tiny.safetensors");
    fs::remove_all(hf);
    std::string header = R"({"__metadata__": {"format": "pt"}, "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
"b": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]}, "c": {"dtype": "F32", "shape": [], "data_offsets": [16, 20]},
"d": {"dtype": "I64", "shape": [1], "data_offsets": [20, 28]}})";
    std::string st(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(st.data(), &n, 8);
    write_file(dir("safetensors") / "dtypes.safetensors", st + header + std::string(28, '\x3c'));

    tokenizer_json_seeds(dir("tokenizer_json"));
    write_file(dir("tokenizer_encode") / "text.txt", "Hello world, 1234 <|im_start|>user\n caf\xc3\xa9 \xe2\x96\x81<s>");
    write_file(dir("tokenizer_encode") / "bytes.txt", std::string("\xff\xfe\x80 a\x00 b\t\t\n", 12));

    tied.write_llama2c((dir("llama2c_checkpoint") / "tied.bin").string());
    untied.write_llama2c((dir("llama2c_checkpoint") / "untied.bin").string());
    llama2c_tokenizer(dir("llama2c_tokenizer") / "tok.bin");

    SyntheticDumpSpec spec;
    spec.n_layers = 2;
    spec.head_dim = 8;
    spec.n_tokens = 6;
    spec.hidden_atoms = 8;
    spec.hidden_sparsity = 2;
    write_synthetic_dump((dir("kv_dump") / "f32.h5").string(), spec);
    spec.fp16 = true;
    spec.n_layers = 1;
    write_synthetic_dump((dir("kv_dump") / "f16.h5").string(), spec);

    write_dictionary((dir("dictionary") / "dict.h5").string(), random_dictionary(2, 8, 16));
    codes(dir("codes") / "codes.h5");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz-seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
