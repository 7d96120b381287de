// Chat prompts: the text (and tokens) an instruction-tuned model expects
// around a conversation. Two families:
//   chatml   <|im_start|>role\ncontent<|im_end|>\n ...  (Qwen2 and others)
//   smollm2  ChatML, with SmolLM2-Instruct's default system prompt when the
//            conversation does not start with a system message
//   llama3   <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n
//            content<|eot_id|> ...  (content trimmed, as Llama 3's template does)
// The generation prompt opens an assistant turn.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lexico/tokenizer.h"

namespace lexico {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  // "chatml", "smollm2" or "llama3"; throws a usage error for another name.
  static ChatTemplate by_name(std::string_view name);
  // From a Hugging Face / GGUF template string when there is one, else from the
  // tokenizer's special tokens; throws BadInput when neither is recognised.
  static ChatTemplate detect(const Tokenizer& tok, std::string_view hf_template = {});

  const std::string& name() const { return name_; }

  // The prompt as text, as the model's Jinja template renders it.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  // The prompt's tokens. Special tokens come only from the template: special
  // token text inside a message is encoded as plain text. For contents without
  // such text this equals tok.encode(render(...), false).
  std::vector<int32_t> encode(const Tokenizer& tok, std::span<const ChatMessage> messages,
                              bool add_generation_prompt) const;

  // The special token that ends a turn: generation stops there (and at EOS).
  const std::string& end_of_turn() const { return end_of_turn_; }

 private:
  enum class Style { ChatML, Llama3 };
  struct Part {
    std::string text;
    bool special;
  };

  ChatTemplate(std::string name, Style style, std::string default_system);
  std::vector<Part> parts(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  std::string name_;
  Style style_;
  std::string default_system_;  // empty: none
  std::string end_of_turn_;
};

}  // namespace lexico
