#include "lexico/text_generation.h"

#include <algorithm>
#include <chrono>

#include "lexico/error.h"

namespace lexico {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool ends_with_any(const std::string& text, const std::vector<std::string>& stops) {
  return std::any_of(stops.begin(), stops.end(), [&](const std::string& s) {
    return !s.empty() && text.size() >= s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0;
  });
}
}  // namespace

PromptFormat PromptFormat::make(const Tokenizer& tok, bool raw, const std::string& template_name,
                                const std::string& system) {
  PromptFormat f;
  f.system = system;
  if (!raw) f.chat = template_name == "auto" ? ChatTemplate::detect(tok) : ChatTemplate::by_name(template_name);
  return f;
}

std::vector<int32_t> PromptFormat::encode(const Tokenizer& tok, const std::string& user_text) const {
  if (!chat) return tok.encode(user_text, tok.adds_bos());
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  messages.push_back({"user", user_text});
  return chat->encode(tok, messages, true);
}

std::vector<int32_t> PromptFormat::stop_tokens(const Tokenizer& tok) const {
  std::vector<int32_t> ids;
  if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
  if (chat)
    if (auto id = tok.token_id(chat->end_of_turn()); id && *id != tok.eos_id()) ids.push_back(*id);
  return ids;
}

Generation generate_text(const Model& model, const Tokenizer& tok, KvCache& cache, std::span<const int32_t> prompt,
                         const GenerationOptions& options, Sampler& sampler,
                         const std::function<void(std::string_view)>& on_piece) {
  CacheSequence sequence(model, cache);
  return generate_text(sequence, tok, prompt, options, sampler, on_piece);
}

Generation generate_text(Sequence& sequence, const Tokenizer& tok, std::span<const int32_t> prompt,
                         const GenerationOptions& options, Sampler& sampler,
                         const std::function<void(std::string_view)>& on_piece) {
  if (prompt.empty()) internal_error("generate_text", "empty prompt");
  Generation g;
  g.prompt_tokens = static_cast<int>(prompt.size());
  const auto t0 = Clock::now();
  std::vector<int> ids(prompt.begin(), prompt.end());
  Matrix logits = sequence.forward(ids, 0);
  g.prefill_seconds = seconds_since(t0);
  const auto t1 = Clock::now();
  const int vocab = sequence.vocab_size();
  int prev = -1;
  for (int64_t pos = g.prompt_tokens; g.new_tokens < options.max_new_tokens; ++pos) {
    const int next = sampler.sample(logits.data(), vocab);
    ++g.new_tokens;
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end()) break;
    const std::string_view piece = tok.stream_piece(prev, next);
    prev = next;
    g.text.append(piece);
    if (on_piece) on_piece(piece);
    if (ends_with_any(g.text, options.stop_strings) || g.new_tokens == options.max_new_tokens) break;
    logits = sequence.forward(std::span<const int>(&next, 1), pos);
  }
  g.decode_seconds = seconds_since(t1);
  return g;
}

}  // namespace lexico
