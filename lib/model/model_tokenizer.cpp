#include "lexico/model_tokenizer.h"

#include <filesystem>

#include "lexico/error.h"
#include "lexico/gguf.h"

namespace lexico {

namespace fs = std::filesystem;

namespace {

int32_t optional_id(const GgufFile& g, const char* key) {
  const GgufValue* v = g.find(key);
  return v ? static_cast<int32_t>(v->as_int(g.path())) : -1;
}

std::unique_ptr<Tokenizer> from_gguf(const std::string& path) {
  GgufFile g(path);
  const GgufValue* model = g.find("tokenizer.ggml.model");
  if (!model) bad_input(path, "carries no tokenizer (no tokenizer.ggml.model); pass one with --tokenizer");
  const std::string kind = model->as_string(path);
  std::vector<std::string> tokens = g.at("tokenizer.ggml.tokens").as_strings(path);
  std::vector<int32_t> types;
  if (const GgufValue* t = g.find("tokenizer.ggml.token_type")) types = t->as_ints(path);
  const int32_t bos = optional_id(g, "tokenizer.ggml.bos_token_id");
  const int32_t eos = optional_id(g, "tokenizer.ggml.eos_token_id");
  const GgufValue* add_bos_value = g.find("tokenizer.ggml.add_bos_token");
  if (kind == "gpt2") {
    BpeOptions options;
    const GgufValue* pre = g.find("tokenizer.ggml.pre");
    options.pretokenizer = pretokenizer_from_gguf_name(pre ? pre->as_string(path) : "gpt-2", path);
    options.ignore_merges = options.pretokenizer == Pretokenizer::Llama3;
    options.bos = bos;
    options.eos = eos;
    options.add_bos = add_bos_value && add_bos_value->as_bool(path);
    std::vector<std::string> merges;
    if (const GgufValue* m = g.find("tokenizer.ggml.merges")) merges = m->as_strings(path);
    return Tokenizer::from_bpe(std::move(tokens), merges, std::move(types), options, path);
  }
  if (kind == "llama") {
    std::vector<float> scores;
    if (const GgufValue* s = g.find("tokenizer.ggml.scores")) scores = s->as_floats(path);
    const bool add_bos = add_bos_value ? add_bos_value->as_bool(path) : true;
    return Tokenizer::from_sentencepiece(std::move(tokens), std::move(scores), std::move(types), bos, eos, add_bos,
                                         path);
  }
  bad_input(path, "tokenizer type '{}' is not supported (gpt2 and llama are)", kind);
}

}  // namespace

std::unique_ptr<Tokenizer> load_model_tokenizer(const std::string& model_path, const std::string& tokenizer_path,
                                                int vocab_size) {
  std::unique_ptr<Tokenizer> tok;
  std::string source = tokenizer_path;
  if (!tokenizer_path.empty()) {
    tok = Tokenizer::from_file(tokenizer_path);
  } else if (fs::is_directory(model_path)) {
    source = (fs::path(model_path) / "tokenizer.json").string();
    if (!fs::exists(source)) bad_input(model_path, "has no tokenizer.json; pass one with --tokenizer");
    tok = Tokenizer::from_hf_json(source);
  } else if (fs::path(model_path).extension() == ".gguf") {
    source = model_path;
    tok = from_gguf(model_path);
  } else {
    const fs::path beside = fs::path(model_path).parent_path() / "tokenizer.json";
    if (!fs::exists(beside))
      bad_input(model_path, "carries no tokenizer; pass one with --tokenizer (for llama2.c: its tokenizer.bin)");
    source = beside.string();
    tok = Tokenizer::from_hf_json(source);
  }
  // Vocabularies may be padded in the model's embedding (never the reverse).
  if (vocab_size > 0 && tok->vocab_size() > vocab_size)
    bad_input(source, "has {} tokens but the model's vocabulary has {}: not this model's tokenizer",
              tok->vocab_size(), vocab_size);
  return tok;
}

}  // namespace lexico
