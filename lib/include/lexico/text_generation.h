// Text generation on a KV cache, shared by lexico-generate and the
// generating modes of lexico-eval (longbench, niah): a prompt's tokens (with
// the chat template when the model has one), prefill, then one token per
// step until a stop token, a stop text or the token limit, with timings and
// the cache's size at the end.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lexico/chat_template.h"
#include "lexico/kv_cache.h"
#include "lexico/model.h"
#include "lexico/sampler.h"
#include "lexico/sequence.h"
#include "lexico/tokenizer.h"

namespace lexico {

// How a user text becomes prompt tokens: through a chat template (an
// instruct model's), or raw with the tokenizer's BOS convention.
struct PromptFormat {
  std::optional<ChatTemplate> chat;  // empty: raw
  std::string system;                // system message for the chat template ("" = the template's default)
  // The template named ("auto" detects it from the tokenizer), or raw.
  static PromptFormat make(const Tokenizer& tok, bool raw, const std::string& template_name = "auto",
                           const std::string& system = "");
  std::vector<int32_t> encode(const Tokenizer& tok, const std::string& user_text) const;
  // EOS and the template's end-of-turn token, when the tokenizer has them.
  std::vector<int32_t> stop_tokens(const Tokenizer& tok) const;
};

struct GenerationOptions {
  int max_new_tokens = 128;
  std::vector<int32_t> stop_tokens;       // end without printing them
  std::vector<std::string> stop_strings;  // end once the text ends with one (kept in the text)
};

struct Generation {
  std::string text;      // the new text (without a stop token)
  int new_tokens = 0;    // sampled, a final stop token included
  int prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Feeds the prompt (non-empty) into the empty cache, then samples. on_piece
// receives each new piece of text as it is produced (for streaming).
Generation generate_text(const Model& model, const Tokenizer& tok, KvCache& cache, std::span<const int32_t> prompt,
                         const GenerationOptions& options, Sampler& sampler,
                         const std::function<void(std::string_view)>& on_piece = {});

// The same over any sequence (the GPU runtime's included).
Generation generate_text(Sequence& sequence, const Tokenizer& tok, std::span<const int32_t> prompt,
                         const GenerationOptions& options, Sampler& sampler,
                         const std::function<void(std::string_view)>& on_piece = {});

}  // namespace lexico
