// Hugging Face tokenizer.json → byte-level BPE. Only what the Llama-family
// byte-level tokenizers use is accepted; anything else is refused by name
// rather than encoded differently from the reference.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/tokenizer.h"

namespace lexico {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open the file");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) bad_input(path, "cannot read the file");
  return s.str();
}

std::string_view type_of(const json::Value& v) {
  const json::Value* t = v.find("type");
  return t && t->is_string() ? std::string_view(t->as_string()) : std::string_view();
}

bool flag(const json::Value& v, std::string_view key, bool absent) {
  const json::Value* f = v.find(key);
  return f && !f->is_null() ? f->as_bool() : absent;
}

// The ByteLevel step: byte mapping only, or with GPT-2's regex (use_regex).
bool byte_level_uses_regex(const json::Value& step, const std::string& where) {
  if (type_of(step) != "ByteLevel") bad_input(where, "unsupported pre_tokenizer: expected ByteLevel last");
  if (flag(step, "add_prefix_space", false))
    bad_input(where, "unsupported pre_tokenizer: ByteLevel with add_prefix_space");
  return flag(step, "use_regex", true);
}

// Recognises the pre-tokenizers of GPT-2, SmolLM2, Llama 3 and Qwen2.
Pretokenizer recognise_pretokenizer(const json::Value* pre, const std::string& where) {
  if (!pre || pre->is_null()) bad_input(where, "a byte-level BPE tokenizer.json needs a pre_tokenizer");
  std::vector<const json::Value*> steps;
  if (type_of(*pre) == "Sequence") {
    for (const json::Value& s : pre->at("pretokenizers").as_array()) steps.push_back(&s);
  } else {
    steps.push_back(pre);
  }
  if (steps.size() == 1 && byte_level_uses_regex(*steps[0], where)) return Pretokenizer::Gpt2;
  if (steps.size() == 2 && type_of(*steps[0]) == "Digits") {
    if (flag(*steps[0], "individual_digits", false) && byte_level_uses_regex(*steps[1], where))
      return Pretokenizer::SmolLM;
    bad_input(where,
              "unsupported pre_tokenizer: Digits is supported only with individual_digits and a ByteLevel regex");
  }
  if (steps.size() == 2 && type_of(*steps[0]) == "Split") {
    const json::Value& split = *steps[0];
    const json::Value* regex = split.at("pattern").find("Regex");
    if (!regex) bad_input(where, "unsupported pre_tokenizer: Split on a plain string");
    if (split.at("behavior").as_string() != "Isolated" || flag(split, "invert", false))
      bad_input(where, "unsupported pre_tokenizer: Split must be Isolated, not inverted");
    if (byte_level_uses_regex(*steps[1], where))
      bad_input(where, "unsupported pre_tokenizer: Split followed by a ByteLevel with its own regex");
    for (Pretokenizer p : {Pretokenizer::Gpt2, Pretokenizer::Llama3, Pretokenizer::Qwen2})
      if (regex->as_string() == pretokenizer_regex(p)) return p;
    bad_input(where, "unsupported Split regex \"{}\" (supported: those of GPT-2, Llama 3 and Qwen2)",
              json::escape(regex->as_string()));
  }
  bad_input(where, "unsupported pre_tokenizer (supported: ByteLevel; Digits + ByteLevel; Split + ByteLevel)");
}

// The token the post-processor puts before a single text, if any (Llama 3's
// <|begin_of_text|>): that is the BOS, and the model expects it.
std::optional<std::string> template_bos(const json::Value* post) {
  if (!post || post->is_null()) return std::nullopt;
  if (type_of(*post) == "Sequence") {
    for (const json::Value& p : post->at("processors").as_array())
      if (auto bos = template_bos(&p)) return bos;
    return std::nullopt;
  }
  if (type_of(*post) != "TemplateProcessing") return std::nullopt;
  const json::Value::Array& single = post->at("single").as_array();
  if (single.empty()) return std::nullopt;
  const json::Value* special = single[0].find("SpecialToken");
  if (!special) return std::nullopt;
  return special->at("id").as_string();
}

// bos_token_id / eos_token_id of a config.json (a list of EOS ids gives its first).
int32_t config_id(const json::Value& config, std::string_view key) {
  const json::Value* v = config.find(key);
  if (!v || v->is_null()) return -1;
  if (v->is_array()) return v->as_array().empty() ? -1 : static_cast<int32_t>(v->as_array()[0].as_int());
  return static_cast<int32_t>(v->as_int());
}

std::unique_ptr<Tokenizer> build(const json::Value& doc, const json::Value* config, const std::string& where) {
  const json::Value& model = doc.at("model");
  if (type_of(model) != "BPE") bad_input(where, "unsupported tokenizer model \"{}\" (supported: BPE)", type_of(model));
  if (flag(model, "byte_fallback", false))
    bad_input(where,
              "SentencePiece-style BPE (byte_fallback) in tokenizer.json is not supported; "
              "use the llama2.c tokenizer.bin or the GGUF vocabulary");
  for (std::string_view key : {"continuing_subword_prefix", "end_of_word_suffix", "dropout"}) {
    const json::Value* v = model.find(key);
    if (v && !v->is_null() && !(v->is_string() && v->as_string().empty()))
      bad_input(where, "unsupported BPE option \"{}\"", key);
  }
  // NFC is accepted as given: the text is expected to be in NFC already (as llama.cpp assumes).
  if (const json::Value* norm = doc.find("normalizer"); norm && !norm->is_null() && type_of(*norm) != "NFC")
    bad_input(where, "unsupported normalizer \"{}\"", type_of(*norm));

  BpeOptions options;
  options.pretokenizer = recognise_pretokenizer(doc.find("pre_tokenizer"), where);
  options.ignore_merges = flag(model, "ignore_merges", false);

  // Ids come from the vocabulary and the added tokens; gaps are unused slots.
  const json::Value::Object& vocab = model.at("vocab").as_object();
  const json::Value* added = doc.find("added_tokens");
  int64_t max_id = -1;
  for (const auto& [piece, id] : vocab) max_id = std::max(max_id, id.as_int());
  if (added)
    for (const json::Value& a : added->as_array()) max_id = std::max(max_id, a.at("id").as_int());
  // Gaps are allowed, but not more of them than tokens: a hostile id of 2^30
  // would otherwise allocate that many slots.
  const int64_t n_given = static_cast<int64_t>(vocab.size() + (added ? added->as_array().size() : 0));
  if (max_id < 0 || max_id >= (int64_t{1} << 31) || max_id >= 2 * n_given + 1024)
    bad_input(where, "the vocabulary's ids are out of range (largest {} for {} tokens)", max_id, n_given);
  std::vector<std::string> tokens(max_id + 1);
  std::vector<int32_t> types(max_id + 1, static_cast<int32_t>(TokenType::Unused));
  for (const auto& [piece, id] : vocab) {
    if (id.as_int() < 0) bad_input(where, "token \"{}\" has a negative id", json::escape(piece));
    tokens[id.as_int()] = piece;
    types[id.as_int()] = static_cast<int32_t>(TokenType::Normal);
  }
  if (added) {
    for (const json::Value& a : added->as_array()) {
      int64_t id = a.at("id").as_int();
      if (id < 0) bad_input(where, "added token with a negative id");
      tokens[id] = a.at("content").as_string();
      types[id] = static_cast<int32_t>(flag(a, "special", false) ? TokenType::Control : TokenType::UserDefined);
    }
  }

  std::vector<std::string> merges;
  const json::Value::Array& merge_list = model.at("merges").as_array();
  merges.reserve(merge_list.size());
  for (const json::Value& m : merge_list) {
    if (m.is_string()) {
      merges.push_back(m.as_string());
    } else {
      const json::Value::Array& pair = m.as_array();
      if (pair.size() != 2) bad_input(where, "a merge is not a pair of tokens");
      merges.push_back(pair[0].as_string() + ' ' + pair[1].as_string());
    }
  }

  std::optional<std::string> bos_text = template_bos(doc.find("post_processor"));
  if (config) {
    options.bos = config_id(*config, "bos_token_id");
    options.eos = config_id(*config, "eos_token_id");
  }
  if (bos_text) {
    options.add_bos = true;
    options.bos = -1;
    for (size_t id = 0; id < tokens.size(); ++id)
      if (tokens[id] == *bos_text && types[id] == static_cast<int32_t>(TokenType::Control))
        options.bos = static_cast<int32_t>(id);
    if (options.bos < 0) bad_input(where, "the post-processor's token \"{}\" is not a special token", *bos_text);
  }
  return Tokenizer::from_bpe(std::move(tokens), merges, std::move(types), options, where);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json_text(std::string_view text, const std::string& where) {
  try {
    return build(json::parse(text, where), nullptr, where);
  } catch (const Error& e) {
    if (!e.where().empty()) throw;
    bad_input(where, "{}", e.what());  // a JSON accessor's error: name the file
  }
}

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json(const std::string& path) {
  json::Value doc = json::parse(read_text(path), path);
  std::filesystem::path config_path = std::filesystem::path(path).parent_path() / "config.json";
  std::optional<json::Value> config;
  if (std::filesystem::exists(config_path)) config = json::parse(read_text(config_path), config_path.string());
  try {
    return build(doc, config ? &*config : nullptr, path);
  } catch (const Error& e) {
    if (!e.where().empty()) throw;
    bad_input(path, "{}", e.what());
  }
}

}  // namespace lexico
