#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>

#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/generate.h"
#include "lexico/gguf.h"
#include "lexico/json.h"
#include "lexico/llama2c.h"
#include "lexico/model.h"
#include "lexico/synthetic_model.h"
#include "test_model_files.h"

using lexico::FullCache;
using lexico::Matrix;
using lexico::Model;
using lexico::test::temp_file;
using lexico::test::TinyModel;

namespace {

Matrix all_logits(const Model& m, const std::vector<int>& tokens) {
  FullCache cache(m.config().cache_shape());
  return m.forward(tokens, 0, cache, lexico::Logits::All);
}

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const lexico::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model: one tiny model read from llama2.c, safetensors and GGUF gives the same weights and logits") {
  for (bool tied : {true, false}) {
    const TinyModel tiny(tied);
    const std::string bin = temp_file("tiny.bin"), gguf = temp_file("tiny.gguf");
    const auto hf = std::filesystem::path(temp_file("tiny-hf"));
    tiny.write_llama2c(bin);
    tiny.write_gguf(gguf);
    tiny.write_hf(hf);
    const Model a = Model::load(bin), b = Model::load(hf.string()), c = Model::load(gguf);
    CHECK(a.config().tied_embeddings == tied);
    CHECK(b.config().tied_embeddings == tied);
    CHECK(c.config().tied_embeddings == tied);
    // Interleaved Wq/Wk rows (llama2.c, GGUF) come back in the HF layout exactly.
    for (const Model* m : {&a, &b, &c}) {
      CHECK(m->weights().layers[1].wq.dense() == b.weights().layers[1].wq.dense());
      CHECK(m->weights().layers[1].wk.dense() == b.weights().layers[1].wk.dense());
      const Matrix wk0 = m->weights().layers[0].wk.dense();
      const std::vector<float>& k_proj = tiny.w.at("model.layers.0.self_attn.k_proj.weight");
      CHECK(std::equal(wk0.data(), wk0.data() + wk0.size(), k_proj.begin()));
    }
    const std::vector<int> tokens = {1, 5, 3, 7, 2, 9, 10, 0};
    const Matrix la = all_logits(a, tokens), lb = all_logits(b, tokens), lc = all_logits(c, tokens);
    CHECK(la.rows() == 8);
    CHECK(la.cols() == 11);
    CHECK((la - lb).cwiseAbs().maxCoeff() < 1e-5f);
    CHECK((la - lc).cwiseAbs().maxCoeff() < 1e-5f);
    // A .safetensors path or config.json path opens the folder.
    CHECK(Model::load((hf / "model.safetensors").string()).config().dim == 16);
  }
}

TEST_CASE("model: half-split RoPE on permuted rows equals interleaved RoPE on the originals") {
  const TinyModel tiny;
  const int hd = tiny.head_dim(), half = hd / 2, heads = tiny.heads, dim = tiny.dim;
  const std::vector<float> wq = tiny.q_interleaved(0);  // as a GGUF or llama2.c file has it
  const double theta = 10000;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  const int n = 6;
  Matrix x(n, dim);
  for (int i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);
  const Eigen::Map<const Matrix> w_il(wq.data(), dim, dim);

  // Reference, as llama2.c computes it: rotate adjacent pairs (2i, 2i+1) of
  // each head by pos * theta^(-2i/hd).
  Matrix q_ref = x * w_il.transpose();
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < half; ++i) {
        const double a = (t + 3) * std::pow(theta, -2.0 * i / hd);
        float& v0 = q_ref(t, h * hd + 2 * i);
        float& v1 = q_ref(t, h * hd + 2 * i + 1);
        const float r0 = v0 * float(std::cos(a)) - v1 * float(std::sin(a));
        const float r1 = v0 * float(std::sin(a)) + v1 * float(std::cos(a));
        v0 = r0;
        v1 = r1;
      }
  // Permuted path: the loader's permutation, then the runtime's RoPE.
  Matrix w_hs = w_il;
  lexico::interleaved_to_half_split(w_hs, heads, hd);
  lexico::ModelConfig cfg;
  cfg.head_dim = hd;
  cfg.rope_theta = theta;
  const lexico::Rope rope(cfg);
  Matrix q = x * w_hs.transpose();
  lexico::Rope::rotate(rope.angles(3, n), q.data(), heads);
  // Per-head attention scores between every pair of positions agree.
  for (int h = 0; h < heads; ++h) {
    const Matrix s_ref = q_ref.middleCols(h * hd, hd) * q_ref.middleCols(h * hd, hd).transpose();
    const Matrix s = q.middleCols(h * hd, hd) * q.middleCols(h * hd, hd).transpose();
    CHECK((s - s_ref).cwiseAbs().maxCoeff() < 1e-4f * (1 + s_ref.cwiseAbs().maxCoeff()));
  }
  // And the permutation is the one the text says: new row i <- old row 2i,
  // new row half + i <- old row 2i + 1.
  CHECK(w_hs.row(hd + 1) == w_il.row(hd + 2));
  CHECK(w_hs.row(hd + half + 1) == w_il.row(hd + 3));
}

TEST_CASE("model: a prefill equals the same tokens fed in pieces") {
  const TinyModel tiny(false, 3);
  const std::string bin = temp_file("tiny-pieces.bin");
  tiny.write_llama2c(bin);
  const Model m = Model::load(bin);
  const std::vector<int> tokens = {4, 8, 1, 1, 6, 2, 3, 10, 9, 5};
  const Matrix all = all_logits(m, tokens);
  FullCache cache(m.config().cache_shape());
  int pos = 0;
  for (int len : {3, 1, 4, 2}) {
    const Matrix last = m.forward(std::span(tokens).subspan(pos, len), pos, cache);
    pos += len;
    CHECK(last.rows() == 1);
    CHECK((last.row(0) - all.row(pos - 1)).cwiseAbs().maxCoeff() < 1e-5f);
  }
  CHECK(cache.length(0) == 10);
  CHECK(cache.length(1) == 10);
}

TEST_CASE("model: the observer sees keys before and after RoPE, and values") {
  const TinyModel tiny;
  const std::string bin = temp_file("tiny-observe.bin");
  tiny.write_llama2c(bin);
  const Model m = Model::load(bin);
  const auto& c = m.config();
  FullCache cache(c.cache_shape());
  m.forward(std::vector<int>{1, 2, 3}, 0, cache);
  int calls = 0;
  m.forward(std::vector<int>{4, 5}, 3, cache, lexico::Logits::Last,
            [&](int layer, int64_t pos0, int n, const float* pre, const float* post, const float* v) {
              CHECK(layer == calls++);
              CHECK(pos0 == 3);
              CHECK(n == 2);
              const size_t size = size_t(n) * c.n_kv_heads * c.head_dim;
              std::vector<float> rotated(pre, pre + size);
              lexico::Rope::rotate(lexico::Rope(c).angles(pos0, n), rotated.data(), c.n_kv_heads);
              for (size_t i = 0; i < size; ++i) CHECK(rotated[i] == doctest::Approx(post[i]));
              CHECK(std::isfinite(v[size - 1]));
              // Keys at position 0 are not rotated: pre == post there (checked on a fresh call below).
            });
  CHECK(calls == c.n_layers);
  FullCache fresh(c.cache_shape());
  m.forward(std::vector<int>{7}, 0, fresh, lexico::Logits::Last,
            [&](int, int64_t, int, const float* pre, const float* post, const float*) {
              CHECK(std::equal(pre, pre + c.n_kv_heads * c.head_dim, post));
            });
}

TEST_CASE("model: bad tokens and mismatched caches are refused") {
  const TinyModel tiny;
  const std::string bin = temp_file("tiny-bad.bin");
  tiny.write_llama2c(bin);
  const Model m = Model::load(bin);
  FullCache cache(m.config().cache_shape());
  CHECK(error_of([&] { m.forward(std::vector<int>{11}, 0, cache); }).find("token id 11 is out of range") !=
        std::string::npos);
  FullCache wrong({2, 4, 4, 4});
  CHECK_THROWS_AS(m.forward(std::vector<int>{1}, 0, wrong), lexico::Error);
  CHECK(lexico::argmax(std::vector<float>{1, 3, 3, 2}.data(), 4) == 1);
  FullCache g(m.config().cache_shape());
  const auto out = lexico::generate_greedy(m, g, std::vector<int>{1, 2}, 5);
  CHECK(out.size() == 5);
  CHECK(g.length(0) == 6);  // the last token is not fed back
}

TEST_CASE("synthetic model: the requested shape, seeded, activations of unit scale") {
  lexico::ModelConfig c;
  c.dim = 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.hidden_dim = 96;
  c.vocab_size = 50;
  c.max_context = 64;
  c.qkv_bias = true;
  const Model a = lexico::synthetic_model(c, 1), b = lexico::synthetic_model(c, 1), other = lexico::synthetic_model(c, 2);
  CHECK(a.weights().layers.size() == 2);
  CHECK(a.weights().layers[1].wk.rows() == 32);
  CHECK(a.weights().layers[0].bq.size() == 64);
  CHECK(a.weights().output.rows() == 50);  // not tied
  const std::vector<int> tokens = {1, 7, 3, 49};
  FullCache ca(c.cache_shape()), cb(c.cache_shape()), co(c.cache_shape());
  const Matrix la = a.forward(tokens, 0, ca, lexico::Logits::All);
  CHECK(la == b.forward(tokens, 0, cb, lexico::Logits::All));
  CHECK(la != other.forward(tokens, 0, co, lexico::Logits::All));
  CHECK(la.allFinite());
  const float rms = std::sqrt(la.squaredNorm() / float(la.size()));
  CHECK(rms > 0.1f);  // neither vanishing nor exploding through the layers
  CHECK(rms < 10.0f);
  c.n_kv_heads = 3;
  CHECK_THROWS_AS(lexico::synthetic_model(c, 1), lexico::Error);
}

TEST_CASE("model: logits are bitwise the same on any number of threads") {
  // Reproducible tables across machines need it: a coarse cache (int4) turns
  // the last bits of a key into different codes (2 % of perplexity when the
  // matmuls were split by thread count).
  lexico::ModelConfig c;
  c.dim = 576;  // SmolLM2-135M's widths
  c.n_layers = 2;
  c.n_heads = 9;
  c.n_kv_heads = 3;
  c.head_dim = 64;
  c.hidden_dim = 1536;
  c.vocab_size = 1000;
  c.max_context = 64;
  const Model m = lexico::synthetic_model(c, 3);
  const std::vector<int> prompt = lexico::synthetic_tokens(20, c.vocab_size, 4);
  const int saved = omp_get_max_threads();
  std::vector<Matrix> logits;
  for (int threads : {1, 2, 3, 5}) {
    omp_set_num_threads(threads);
    FullCache cache(c.cache_shape());
    Matrix l = m.forward(std::span<const int>(prompt.data(), 16), 0, cache, lexico::Logits::All);
    for (int t = 16; t < 20; ++t) {  // decode steps: matrix-vector products
      l.conservativeResize(l.rows() + 1, Eigen::NoChange);
      l.row(l.rows() - 1) = m.forward(std::span<const int>(prompt.data() + t, 1), t, cache);
    }
    logits.push_back(std::move(l));
  }
  omp_set_num_threads(saved);
  for (size_t i = 1; i < logits.size(); ++i) {
    CAPTURE(i);
    CHECK((logits[i] - logits[0]).cwiseAbs().maxCoeff() == 0.0f);
  }
}

TEST_CASE("model config: GGUF metadata") {
  const TinyModel tiny;
  const std::string path = temp_file("cfg.gguf");
  tiny.write_gguf(path);
  const auto c = lexico::config_from_gguf(lexico::GgufFile(path));
  CHECK(c.arch == lexico::Arch::Llama);
  CHECK(c.dim == 16);
  CHECK(c.n_layers == 2);
  CHECK(c.n_heads == 4);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.head_dim == 4);
  CHECK(c.hidden_dim == 24);
  CHECK(c.vocab_size == 11);  // from token_embd.weight: no llama.vocab_size key
  CHECK(c.max_context == 64);
  CHECK(c.rms_eps == 1e-5f);
  CHECK(c.rope_theta == 10000);
  CHECK(c.tied_embeddings);
  CHECK_FALSE(c.qkv_bias);

  lexico::test::GgufWriter w;
  w.kv_string("general.architecture", "gpt2");
  w.write(path);
  CHECK(error_of([&] { lexico::config_from_gguf(lexico::GgufFile(path)); }).find("unknown architecture 'gpt2'") !=
        std::string::npos);
}

TEST_CASE("model config: Hugging Face config.json") {
  using lexico::json::parse;
  const std::string base = R"("hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
      "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
      "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false)";
  SUBCASE("Llama 3.1 with llama3 RoPE scaling") {
    const auto c = lexico::config_from_hf(parse(R"({"model_type": "llama", )" + base + R"(, "rope_scaling":
        {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
         "rope_type": "llama3"}})", "c"), "config.json");
    CHECK(c.head_dim == 128);
    CHECK(c.n_kv_heads == 8);
    CHECK(c.rope_theta == 500000);
    CHECK(c.rope_scaling.type == lexico::RopeScaling::Type::Llama3);
    CHECK(c.rope_scaling.factor == 8);
    CHECK(c.rope_scaling.original_max_positions == 8192);
    CHECK_FALSE(c.tied_embeddings);
    // Frequencies: short wavelengths kept, long ones divided by 8, the band between interpolated.
    const lexico::Rope rope(c);
    const auto& f = rope.inv_freq();
    REQUIRE(f.size() == 64);
    auto base_freq = [](int i) { return std::pow(500000.0, -2.0 * i / 128); };
    CHECK(f[0] == doctest::Approx(1.0));
    CHECK(f[63] == doctest::Approx(base_freq(63) / 8));
    for (int i = 0; i < 64; ++i) {
      const double wavelen = 2 * std::numbers::pi / base_freq(i);
      if (wavelen < 8192 / 4.0) CHECK(f[i] == doctest::Approx(base_freq(i)));
      if (wavelen > 8192 / 1.0) CHECK(f[i] == doctest::Approx(base_freq(i) / 8));
      if (wavelen > 2048 && wavelen < 8192) {
        const double s = (8192 / wavelen - 1) / 3;
        CHECK(f[i] == doctest::Approx((1 - s) * base_freq(i) / 8 + s * base_freq(i)));
      }
    }
  }
  SUBCASE("Qwen2 has Q/K/V biases; SmolLM2 as shipped") {
    const auto q = lexico::config_from_hf(parse(R"({"model_type": "qwen2", )" + base + "}", "c"), "config.json");
    CHECK(q.arch == lexico::Arch::Qwen2);
    CHECK(q.qkv_bias);
    const char* env = std::getenv("LEXICO_SHARED_DIR");
    const auto path = std::filesystem::path(env ? env : LEXICO_SHARED_DIR) / "tokenizers/smollm2-135m/config.json";
    if (std::filesystem::exists(path)) {
      std::ifstream in(path);
      const std::string text((std::istreambuf_iterator<char>(in)), {});
      const auto s = lexico::config_from_hf(parse(text, path.string()), path.string());
      CHECK(s.head_dim == 64);
      CHECK(s.n_heads == 9);
      CHECK(s.n_kv_heads == 3);
      CHECK(s.n_layers == 30);
      CHECK(s.rope_theta == 100000);
      CHECK(s.tied_embeddings);
      CHECK(s.rope_scaling.type == lexico::RopeScaling::Type::None);
    }
  }
  SUBCASE("errors name the file") {
    std::string e = error_of([&] { lexico::config_from_hf(parse(R"({"model_type": "gpt2"})", "c"), "config.json"); });
    CHECK(e.find("config.json: unknown architecture 'gpt2'") != std::string::npos);
    e = error_of([&] { lexico::config_from_hf(parse(R"({"model_type": "llama"})", "c"), "config.json"); });
    CHECK(e.find("config.json:") == 0);
    CHECK(e.find("hidden_size") != std::string::npos);
    e = error_of([&] {
      lexico::config_from_hf(parse(R"({"model_type": "llama", )" + base + R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4}})", "c"),
                             "config.json");
    });
    CHECK(e.find("unsupported RoPE scaling 'yarn'") != std::string::npos);
    e = error_of([&] {
      lexico::config_from_hf(parse(R"({"model_type": "llama", "num_key_value_heads": 5, )" + base.substr(base.find("\"vocab")) + R"(, "hidden_size": 64,
          "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 8})", "c"), "config.json");
    });
    CHECK(e.find("8 heads is not a multiple of 5 KV heads") != std::string::npos);
  }
}

TEST_CASE("model config: llama2.c header") {
  lexico::Llama2cHeader h{64, 172, 5, 8, 4, 512, 512, true};
  const auto c = lexico::config_from_llama2c(h);
  CHECK(c.head_dim == 8);
  CHECK(c.max_context == 512);
  CHECK(c.rms_eps == 1e-5f);
  CHECK(c.rope_theta == 10000);
  CHECK(c.tied_embeddings);
}
