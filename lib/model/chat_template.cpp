#include "lexico/chat_template.h"

#include "lexico/error.h"

namespace lexico {

namespace {

constexpr std::string_view kSmolLM2System = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

// Jinja's `trim`: whitespace off both ends.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) + 1 - first);
}

}  // namespace

ChatTemplate::ChatTemplate(std::string name, Style style, std::string default_system)
    : name_(std::move(name)),
      style_(style),
      default_system_(std::move(default_system)),
      end_of_turn_(style == Style::ChatML ? "<|im_end|>" : "<|eot_id|>") {}

ChatTemplate ChatTemplate::by_name(std::string_view name) {
  if (name == "chatml") return ChatTemplate("chatml", Style::ChatML, "");
  if (name == "smollm2") return ChatTemplate("smollm2", Style::ChatML, std::string(kSmolLM2System));
  if (name == "llama3") return ChatTemplate("llama3", Style::Llama3, "");
  usage_error("chat template", "unknown chat template \"{}\" (known: chatml, smollm2, llama3)", name);
}

ChatTemplate ChatTemplate::detect(const Tokenizer& tok, std::string_view hf_template) {
  if (!hf_template.empty()) {
    if (hf_template.find("<|start_header_id|>") != std::string_view::npos) return by_name("llama3");
    if (hf_template.find("<|im_start|>") != std::string_view::npos)
      return by_name(hf_template.find(kSmolLM2System) != std::string_view::npos ? "smollm2" : "chatml");
    bad_input("chat template", "the model's chat template is neither ChatML nor Llama 3's");
  }
  auto has = [&](std::string_view piece) {
    std::optional<int32_t> id = tok.token_id(piece);
    return id && tok.is_special(*id);
  };
  if (has("<|start_header_id|>") && has("<|end_header_id|>") && has("<|eot_id|>")) return by_name("llama3");
  // SmolLM2's vocabulary is StarCoder's (code tokens such as <repo_name>) with ChatML added.
  if (has("<|im_start|>") && has("<|im_end|>")) return by_name(has("<repo_name>") ? "smollm2" : "chatml");
  bad_input("chat template", "the tokenizer has neither ChatML's nor Llama 3's special tokens");
}

std::vector<ChatTemplate::Part> ChatTemplate::parts(std::span<const ChatMessage> messages,
                                                    bool add_generation_prompt) const {
  std::vector<Part> out;
  auto special = [&](std::string_view s) { out.push_back({std::string(s), true}); };
  auto text = [&](std::string s) { out.push_back({std::move(s), false}); };
  if (style_ == Style::ChatML) {
    auto turn = [&](std::string_view role, std::string_view content) {
      special("<|im_start|>");
      text(std::string(role) + "\n" + std::string(content));
      special("<|im_end|>");
      text("\n");
    };
    if (!default_system_.empty() && (messages.empty() || messages[0].role != "system")) turn("system", default_system_);
    for (const ChatMessage& m : messages) turn(m.role, m.content);
    if (add_generation_prompt) {
      special("<|im_start|>");
      text("assistant\n");
    }
  } else {
    special("<|begin_of_text|>");
    auto header = [&](std::string_view role) {
      special("<|start_header_id|>");
      text(std::string(role));
      special("<|end_header_id|>");
    };
    for (const ChatMessage& m : messages) {
      header(m.role);
      text("\n\n" + std::string(trim(m.content)));
      special("<|eot_id|>");
    }
    if (add_generation_prompt) {
      header("assistant");
      text("\n\n");
    }
  }
  return out;
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  std::string out;
  for (const Part& p : parts(messages, add_generation_prompt)) out += p.text;
  return out;
}

std::vector<int32_t> ChatTemplate::encode(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                          bool add_generation_prompt) const {
  std::vector<int32_t> ids;
  std::string plain;  // text between two template specials, encoded as one piece as the whole render would be
  auto flush = [&] {
    std::vector<int32_t> more = tok.encode(plain, false, false);
    ids.insert(ids.end(), more.begin(), more.end());
    plain.clear();
  };
  for (const Part& p : parts(messages, add_generation_prompt)) {
    if (!p.special) {
      plain += p.text;
      continue;
    }
    flush();
    std::optional<int32_t> id = tok.token_id(p.text);
    if (!id || !tok.is_special(*id))
      bad_input("chat template", "{}: the tokenizer has no special token {}", name_, p.text);
    ids.push_back(*id);
  }
  flush();
  return ids;
}

}  // namespace lexico
