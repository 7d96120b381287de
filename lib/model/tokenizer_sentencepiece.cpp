// SentencePiece BPE (Llama 2, llama2.c): a space goes before the text, the
// text starts as its characters, and the adjacent pair whose concatenation is
// the best-scoring piece merges first (leftmost among equals), until none is
// a piece. Characters without a piece fall back to their bytes' <0xXX> pieces.
// Same result as sentencepiece's encoder and llama2.c's `encode`, without
// their quadratic scan: a heap holds the candidate pairs.
#include <array>
#include <cmath>
#include <fstream>
#include <mutex>
#include <queue>

#include "lexico/error.h"
#include "lexico/tokenizer.h"
#include "model/unicode.h"

namespace lexico {

namespace {

// "<0xAB>" → 0xAB, or -1.
int byte_of_piece(std::string_view p) {
  if (p.size() != 6 || !p.starts_with("<0x") || p[5] != '>') return -1;
  int v = 0;
  for (char c : p.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

class SentencePieceBpe final : public Tokenizer {
 public:
  // `pieces` are raw text (spaces as ' ', byte pieces as their byte).
  SentencePieceBpe(std::vector<std::string> pieces, std::vector<float> scores, std::vector<TokenType> types,
                   int32_t bos, int32_t eos, bool add_bos, const std::string& where)
      : Tokenizer(std::move(pieces), std::move(types), bos, eos, add_bos, where), scores_(std::move(scores)) {
    if (scores_.size() != static_cast<size_t>(vocab_size()))
      bad_input(where, "{} scores for {} pieces", scores_.size(), vocab_size());
    for (size_t id = 0; id < scores_.size(); ++id)
      if (std::isnan(scores_[id])) bad_input(where, "piece {} has a score that is not a number", id);
    byte_ids_.fill(-1);
    for (int32_t id = 0; id < vocab_size(); ++id) {
      std::string_view piece = token_to_piece(id);
      switch (token_type(id)) {
        case TokenType::Normal:
        case TokenType::UserDefined:
          mergeable_.emplace(piece, id);
          if (size_t last_space = piece.rfind(' ');
              last_space != std::string_view::npos && piece.find_first_not_of(' ') < last_space)
            words_split_at_spaces_ = false;
          break;
        case TokenType::Byte:
          if (byte_ids_[static_cast<unsigned char>(piece[0])] < 0) byte_ids_[static_cast<unsigned char>(piece[0])] = id;
          break;
        case TokenType::Unknown:
          if (unk_id_ < 0) unk_id_ = id;
          break;
        default: break;
      }
    }
  }

 private:
  bool adds_dummy_prefix() const override { return true; }

  void encode_plain(std::string_view text, bool at_start, std::vector<int32_t>& out) const override {
    std::string s;
    if (at_start) s = ' ';
    s += text;
    if (!words_split_at_spaces_) return encode_word(s, out);
    // Words begin where a space follows a non-space: no piece crosses there.
    size_t start = 0;
    for (size_t i = 1; i < s.size(); ++i) {
      if (s[i] == ' ' && s[i - 1] != ' ') {
        encode_word(std::string_view(s).substr(start, i - start), out);
        start = i;
      }
    }
    encode_word(std::string_view(s).substr(start), out);
  }

  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
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

  void merge_word(std::string_view s, std::vector<int32_t>& out) const {
    struct Symbol {
      int32_t start, len, id, prev, next;  // id -1: a character without a piece; len 0: merged away
    };
    struct Candidate {
      float score;
      int32_t left, right, len;  // len: both symbols' bytes when it was made
      int32_t merged;
      bool operator<(const Candidate& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    std::vector<Symbol> sym;
    sym.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      auto len = static_cast<int32_t>(unicode::decode_utf8(s, i).len);
      auto it = mergeable_.find(s.substr(i, len));
      auto n = static_cast<int32_t>(sym.size());
      sym.push_back({static_cast<int32_t>(i), len, it == mergeable_.end() ? -1 : it->second, n - 1, n + 1});
      i += len;
    }
    sym.back().next = -1;
    std::priority_queue<Candidate> heap;
    auto consider = [&](int32_t left) {
      if (left < 0) return;
      int32_t right = sym[left].next;
      if (right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
      int32_t len = sym[left].len + sym[right].len;
      auto it = mergeable_.find(s.substr(sym[left].start, len));
      if (it != mergeable_.end()) heap.push({scores_[it->second], left, right, len, it->second});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i);
    while (!heap.empty()) {
      Candidate c = heap.top();
      heap.pop();
      Symbol& l = sym[c.left];
      // Symbols only grow: unchanged neighbours with the same total length are the same pair.
      if (l.len == 0 || l.next != c.right || l.len + sym[c.right].len != c.len) continue;
      Symbol& r = sym[c.right];
      l.id = c.merged;
      l.len = c.len;
      l.next = r.next;
      r.len = 0;
      if (l.next >= 0) sym[l.next].prev = c.left;
      consider(l.prev);
      consider(c.left);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      if (sym[i].id >= 0) {
        out.push_back(sym[i].id);
        continue;
      }
      for (int32_t k = 0; k < sym[i].len; ++k) {
        int32_t id = byte_ids_[static_cast<unsigned char>(s[sym[i].start + k])];
        if (id < 0) id = unk_id_;
        if (id < 0)
          bad_input("tokenizer", "byte 0x{:02X} has no piece and there is no <unk>",
                    static_cast<unsigned char>(s[sym[i].start + k]));
        out.push_back(id);
      }
    }
  }

  static constexpr size_t kCacheWords = 1 << 16;
  static constexpr size_t kCacheMaxWordBytes = 64;

  std::vector<float> scores_;
  StringMap<int32_t> mergeable_;  // normal and user-defined pieces, by text
  std::array<int32_t, 256> byte_ids_;
  int32_t unk_id_ = -1;
  bool words_split_at_spaces_ = true;  // no piece has a space after another character
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;  // word → ids
};

// A piece's raw text: byte pieces become their byte.
void byte_pieces_to_bytes(std::vector<std::string>& pieces, const std::vector<TokenType>& types,
                          const std::string& where) {
  for (size_t id = 0; id < pieces.size(); ++id) {
    if (types[id] != TokenType::Byte) continue;
    int b = byte_of_piece(pieces[id]);
    if (b < 0) bad_input(where, "byte piece {} is \"{}\", not <0xXX>", id, pieces[id]);
    pieces[id] = std::string(1, static_cast<char>(b));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_sentencepiece(std::vector<std::string> pieces, std::vector<float> scores,
                                                         std::vector<int32_t> types, int32_t bos, int32_t eos,
                                                         bool add_bos, const std::string& where) {
  if (types.empty()) bad_input(where, "SentencePiece token types are required");
  std::vector<TokenType> checked = checked_types(types, pieces.size(), where);
  static constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
  for (size_t id = 0; id < pieces.size(); ++id) {
    if (checked[id] != TokenType::Normal && checked[id] != TokenType::UserDefined) continue;
    std::string text;
    for (std::string_view rest = pieces[id]; !rest.empty();) {
      if (rest.starts_with(kSpaceMark)) {
        text += ' ';
        rest.remove_prefix(kSpaceMark.size());
      } else {
        text += rest[0];
        rest.remove_prefix(1);
      }
    }
    pieces[id] = std::move(text);
  }
  byte_pieces_to_bytes(pieces, checked, where);
  return std::make_unique<SentencePieceBpe>(std::move(pieces), std::move(scores), std::move(checked), bos, eos, add_bos,
                                            where);
}

std::unique_ptr<Tokenizer> Tokenizer::from_llama2c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open the tokenizer file");
  auto read = [&](void* dst, size_t n) { return static_cast<bool>(in.read(static_cast<char*>(dst), n)); };
  int32_t max_len = 0;
  if (!read(&max_len, 4) || max_len <= 0 || max_len > 1024)
    bad_input(path, "neither a tokenizer.json nor a llama2.c tokenizer.bin (bad max_token_length)");
  std::vector<std::string> pieces;
  std::vector<float> scores;
  for (;;) {
    float score;
    if (!in.read(reinterpret_cast<char*>(&score), 4)) {
      if (in.gcount() != 0) bad_input(path, "truncated in piece {}", pieces.size());
      break;
    }
    int32_t len = 0;
    if (!read(&len, 4)) bad_input(path, "truncated in piece {}", pieces.size());
    if (len < 0 || len > max_len)
      bad_input(path, "piece {} has a bad length {} (max_token_length is {})", pieces.size(), len, max_len);
    std::string piece(len, '\0');
    if (!read(piece.data(), len)) bad_input(path, "truncated in piece {}", pieces.size());
    pieces.push_back(std::move(piece));
    scores.push_back(score);
  }
  if (pieces.size() < 3) bad_input(path, "{} pieces: fewer than <unk>, BOS and EOS", pieces.size());
  // llama2.c fixes ids 0, 1, 2 as <unk>, BOS, EOS (exported as "\n<s>\n",
  // "\n</s>\n"); its byte fallback pieces read "<0xXX>".
  std::vector<TokenType> types(pieces.size(), TokenType::Normal);
  types[0] = TokenType::Unknown;
  types[1] = types[2] = TokenType::Control;
  for (int id : {0, 1, 2}) {
    std::string& p = pieces[id];
    p.erase(0, p.find_first_not_of('\n'));
    p.erase(p.find_last_not_of('\n') + 1);
  }
  for (size_t id = 3; id < pieces.size(); ++id)
    if (byte_of_piece(pieces[id]) >= 0) types[id] = TokenType::Byte;
  byte_pieces_to_bytes(pieces, types, path);
  return std::make_unique<SentencePieceBpe>(std::move(pieces), std::move(scores), std::move(types), 1, 2, true, path);
}

}  // namespace lexico
