#include "lexico/tokenizer.h"

#include <array>
#include <fstream>

#include "lexico/error.h"

namespace lexico {

// The texts of the special tokens, as a byte trie: at each position of the
// input the longest special that starts there wins (HF's leftmost-longest).
struct Tokenizer::SpecialTrie {
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;
  };
  std::vector<Node> nodes{1};
  std::array<bool, 256> starts{};  // bytes a special can start with: a quick reject

  void insert(std::string_view text, int32_t id) {
    if (text.empty()) return;
    starts[static_cast<unsigned char>(text[0])] = true;
    int32_t n = 0;
    for (char ch : text) {
      auto c = static_cast<unsigned char>(ch);
      int32_t child = -1;
      for (auto [byte, next] : nodes[n].children)
        if (byte == c) child = next;
      if (child < 0) {
        child = static_cast<int32_t>(nodes.size());
        nodes[n].children.emplace_back(c, child);
        nodes.emplace_back();
      }
      n = child;
    }
    if (nodes[n].token < 0) nodes[n].token = id;  // the first of equal texts wins
  }

  // The longest special at text[pos]: {id, length}, or {-1, 0}.
  std::pair<int32_t, size_t> match(std::string_view text, size_t pos) const {
    std::pair<int32_t, size_t> best{-1, 0};
    if (!starts[static_cast<unsigned char>(text[pos])]) return best;
    int32_t n = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      auto c = static_cast<unsigned char>(text[i]);
      int32_t child = -1;
      for (auto [byte, next] : nodes[n].children)
        if (byte == c) child = next;
      if (child < 0) break;
      n = child;
      if (nodes[n].token >= 0) best = {nodes[n].token, i + 1 - pos};
    }
    return best;
  }
};

Tokenizer::Tokenizer(std::vector<std::string> pieces, std::vector<TokenType> types, int32_t bos, int32_t eos,
                     bool add_bos, const std::string& where)
    : pieces_(std::move(pieces)),
      types_(std::move(types)),
      specials_(std::make_unique<SpecialTrie>()),
      bos_(bos),
      eos_(eos),
      add_bos_(add_bos) {
  if (pieces_.empty()) bad_input(where, "the vocabulary is empty");
  if (types_.size() != pieces_.size()) bad_input(where, "{} token types for {} tokens", types_.size(), pieces_.size());
  for (int32_t id : {bos_, eos_})
    if (id < -1 || id >= vocab_size()) bad_input(where, "BOS/EOS id {} is outside the vocabulary", id);
  piece_ids_.reserve(pieces_.size());
  for (int32_t id = 0; id < vocab_size(); ++id) {
    if (types_[id] != TokenType::Byte) piece_ids_.emplace(pieces_[id], id);  // the first id of a piece wins
    if (is_special(id)) {
      special_ids_.push_back(id);
      specials_->insert(pieces_[id], id);
    }
  }
  // A byte fallback piece is found by its byte only when no other token has it.
  for (int32_t id = 0; id < vocab_size(); ++id)
    if (types_[id] == TokenType::Byte) piece_ids_.emplace(pieces_[id], id);
}

Tokenizer::~Tokenizer() = default;

std::vector<TokenType> Tokenizer::checked_types(const std::vector<int32_t>& types, size_t n_tokens,
                                                const std::string& where) {
  if (types.empty()) return std::vector<TokenType>(n_tokens, TokenType::Normal);
  if (types.size() != n_tokens) bad_input(where, "{} token types for {} tokens", types.size(), n_tokens);
  std::vector<TokenType> out(n_tokens);
  for (size_t i = 0; i < n_tokens; ++i) {
    if (types[i] < 1 || types[i] > 6) bad_input(where, "token {} has an unknown type {}", i, types[i]);
    out[i] = static_cast<TokenType>(types[i]);
  }
  return out;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    bad_input("tokenizer", "token id {} is outside the vocabulary (size {})", id, vocab_size());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  size_t start = 0;
  if (parse_special && !special_ids_.empty()) {
    for (size_t i = 0; i < text.size();) {
      auto [id, len] = specials_->match(text, i);
      if (id < 0) {
        ++i;
        continue;
      }
      if (i > start) encode_plain(text.substr(start, i - start), start == 0, out);
      out.push_back(id);
      i += len;
      start = i;
    }
  }
  if (start < text.size()) encode_plain(text.substr(start), start == 0, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool keep_special) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    check_id(id);
    if (keep_special || !is_special(id)) out += stream_piece(prev, id);
    prev = id;
  }
  return out;
}

std::string_view Tokenizer::token_to_piece(int32_t id) const {
  check_id(id);
  return pieces_[id];
}

std::string_view Tokenizer::stream_piece(int32_t prev, int32_t id) const {
  std::string_view piece = token_to_piece(id);
  if (adds_dummy_prefix() && (prev == -1 || prev == bos_) && !is_special(id) && piece.starts_with(' '))
    piece.remove_prefix(1);
  return piece;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view piece) const {
  auto it = piece_ids_.find(piece);
  if (it == piece_ids_.end()) return std::nullopt;
  return it->second;
}

TokenType Tokenizer::token_type(int32_t id) const {
  check_id(id);
  return types_[id];
}

bool Tokenizer::is_special(int32_t id) const {
  TokenType t = token_type(id);
  return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  if (path.ends_with(".json")) return from_hf_json(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open the tokenizer file");
  char first = 0;
  in.get(first);
  if (first == '{') return from_hf_json(path);
  return from_llama2c(path);
}

}  // namespace lexico
