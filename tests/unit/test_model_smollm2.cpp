// SmolLM2-135M-Instruct (GGUF Q4_1, fetched by scripts/fetch-model into
// models/) against reference logits and greedy continuations computed by
// Hugging Face transformers (scripts/golden/model_golden.py). Skipped when the
// model has not been fetched.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "lexico/full_cache.h"
#include "lexico/generate.h"
#include "lexico/json.h"
#include "lexico/model.h"
#include "lexico/model_tokenizer.h"

namespace fs = std::filesystem;

namespace {

const fs::path kModel = fs::path(LEXICO_SOURCE_DIR) / "models/SmolLM2-135M-Instruct.Q4_1.gguf";
const fs::path kGolden = fs::path(LEXICO_SOURCE_DIR) / "data/golden/model_smollm2_logits.json";

// Loaded once: loading dequantizes 135M weights.
const lexico::Model* smollm2() {
  static std::unique_ptr<lexico::Model> model;
  if (!model && fs::exists(kModel)) model = std::make_unique<lexico::Model>(lexico::Model::load(kModel.string()));
  return model.get();
}

std::vector<int> ints(const lexico::json::Value& v) {
  std::vector<int> out;
  for (const auto& x : v.as_array()) out.push_back(static_cast<int>(x.as_int()));
  return out;
}

}  // namespace

TEST_CASE("model: SmolLM2-135M GGUF config and a fluent greedy continuation") {
  const lexico::Model* m = smollm2();
  if (!m) {
    MESSAGE("skipped: ", kModel.string(), " is absent (run scripts/fetch-model)");
    return;
  }
  const auto& c = m->config();
  CHECK(c.arch == lexico::Arch::Llama);
  CHECK(c.dim == 576);
  CHECK(c.head_dim == 64);
  CHECK(c.n_heads == 9);
  CHECK(c.n_kv_heads == 3);
  CHECK(c.n_layers == 30);
  CHECK(c.hidden_dim == 1536);
  CHECK(c.vocab_size == 49152);
  CHECK(c.max_context == 8192);
  CHECK(c.rope_theta == 100000);
  CHECK(c.tied_embeddings);

  const auto tok = lexico::load_model_tokenizer(kModel.string(), "", c.vocab_size);
  const std::vector<int> prompt = {504, 3575, 282, 4649, 314};  // "The capital of France is"
  lexico::FullCache cache(c.cache_shape());
  const auto out = lexico::generate_greedy(*m, cache, prompt, 12);
  const std::string text = tok->decode(out);
  MESSAGE("The capital of France is" << text);
  CHECK(text.find("Paris") != std::string::npos);
}

TEST_CASE("model: SmolLM2-135M logits and greedy continuations match transformers") {
  const lexico::Model* m = smollm2();
  if (!m) {
    MESSAGE("skipped: ", kModel.string(), " is absent (run scripts/fetch-model)");
    return;
  }
  std::ifstream in(kGolden);
  REQUIRE_MESSAGE(in, kGolden.string(), " is missing");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto golden = lexico::json::parse(ss.str(), kGolden.string());
  for (const auto& p : golden.at("prompts").as_array()) {
    CAPTURE(p.at("text").as_string());
    const std::vector<int> ids = ints(p.at("ids"));
    lexico::FullCache cache(m->config().cache_shape());
    const lexico::Matrix logits = m->forward(ids, 0, cache);
    const float* l = logits.data();

    // Errors relative to the largest reference logit: logits near zero make
    // element-wise relative errors meaningless.
    const auto& head = p.at("logits_head").as_array();
    const auto& top_ids = p.at("top_ids").as_array();
    const auto& top = p.at("top_logits").as_array();
    double scale = 0, err = 0;
    for (const auto& x : head) scale = std::max(scale, std::abs(x.as_number()));
    for (const auto& x : top) scale = std::max(scale, std::abs(x.as_number()));
    for (size_t i = 0; i < head.size(); ++i) err = std::max(err, std::abs(l[i] - head[i].as_number()));
    for (size_t i = 0; i < top.size(); ++i) err = std::max(err, std::abs(l[top_ids[i].as_int()] - top[i].as_number()));
    MESSAGE("max logit error ", err, " (scale ", scale, ")");
    CHECK(err / scale < 1e-3);
    CHECK(lexico::argmax(l, m->config().vocab_size) == top_ids[0].as_int());
    const double sum = logits.cast<double>().sum(), norm = logits.cast<double>().norm();
    CHECK(sum == doctest::Approx(p.at("logits_sum").as_number()).epsilon(1e-3).scale(norm));
    CHECK(norm == doctest::Approx(p.at("logits_norm").as_number()).epsilon(1e-3));

    lexico::FullCache gen_cache(m->config().cache_shape());
    const auto greedy = lexico::generate_greedy(*m, gen_cache, ids, static_cast<int>(p.at("greedy").as_array().size()));
    CHECK(greedy == ints(p.at("greedy")));
  }
}
