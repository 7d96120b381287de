// Byte-level BPE (GPT-2 style): the text is split into words by the
// pre-tokenizer, each word starts as its bytes, and adjacent pairs merge by
// rank (lowest first, leftmost first among equals) until none applies.
#include <array>
#include <mutex>
#include <queue>

#include "lexico/error.h"
#include "lexico/tokenizer.h"
#include "model/unicode.h"

namespace lexico {

namespace {

// GPT-2 stores tokens with every byte shown as a printable code point:
// printable Latin-1 bytes as themselves, the other 68 bytes as U+0100.. in
// byte order. This table undoes it.
struct ByteLevelAlphabet {
  std::array<int16_t, 0x144> byte_of_cp;  // -1: not a byte's code point

  ByteLevelAlphabet() {
    byte_of_cp.fill(-1);
    int next = 0x100;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_of_cp[printable ? b : next++] = static_cast<int16_t>(b);
    }
  }

  // The bytes a token stands for, or nullopt when it is not in this alphabet.
  std::optional<std::string> decode(std::string_view token) const {
    std::string out;
    for (size_t i = 0; i < token.size();) {
      unicode::Utf8Char ch = unicode::decode_utf8(token, i);
      if (ch.cp >= byte_of_cp.size() || byte_of_cp[ch.cp] < 0) return std::nullopt;
      out += static_cast<char>(byte_of_cp[ch.cp]);
      i += ch.len;
    }
    return out;
  }
};

const ByteLevelAlphabet& alphabet() {
  static const ByteLevelAlphabet a;
  return a;
}

class ByteLevelBpe final : public Tokenizer {
 public:
  ByteLevelBpe(std::vector<std::string> pieces, std::vector<TokenType> types, std::vector<bool> in_alphabet,
               const std::vector<std::string>& merges, const BpeOptions& options, const std::string& where)
      : Tokenizer(std::move(pieces), std::move(types), options.bos, options.eos, options.add_bos, where),
        pretokenizer_(options.pretokenizer),
        ignore_merges_(options.ignore_merges) {
    for (int32_t id = 0; id < vocab_size(); ++id)
      if (in_alphabet[id]) word_ids_.emplace(token_to_piece(id), id);
    for (int b = 0; b < 256; ++b) {
      char byte = static_cast<char>(b);
      auto it = word_ids_.find(std::string_view(&byte, 1));
      byte_ids_[b] = it == word_ids_.end() ? -1 : it->second;
    }
    merges_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& m = merges[rank];
      size_t space = m.find(' ');
      if (space == std::string::npos) bad_input(where, "merge {} \"{}\" is not two tokens", rank, m);
      int32_t left = merge_part(m.substr(0, space), rank, where);
      int32_t right = merge_part(m.substr(space + 1), rank, where);
      std::string joined(token_to_piece(left));
      joined += token_to_piece(right);
      auto it = word_ids_.find(joined);
      if (it == word_ids_.end()) bad_input(where, "merge {} \"{}\" makes a token not in the vocabulary", rank, m);
      // A repeated pair takes its last rank, as HF tokenizers does.
      merges_.insert_or_assign(pair_key(left, right), Merge{static_cast<int32_t>(rank), it->second});
    }
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static constexpr size_t kCacheWords = 1 << 16;
  static constexpr size_t kCacheMaxWordBytes = 64;

  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  int32_t merge_part(std::string_view token, size_t rank, const std::string& where) const {
    std::optional<std::string> bytes = alphabet().decode(token);
    auto it = bytes ? word_ids_.find(*bytes) : word_ids_.end();
    if (it == word_ids_.end()) bad_input(where, "merge {} uses \"{}\", which is not in the vocabulary", rank, token);
    return it->second;
  }

  void encode_plain(std::string_view text, bool, std::vector<int32_t>& out) const override {
    std::vector<std::string_view> words;
    pretokenize(pretokenizer_, text, words);
    for (std::string_view w : words) encode_word(w, out);
  }

  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.size() == 1) {
      if (int32_t id = byte_ids_[static_cast<unsigned char>(word[0])]; id >= 0) out.push_back(id);
      return;
    }
    if (ignore_merges_) {
      auto it = word_ids_.find(word);
      if (it != word_ids_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    bool cacheable = word.size() <= kCacheMaxWordBytes;
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      auto it = cache_.find(word);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    size_t first = out.size();
    merge_word(word, out);
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (cache_.size() >= kCacheWords) cache_.clear();  // bounded memory; the hot words come back quickly
      cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + first, out.end()));
    }
  }

  // The symbols form a linked list over the word's bytes; a heap holds the
  // candidate pairs, each checked when popped against the symbols it named
  // (a symbol only grows, so an unchanged id means an unchanged symbol).
  void merge_word(std::string_view word, std::vector<int32_t>& out) const {
    struct Symbol {
      int32_t id, prev, next;
    };
    struct Candidate {
      int32_t rank, left, left_id, right_id, merged;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::vector<Symbol> sym;
    sym.reserve(word.size());
    for (char c : word) {
      int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id < 0) continue;  // a byte without a token is left out, as HF does (no unk in byte-level BPE)
      auto n = static_cast<int32_t>(sym.size());
      sym.push_back({id, n - 1, n + 1});
    }
    if (sym.empty()) return;
    sym.back().next = -1;
    const auto n = static_cast<int32_t>(sym.size());
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto consider = [&](int32_t left) {
      if (left < 0 || sym[left].next < 0) return;
      int32_t right = sym[left].next;
      auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
      if (it != merges_.end()) heap.push({it->second.rank, left, sym[left].id, sym[right].id, it->second.id});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      Candidate c = heap.top();
      heap.pop();
      Symbol& l = sym[c.left];
      if (l.id != c.left_id || l.next < 0 || sym[l.next].id != c.right_id) continue;  // stale
      Symbol& r = sym[l.next];
      l.id = c.merged;
      r.id = -1;
      l.next = r.next;
      if (l.next >= 0) sym[l.next].prev = c.left;
      consider(l.prev);
      consider(c.left);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
  }

  Pretokenizer pretokenizer_;
  bool ignore_merges_;
  StringMap<int32_t> word_ids_;          // tokens of the byte-level alphabet, by their bytes
  std::array<int32_t, 256> byte_ids_{};  // -1: no token for the byte
  std::unordered_map<uint64_t, Merge> merges_;
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;  // word → ids
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_bpe(std::vector<std::string> tokens, const std::vector<std::string>& merges,
                                               std::vector<int32_t> types, const BpeOptions& options,
                                               const std::string& where) {
  std::vector<TokenType> checked = checked_types(types, tokens.size(), where);
  // Control and user-defined tokens are literal text; the others are in GPT-2's
  // alphabet (one that is not cannot come out of merging, and keeps its text).
  std::vector<bool> in_alphabet(tokens.size(), false);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (checked[i] == TokenType::Control || checked[i] == TokenType::UserDefined) continue;
    if (std::optional<std::string> bytes = alphabet().decode(tokens[i])) {
      tokens[i] = std::move(*bytes);
      in_alphabet[i] = true;
    }
  }
  return std::make_unique<ByteLevelBpe>(std::move(tokens), std::move(checked), std::move(in_alphabet), merges, options,
                                        where);
}

}  // namespace lexico
