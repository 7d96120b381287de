// A tiny random Llama written in each format the loader reads, from one set of
// Hugging Face-layout weights: llama2.c and GGUF get Wq/Wk rows interleaved as
// their converters do (per head, file row 2i + j = HF row j * head_dim/2 + i).
#pragma once
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "test_gguf_writer.h"

namespace lexico::test {

struct TinyModel {
  int dim = 16, hidden = 24, layers = 2, heads = 4, kv_heads = 2, vocab = 11, seq = 64;
  bool tied = true;
  std::map<std::string, std::vector<float>> w;  // HF names, HF layout

  int head_dim() const { return dim / heads; }

  explicit TinyModel(bool tied_embeddings = true, unsigned seed = 1) : tied(tied_embeddings) { randomize(seed); }

  // New weights for the current shape: N(0, 0.5²), norms around 1 (with
  // `scaled`, linear layers N(0, 1/in) so activations keep their scale in
  // wide models).
  void randomize(unsigned seed, bool scaled = false) {
    w.clear();
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    auto rand = [&](size_t n, float mean = 0) {
      std::vector<float> v(n);
      for (auto& x : v) x = mean + normal(rng);
      return v;
    };
    const size_t kv = static_cast<size_t>(kv_heads) * head_dim();
    w["model.embed_tokens.weight"] = rand(size_t(vocab) * dim);
    for (int l = 0; l < layers; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      w[p + "input_layernorm.weight"] = rand(dim, 1);
      w[p + "self_attn.q_proj.weight"] = rand(size_t(dim) * dim);
      w[p + "self_attn.k_proj.weight"] = rand(kv * dim);
      w[p + "self_attn.v_proj.weight"] = rand(kv * dim);
      w[p + "self_attn.o_proj.weight"] = rand(size_t(dim) * dim);
      w[p + "post_attention_layernorm.weight"] = rand(dim, 1);
      w[p + "mlp.gate_proj.weight"] = rand(size_t(hidden) * dim);
      w[p + "mlp.up_proj.weight"] = rand(size_t(hidden) * dim);
      w[p + "mlp.down_proj.weight"] = rand(size_t(dim) * hidden);
    }
    w["model.norm.weight"] = rand(dim, 1);
    if (!tied) w["lm_head.weight"] = rand(size_t(vocab) * dim);
    if (scaled)
      for (auto& [name, v] : w) {
        const bool down = name.find("down_proj") != std::string::npos;
        const bool matrix = name.find("proj") != std::string::npos || name == "lm_head.weight";
        if (matrix)
          for (float& x : v) x *= 2.0f / std::sqrt(float(down ? hidden : dim));  // 0.5·2 = 1: N(0, 1/in)
      }
  }

  // HF layout -> interleaved layout, rows of `cols` floats.
  std::vector<float> interleave(const std::vector<float>& m, int n_heads, int cols) const {
    const int hd = head_dim(), half = hd / 2;
    std::vector<float> out(m.size());
    for (int h = 0; h < n_heads; ++h)
      for (int i = 0; i < half; ++i)
        for (int j = 0; j < 2; ++j)
          std::memcpy(&out[size_t(h * hd + 2 * i + j) * cols], &m[size_t(h * hd + j * half + i) * cols],
                      sizeof(float) * cols);
    return out;
  }
  std::vector<float> q_interleaved(int l) const {
    return interleave(w.at(fmt::format("model.layers.{}.self_attn.q_proj.weight", l)), heads, dim);
  }
  std::vector<float> k_interleaved(int l) const {
    return interleave(w.at(fmt::format("model.layers.{}.self_attn.k_proj.weight", l)), kv_heads, dim);
  }

  void write_llama2c(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    const int32_t header[7] = {dim, hidden, layers, heads, kv_heads, tied ? vocab : -vocab, seq};
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
    auto put = [&](const std::vector<float>& v) {
      out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
    };
    auto each_layer = [&](const std::string& name) {
      for (int l = 0; l < layers; ++l) put(w.at(fmt::format("model.layers.{}.{}", l, name)));
    };
    put(w.at("model.embed_tokens.weight"));
    each_layer("input_layernorm.weight");
    for (int l = 0; l < layers; ++l) put(q_interleaved(l));
    for (int l = 0; l < layers; ++l) put(k_interleaved(l));
    each_layer("self_attn.v_proj.weight");
    each_layer("self_attn.o_proj.weight");
    each_layer("post_attention_layernorm.weight");
    each_layer("mlp.gate_proj.weight");
    each_layer("mlp.down_proj.weight");
    each_layer("mlp.up_proj.weight");
    put(w.at("model.norm.weight"));
    put(std::vector<float>(size_t(seq) * head_dim()));  // freq_cis tables
    if (!tied) put(w.at("lm_head.weight"));
  }

  void write_hf(const std::filesystem::path& dir) const {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.json") << fmt::format(
        R"({{"model_type": "llama", "hidden_size": {}, "intermediate_size": {}, "num_hidden_layers": {},
            "num_attention_heads": {}, "num_key_value_heads": {}, "vocab_size": {}, "max_position_embeddings": {},
            "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": null, "hidden_act": "silu",
            "tie_word_embeddings": {}}})",
        dim, hidden, layers, heads, kv_heads, vocab, seq, tied ? "true" : "false");
    std::string header = "{";
    std::vector<uint8_t> data;
    const int kv = kv_heads * head_dim();
    for (const auto& [name, v] : w) {
      std::string shape = v.size() == size_t(dim) ? fmt::format("[{}]", dim)
                          : name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos
                              ? fmt::format("[{}, {}]", kv, dim)
                          : name.find("gate_proj") != std::string::npos || name.find("up_proj") != std::string::npos
                              ? fmt::format("[{}, {}]", hidden, dim)
                          : name.find("down_proj") != std::string::npos ? fmt::format("[{}, {}]", dim, hidden)
                          : name.find("embed") != std::string::npos || name.find("lm_head") != std::string::npos
                              ? fmt::format("[{}, {}]", vocab, dim)
                              : fmt::format("[{}, {}]", dim, dim);
      header += fmt::format(R"({}"{}": {{"dtype": "F32", "shape": {}, "data_offsets": [{}, {}]}})",
                            header.size() > 1 ? ", " : "", name, shape, data.size(), data.size() + v.size() * 4);
      const auto* p = reinterpret_cast<const uint8_t*>(v.data());
      data.insert(data.end(), p, p + v.size() * 4);
    }
    header += "}";
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    const uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }

  void write_gguf(const std::string& path) const {
    GgufWriter g;
    g.kv_string("general.architecture", "llama");
    g.kv_u32("llama.context_length", seq);
    g.kv_u32("llama.embedding_length", dim);
    g.kv_u32("llama.block_count", layers);
    g.kv_u32("llama.feed_forward_length", hidden);
    g.kv_u32("llama.attention.head_count", heads);
    g.kv_u32("llama.attention.head_count_kv", kv_heads);
    g.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    g.kv_f32("llama.rope.freq_base", 10000);
    const uint64_t d = dim, h = hidden, kv = kv_heads * head_dim(), v = vocab;
    g.tensor_f32("token_embd.weight", {d, v}, w.at("model.embed_tokens.weight"));
    for (int l = 0; l < layers; ++l) {
      const std::string p = fmt::format("blk.{}.", l), hf = fmt::format("model.layers.{}.", l);
      g.tensor_f32(p + "attn_norm.weight", {d}, w.at(hf + "input_layernorm.weight"));
      g.tensor_f32(p + "attn_q.weight", {d, d}, q_interleaved(l));
      g.tensor_f32(p + "attn_k.weight", {d, kv}, k_interleaved(l));
      g.tensor_f32(p + "attn_v.weight", {d, kv}, w.at(hf + "self_attn.v_proj.weight"));
      g.tensor_f32(p + "attn_output.weight", {d, d}, w.at(hf + "self_attn.o_proj.weight"));
      g.tensor_f32(p + "ffn_norm.weight", {d}, w.at(hf + "post_attention_layernorm.weight"));
      g.tensor_f32(p + "ffn_gate.weight", {d, h}, w.at(hf + "mlp.gate_proj.weight"));
      g.tensor_f32(p + "ffn_up.weight", {d, h}, w.at(hf + "mlp.up_proj.weight"));
      g.tensor_f32(p + "ffn_down.weight", {h, d}, w.at(hf + "mlp.down_proj.weight"));
    }
    g.tensor_f32("output_norm.weight", {d}, w.at("model.norm.weight"));
    if (!tied) g.tensor_f32("output.weight", {d, v}, w.at("lm_head.weight"));
    g.write(path);
  }
};

}  // namespace lexico::test
