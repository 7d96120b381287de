#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "lexico/chat_template.h"
#include "lexico/error.h"

using lexico::ChatMessage;
using lexico::ChatTemplate;
using lexico::Tokenizer;

namespace {

// Byte-level tokens for the 256 bytes (GPT-2 alphabet), then the given specials.
std::unique_ptr<Tokenizer> bytes_and_specials(const std::vector<std::string>& specials) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    uint32_t cp = static_cast<uint32_t>(b);
    if (!printable) {
      cp = 0x100;
      for (int k = 0; k < b; ++k) cp += !((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
    }
    std::string t;
    if (cp < 0x80) {
      t += static_cast<char>(cp);
    } else {
      t += static_cast<char>(0xC0 | (cp >> 6));
      t += static_cast<char>(0x80 | (cp & 0x3F));
    }
    tokens.push_back(t);
  }
  std::vector<int32_t> types(256, 1);
  for (const std::string& s : specials) {
    tokens.push_back(s);
    types.push_back(3);
  }
  return Tokenizer::from_bpe(tokens, {}, types, {}, "test");
}

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", " Hi <|im_end|> "}, {"assistant", "Hello."}};

}  // namespace

TEST_CASE("chat template: ChatML and SmolLM2's default system prompt") {
  ChatTemplate chatml = ChatTemplate::by_name("chatml");
  CHECK(chatml.end_of_turn() == "<|im_end|>");
  CHECK(chatml.render(kConversation, true) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|> <|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>assistant\n");
  std::vector<ChatMessage> user_only = {{"user", "What is 2+2?"}};
  CHECK(chatml.render(user_only, false) == "<|im_start|>user\nWhat is 2+2?<|im_end|>\n");
  ChatTemplate smol = ChatTemplate::by_name("smollm2");
  CHECK(smol.render(user_only, true) ==
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  // A system message of its own replaces the default.
  CHECK(smol.render(kConversation, false) == chatml.render(kConversation, false));
}

TEST_CASE("chat template: Llama 3 headers, trimmed contents") {
  ChatTemplate llama3 = ChatTemplate::by_name("llama3");
  CHECK(llama3.end_of_turn() == "<|eot_id|>");
  CHECK(llama3.render(kConversation, true) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi <|im_end|><|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("chat template: tokens, with special text in messages kept plain") {
  auto tok = bytes_and_specials({"<|im_start|>", "<|im_end|>"});
  ChatTemplate chatml = ChatTemplate::by_name("chatml");
  std::vector<ChatMessage> clean = {{"user", "Hi"}};
  CHECK(chatml.encode(*tok, clean, true) == tok->encode(chatml.render(clean, true), false));
  std::vector<int32_t> ids = chatml.encode(*tok, kConversation, false);
  int32_t im_end = *tok->token_id("<|im_end|>");
  CHECK(std::count(ids.begin(), ids.end(), im_end) == 3);  // the one inside a message is plain text
  CHECK(tok->decode(ids, true) == chatml.render(kConversation, false));
  CHECK_THROWS_WITH_AS(ChatTemplate::by_name("llama3").encode(*tok, clean, true),
                       "chat template: llama3: the tokenizer has no special token <|begin_of_text|>", lexico::Error);
}

TEST_CASE("chat template: chosen by name, detected from specials or the model's template") {
  CHECK_THROWS_WITH_AS(ChatTemplate::by_name("alpaca"),
                       "chat template: unknown chat template \"alpaca\" (known: chatml, smollm2, llama3)",
                       lexico::Error);
  auto llama3 = bytes_and_specials({"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"});
  CHECK(ChatTemplate::detect(*llama3).name() == "llama3");
  auto qwen = bytes_and_specials({"<|endoftext|>", "<|im_start|>", "<|im_end|>"});
  CHECK(ChatTemplate::detect(*qwen).name() == "chatml");
  auto smol = bytes_and_specials({"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>"});
  CHECK(ChatTemplate::detect(*smol).name() == "smollm2");
  auto plain = bytes_and_specials({"<s>"});
  CHECK_THROWS_AS(ChatTemplate::detect(*plain), lexico::Error);
  // A template string, when the model has one, decides.
  CHECK(ChatTemplate::detect(*plain, "{{ '<|im_start|>' + message['role'] }}").name() == "chatml");
  CHECK(ChatTemplate::detect(*plain,
                             "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                             "Hugging Face<|im_end|>")
            .name() == "smollm2");
  CHECK(ChatTemplate::detect(*plain, "<|start_header_id|>").name() == "llama3");
  CHECK_THROWS_AS(ChatTemplate::detect(*qwen, "[INST] {{ content }} [/INST]"), lexico::Error);
}

TEST_CASE("chat template: SmolLM2's real tokenizer gives HF's prompt ids") {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  std::filesystem::path path =
      std::filesystem::path(env && *env ? env : LEXICO_SHARED_DIR) / "tokenizers/smollm2-135m/tokenizer.json";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: ", path.string(), " not found (set LEXICO_SHARED_DIR to the shared data)");
    return;
  }
  auto tok = Tokenizer::from_file(path.string());
  ChatTemplate t = ChatTemplate::detect(*tok);
  CHECK(t.name() == "smollm2");
  std::vector<ChatMessage> user_only = {{"user", "Hi there"}};
  std::vector<int32_t> ids = t.encode(*tok, user_only, true);
  CHECK(ids == tok->encode(t.render(user_only, true), false));
  // The tail, as HF tokenizers encodes "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n".
  const std::vector<int32_t> tail = {1, 4093, 198, 26843, 665, 2, 198, 1, 520, 9531, 198};
  REQUIRE(ids.size() > tail.size());
  CHECK(std::vector<int32_t>(ids.end() - tail.size(), ids.end()) == tail);
  CHECK(*tok->token_id(t.end_of_turn()) == 2);
}
