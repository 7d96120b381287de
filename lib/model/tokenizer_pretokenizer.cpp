#include "lexico/tokenizer_pretokenizer.h"

#include <string>

#include "lexico/error.h"
#include "model/unicode.h"

namespace lexico {

namespace {

using unicode::CharClass;

constexpr std::string_view kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A cursor over the code points of one text.
struct Text {
  std::string_view s;

  bool end(size_t i) const { return i >= s.size(); }
  unicode::Utf8Char at(size_t i) const { return unicode::decode_utf8(s, i); }
  CharClass cls(size_t i) const { return end(i) ? CharClass::Other : unicode::char_class(at(i).cp); }
  bool is(size_t i, CharClass c) const { return !end(i) && cls(i) == c; }
  size_t next(size_t i) const { return i + at(i).len; }
  // End of the run of `c` characters starting at i.
  size_t run(size_t i, CharClass c) const {
    while (is(i, c)) i = next(i);
    return i;
  }
  bool is_newline(size_t i) const { return !end(i) && (s[i] == '\r' || s[i] == '\n'); }
};

// The length in bytes of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
// Ignoring case follows Unicode case folding, where U+017F (long s) is an s.
size_t contraction(std::string_view s, size_t i, bool ignore_case) {
  if (s[i] != '\'' || i + 1 >= s.size()) return 0;
  if (ignore_case && s.substr(i + 1, 2) == "\xC5\xBF") return 3;
  auto lower = [&](size_t k) { return ignore_case && s[k] >= 'A' && s[k] <= 'Z' ? s[k] - 'A' + 'a' : s[k]; };
  char a = lower(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= s.size()) return 0;
  char b = lower(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// `\s+(?!\S)|\s+` at i (a space character): a run of spaces that is followed by
// a non-space gives its last space to that word, unless it is the only one.
size_t match_trailing_spaces(const Text& t, size_t i) {
  size_t last = i, e = i;
  while (t.is(e, CharClass::Space)) last = e, e = t.next(e);
  if (t.end(e) || last == i) return e;
  return last;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const Text& t, size_t i) {
  if (size_t n = contraction(t.s, i, false)) return i + n;
  size_t j = (t.s[i] == ' ' && !t.end(i + 1)) ? i + 1 : i;
  CharClass c = t.cls(j);
  if (c != CharClass::Space) return t.run(j, c);
  return match_trailing_spaces(t, i);
}

// Llama 3 (max_digits 3) and Qwen2 (1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t match_llama3(const Text& t, size_t i, int max_digits) {
  if (size_t n = contraction(t.s, i, true)) return i + n;
  CharClass c = t.cls(i);
  if (c == CharClass::Letter) return t.run(i, CharClass::Letter);
  if (c != CharClass::Number && !t.is_newline(i) && t.is(t.next(i), CharClass::Letter))
    return t.run(t.next(i), CharClass::Letter);
  if (c == CharClass::Number) {
    size_t e = i;
    for (int k = 0; k < max_digits && t.is(e, CharClass::Number); ++k) e = t.next(e);
    return e;
  }
  size_t j = (t.s[i] == ' ') ? i + 1 : i;
  if (t.is(j, CharClass::Other)) {
    size_t e = t.run(j, CharClass::Other);
    while (t.is_newline(e)) ++e;
    return e;
  }
  // c is a space: \s*[\r\n]+ takes the run up to its last newline.
  size_t after_newline = 0;
  for (size_t e = i; t.is(e, CharClass::Space); e = t.next(e))
    if (t.is_newline(e)) after_newline = e + 1;
  if (after_newline) return after_newline;
  return match_trailing_spaces(t, i);
}

template <typename Match>
void split_all(std::string_view s, std::vector<std::string_view>& words, Match match) {
  Text t{s};
  for (size_t i = 0; i < s.size();) {
    size_t e = match(t, i);
    words.push_back(s.substr(i, e - i));
    i = e;
  }
}

}  // namespace

void pretokenize(Pretokenizer kind, std::string_view text, std::vector<std::string_view>& words) {
  switch (kind) {
    case Pretokenizer::Gpt2: split_all(text, words, match_gpt2); return;
    case Pretokenizer::SmolLM: {
      // Each number character is a word; GPT-2's regex splits the text between.
      Text t{text};
      size_t start = 0;
      for (size_t i = 0; i < text.size();) {
        size_t e = t.next(i);
        if (t.cls(i) == CharClass::Number) {
          split_all(text.substr(start, i - start), words, match_gpt2);
          words.push_back(text.substr(i, e - i));
          start = e;
        }
        i = e;
      }
      split_all(text.substr(start), words, match_gpt2);
      return;
    }
    case Pretokenizer::Llama3:
      split_all(text, words, [](const Text& t, size_t i) { return match_llama3(t, i, 3); });
      return;
    case Pretokenizer::Qwen2:
      split_all(text, words, [](const Text& t, size_t i) { return match_llama3(t, i, 1); });
      return;
  }
}

std::string_view pretokenizer_regex(Pretokenizer kind) {
  switch (kind) {
    case Pretokenizer::Gpt2:
    case Pretokenizer::SmolLM: return kGpt2Regex;
    case Pretokenizer::Llama3: return kLlama3Regex;
    case Pretokenizer::Qwen2: return kQwen2Regex;
  }
  return {};
}

Pretokenizer pretokenizer_from_gguf_name(std::string_view name, const std::string& where) {
  if (name == "gpt2" || name == "gpt-2") return Pretokenizer::Gpt2;
  if (name == "smollm") return Pretokenizer::SmolLM;
  if (name == "llama3" || name == "llama-bpe") return Pretokenizer::Llama3;
  if (name == "qwen2") return Pretokenizer::Qwen2;
  bad_input(where, "unsupported pre-tokenizer \"{}\" (supported: gpt2, smollm, llama-bpe, qwen2)", name);
}

}  // namespace lexico
