#include "lexico/model_config.h"

#include "lexico/error.h"
#include "lexico/gguf.h"
#include "lexico/json.h"
#include "lexico/llama2c.h"

namespace lexico {

std::string arch_name(Arch arch) {
  switch (arch) {
    case Arch::Llama: return "llama";
    case Arch::Mistral: return "mistral";
    case Arch::Qwen2: return "qwen2";
  }
  return "?";
}

void ModelConfig::validate(const std::string& where) const {
  if (dim <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 || hidden_dim <= 0 ||
      vocab_size <= 0 || max_context <= 0)
    bad_input(where, "model dimensions must be positive (dim {}, layers {}, heads {}, KV heads {}, head_dim {}, "
              "hidden {}, vocab {}, context {})", dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim,
              vocab_size, max_context);
  if (n_heads % n_kv_heads != 0) bad_input(where, "{} heads is not a multiple of {} KV heads", n_heads, n_kv_heads);
  if (head_dim % 2 != 0) bad_input(where, "head_dim {} is odd: RoPE rotates pairs", head_dim);
  if (!(rms_eps > 0) || !(rope_theta > 0)) bad_input(where, "rms eps and rope theta must be positive");
  if (!rope_freq_factors.empty() && rope_freq_factors.size() != static_cast<size_t>(head_dim / 2))
    bad_input(where, "{} RoPE frequency factors for head_dim {}", rope_freq_factors.size(), head_dim);
  if (rope_scaling.type != RopeScaling::Type::None && !(rope_scaling.factor > 0))
    bad_input(where, "RoPE scaling factor must be positive");
}

ModelConfig config_from_gguf(const GgufFile& g) {
  const std::string& where = g.path();
  const std::string arch = g.at("general.architecture").as_string(where + ": general.architecture");
  ModelConfig c;
  if (arch == "llama") {
    c.arch = Arch::Llama;
  } else if (arch == "qwen2") {
    c.arch = Arch::Qwen2;
  } else {
    bad_input(where, "unknown architecture '{}' (llama and qwen2 are supported)", arch);
  }
  auto key = [&](const char* k) { return arch + "." + k; };
  auto get_int = [&](const char* k) {
    const std::string name = key(k);
    return static_cast<int>(g.at(name).as_int(where + ": " + name));
  };
  auto get_int_or = [&](const char* k, int fallback) { return g.find(key(k)) ? get_int(k) : fallback; };
  auto get_float_or = [&](const char* k, double fallback) {
    const std::string name = key(k);
    const GgufValue* v = g.find(name);
    return static_cast<float>(v ? v->as_float(where + ": " + name) : fallback);
  };

  c.dim = get_int("embedding_length");
  c.n_layers = get_int("block_count");
  c.hidden_dim = get_int("feed_forward_length");
  c.n_heads = get_int("attention.head_count");
  c.n_kv_heads = get_int_or("attention.head_count_kv", c.n_heads);
  c.head_dim = get_int_or("attention.key_length", c.n_heads > 0 ? c.dim / c.n_heads : 0);
  c.max_context = get_int("context_length");
  c.rms_eps = get_float_or("attention.layer_norm_rms_epsilon", 1e-5);
  c.rope_theta = get_float_or("rope.freq_base", 10000);
  if (get_int_or("rope.dimension_count", c.head_dim) != c.head_dim)
    bad_input(where, "partial RoPE ({} of {} dimensions) is not supported", get_int("rope.dimension_count"), c.head_dim);
  if (const GgufValue* t = g.find(key("rope.scaling.type"))) {
    const std::string& type = t->as_string(where + ": " + key("rope.scaling.type"));
    if (type == "linear") {
      c.rope_scaling.type = RopeScaling::Type::Linear;
      c.rope_scaling.factor = get_float_or("rope.scaling.factor", 1);
    } else if (type != "none") {
      bad_input(where, "unsupported RoPE scaling '{}'", type);
    }
  }
  if (const GgufTensor* f = g.find_tensor("rope_freqs.weight")) c.rope_freq_factors = g.read(*f);

  const GgufTensor& embd = g.tensor("token_embd.weight");
  c.vocab_size = get_int_or("vocab_size", static_cast<int>(embd.shape.size() == 2 ? embd.shape[1] : 0));
  c.qkv_bias = g.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.tied_embeddings = g.find_tensor("output.weight") == nullptr;
  c.validate(where);
  return c;
}

namespace {

ModelConfig parse_hf(const json::Value& j, const std::string& where) {
  auto get_int = [&](const char* k) { return static_cast<int>(j.at(k).as_int()); };
  auto get_int_or = [&](const char* k, int fallback) {
    const json::Value* v = j.find(k);
    return v && !v->is_null() ? static_cast<int>(v->as_int()) : fallback;
  };
  auto get_bool_or = [&](const char* k, bool fallback) {
    const json::Value* v = j.find(k);
    return v && !v->is_null() ? v->as_bool() : fallback;
  };

  ModelConfig c;
  const std::string type = j.at("model_type").as_string();
  if (type == "llama" || type == "smollm") {
    c.arch = Arch::Llama;
  } else if (type == "mistral") {
    c.arch = Arch::Mistral;
  } else if (type == "qwen2") {
    c.arch = Arch::Qwen2;
  } else {
    bad_input(where, "unknown architecture '{}' (llama, mistral, qwen2 and smollm are supported)", type);
  }
  if (const json::Value* act = j.find("hidden_act"); act && act->as_string() != "silu")
    bad_input(where, "hidden_act '{}' is not supported (silu)", act->as_string());
  if (get_bool_or("rope_interleaved", false)) bad_input(where, "rope_interleaved checkpoints are not supported");

  c.dim = get_int("hidden_size");
  c.n_layers = get_int("num_hidden_layers");
  c.n_heads = get_int("num_attention_heads");
  c.n_kv_heads = get_int_or("num_key_value_heads", c.n_heads);
  c.head_dim = get_int_or("head_dim", c.n_heads > 0 ? c.dim / c.n_heads : 0);
  c.hidden_dim = get_int("intermediate_size");
  c.vocab_size = get_int("vocab_size");
  c.max_context = get_int("max_position_embeddings");
  if (const json::Value* e = j.find("rms_norm_eps")) c.rms_eps = static_cast<float>(e->as_number());
  c.tied_embeddings = get_bool_or("tie_word_embeddings", false);
  c.qkv_bias = c.arch == Arch::Qwen2 || get_bool_or("attention_bias", false);

  // transformers 5 moved rope_theta and rope_scaling into rope_parameters.
  const json::Value* rope = j.find("rope_parameters");
  if (rope && rope->is_null()) rope = nullptr;
  const json::Value* theta = rope ? rope->find("rope_theta") : j.find("rope_theta");
  if (theta && !theta->is_null()) c.rope_theta = static_cast<float>(theta->as_number());
  const json::Value* scaling = rope ? rope : j.find("rope_scaling");
  if (scaling && !scaling->is_null()) {
    const json::Value* t = scaling->find("rope_type");
    if (!t) t = scaling->find("type");
    const std::string kind = t ? t->as_string() : "default";
    auto num = [&](const char* k) { return static_cast<float>(scaling->at(k).as_number()); };
    if (kind == "llama3") {
      c.rope_scaling = {RopeScaling::Type::Llama3, num("factor"), num("low_freq_factor"), num("high_freq_factor"),
                        static_cast<int>(scaling->at("original_max_position_embeddings").as_int())};
    } else if (kind == "linear") {
      c.rope_scaling.type = RopeScaling::Type::Linear;
      c.rope_scaling.factor = num("factor");
    } else if (kind != "default") {
      bad_input(where, "unsupported RoPE scaling '{}'", kind);
    }
  }
  c.validate(where);
  return c;
}

}  // namespace

ModelConfig config_from_hf(const json::Value& j, const std::string& where) {
  try {
    return parse_hf(j, where);
  } catch (const Error& e) {
    if (!e.where().empty()) throw;
    bad_input(where, "{}", e.what());  // JSON accessors do not know the file
  }
}

ModelConfig config_from_llama2c(const Llama2cHeader& h) {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.dim = h.dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.head_dim = h.head_dim();
  c.hidden_dim = h.hidden_dim;
  c.vocab_size = h.vocab_size;
  c.max_context = h.seq_len;
  c.tied_embeddings = h.shared_classifier;
  return c;  // llama2.c fixes eps 1e-5 and theta 10000: the defaults
}

}  // namespace lexico
