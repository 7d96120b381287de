// Tokenizers of the Llama family: text ↔ token ids.
//
// Two algorithms behind one interface:
//  - byte-level BPE (GPT-2 style: SmolLM2, Llama 3, Qwen2), from a Hugging
//    Face tokenizer.json or from GGUF arrays (tokenizer.ggml.model "gpt2");
//  - SentencePiece BPE with byte fallback (Llama 2, Mistral, llama2.c), from
//    llama2.c's tokenizer.bin or from GGUF arrays (tokenizer.ggml.model "llama").
//
// Pieces are raw bytes: a token that holds part of a UTF-8 character gives
// just those bytes, so a stream of pieces concatenates to the text. Special
// tokens (control and user-defined ones, HF "added_tokens") are recognised
// whole when their text appears in the input, before any other splitting,
// as Hugging Face and llama.cpp do (sentencepiece and llama2.c do not: with
// them "<s>" in a text is plain text; pass parse_special = false for that).
//
// A Tokenizer is immutable once built; encode and decode may run from several
// threads at once (the word cache is locked).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lexico/tokenizer_pretokenizer.h"

namespace lexico {

// Token types as GGUF (tokenizer.ggml.token_type) and SentencePiece number them.
enum class TokenType : int32_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,      // special: <s>, <|im_start|>, ...
  UserDefined = 4,  // also matched whole in text
  Unused = 5,
  Byte = 6,  // SentencePiece byte fallback <0xXX>
};

// Options of a byte-level BPE vocabulary that its arrays do not carry.
struct BpeOptions {
  Pretokenizer pretokenizer = Pretokenizer::Gpt2;
  // A word found whole in the vocabulary is one token, without merging
  // (HF "ignore_merges"; Llama 3 sets it, and llama.cpp assumes it for GGUF
  // vocabularies with the llama-bpe pre-tokenizer).
  bool ignore_merges = false;
  int32_t bos = -1;  // -1: none
  int32_t eos = -1;
  bool add_bos = false;  // the model's convention, see adds_bos()
};

// Hashing for string maps looked up by string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

class Tokenizer {
 public:
  virtual ~Tokenizer();

  // --- Loaders (errors: lexico::Error, BadInput, naming the file) ---

  // A tokenizer.json (by its extension or a leading '{'), else a llama2.c tokenizer.bin.
  static std::unique_ptr<Tokenizer> from_file(const std::string& path);
  // Hugging Face tokenizer.json with a byte-level BPE model and the pre-tokenizer
  // of GPT-2, SmolLM2, Llama 3 or Qwen2 (others are refused by name; Qwen2's NFC
  // normalizer is taken as given: the text must be NFC already, as llama.cpp
  // assumes; SentencePiece-style files with byte_fallback are refused). BOS/EOS
  // come from its post-processor when it prepends a token, else from a
  // config.json beside it.
  static std::unique_ptr<Tokenizer> from_hf_json(const std::string& path);
  static std::unique_ptr<Tokenizer> from_hf_json_text(std::string_view json, const std::string& where);
  // llama2.c's tokenizer.bin: int32 max_token_length, then per piece float32
  // score, int32 length, bytes, up to the end of the file. Ids 0, 1, 2 are
  // <unk>, BOS and EOS; pieces "<0xXX>" are byte fallbacks.
  static std::unique_ptr<Tokenizer> from_llama2c(const std::string& path);
  // GGUF "gpt2" vocabularies: `tokens` in GPT-2's byte-to-unicode form (except
  // control and user-defined tokens, which are literal text), `merges` as
  // "left right" by rank, `types` as TokenType values (empty: all Normal).
  static std::unique_ptr<Tokenizer> from_bpe(std::vector<std::string> tokens, const std::vector<std::string>& merges,
                                             std::vector<int32_t> types, const BpeOptions& options,
                                             const std::string& where);
  // GGUF "llama" vocabularies: pieces with U+2581 for spaces, scores (higher
  // merges first), types as TokenType values (required: they mark the byte pieces).
  static std::unique_ptr<Tokenizer> from_sentencepiece(std::vector<std::string> pieces, std::vector<float> scores,
                                                       std::vector<int32_t> types, int32_t bos, int32_t eos,
                                                       bool add_bos, const std::string& where);

  // --- Use ---

  // Token ids of `text`, after BOS when add_bos and the vocabulary has one.
  // With parse_special false, special tokens' text is encoded as plain text
  // (for untrusted input).
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = true) const;

  // The text of `ids`. Special tokens are left out unless keep_special.
  std::string decode(std::span<const int32_t> ids, bool keep_special = false) const;

  // The bytes of one token (a special token's text for a special token).
  std::string_view token_to_piece(int32_t id) const;
  // What to print for `id` when streaming after `prev` (-1 at the start):
  // token_to_piece, less the space that SentencePiece puts before a text's
  // first word. decode() is the concatenation of these.
  std::string_view stream_piece(int32_t prev, int32_t id) const;

  // The id of a token whose piece is exactly `piece` (special tokens by their text).
  std::optional<int32_t> token_id(std::string_view piece) const;

  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const { return bos_; }  // -1: none
  int32_t eos_id() const { return eos_; }  // -1: none
  // Whether the model expects a BOS before a text (pass it to encode).
  bool adds_bos() const { return add_bos_; }
  TokenType token_type(int32_t id) const;
  bool is_special(int32_t id) const;  // Control, UserDefined or Unknown
  const std::vector<int32_t>& special_ids() const { return special_ids_; }

 protected:
  Tokenizer(std::vector<std::string> pieces, std::vector<TokenType> types, int32_t bos, int32_t eos, bool add_bos,
            const std::string& where);

  // Appends the ids of a text without special tokens; at_start: it begins the input.
  virtual void encode_plain(std::string_view text, bool at_start, std::vector<int32_t>& out) const = 0;
  // Whether a text's first piece carries a leading space the encoder added.
  virtual bool adds_dummy_prefix() const { return false; }

  // GGUF's int32 token types, checked; empty means all Normal.
  static std::vector<TokenType> checked_types(const std::vector<int32_t>& types, size_t n_tokens,
                                              const std::string& where);

 private:
  struct SpecialTrie;

  void check_id(int32_t id) const;

  std::vector<std::string> pieces_;
  std::vector<TokenType> types_;
  StringMap<int32_t> piece_ids_;
  std::vector<int32_t> special_ids_;
  std::unique_ptr<SpecialTrie> specials_;
  int32_t bos_, eos_;
  bool add_bos_;
};

}  // namespace lexico
