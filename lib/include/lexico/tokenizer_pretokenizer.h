// Pre-tokenization for byte-level BPE: the split of a text into the words
// that BPE merges within. Each supported pre-tokenizer reproduces one known
// regular expression of Hugging Face `tokenizers` (matched by hand, no regex
// engine), with Oniguruma's semantics: leftmost alternative first, greedy
// with backtracking.
#pragma once
#include <string_view>
#include <vector>

namespace lexico {

enum class Pretokenizer {
  Gpt2,    // GPT-2's ByteLevel regex
  SmolLM,  // every \p{N} character on its own (Digits, individual_digits), then GPT-2's regex
  Llama3,  // Llama 3's Split regex: case-insensitive contractions, numbers in groups of up to 3
  Qwen2,   // Llama 3's regex with single-character numbers
};

// Appends the words of `text` to `words` (views into `text`; together they
// cover it exactly, in order).
void pretokenize(Pretokenizer kind, std::string_view text, std::vector<std::string_view>& words);

// The regular expression a pre-tokenizer implements, as tokenizer.json spells
// it (for SmolLM: the regex applied after the digit split).
std::string_view pretokenizer_regex(Pretokenizer kind);

// From a GGUF `tokenizer.ggml.pre` value ("gpt-2", "smollm", "llama-bpe",
// "qwen2", ...); throws BadInput naming `where` for one not supported.
Pretokenizer pretokenizer_from_gguf_name(std::string_view name, const std::string& where);

}  // namespace lexico
