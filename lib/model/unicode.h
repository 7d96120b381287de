// The few Unicode facts the tokenizers need: decoding UTF-8 one code point at
// a time (tolerating invalid bytes) and the character classes that the
// pre-tokenizers' regular expressions test.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lexico::unicode {

// \p{L}, \p{N}, \s (Oniguruma's Unicode \s); everything else is Other.
enum class CharClass : uint8_t { Other, Letter, Number, Space };

struct ClassRange {
  uint32_t first, last;
  CharClass cls;
};
// Sorted, disjoint ranges of the non-Other classes (generated table).
extern const std::span<const ClassRange> kClassRanges;

CharClass char_class(uint32_t cp);

// A code point and the bytes it takes. An invalid or truncated sequence
// decodes as one byte with a code point no character has (kInvalid), so any
// byte string can be walked.
struct Utf8Char {
  uint32_t cp;
  uint32_t len;
};
inline constexpr uint32_t kInvalid = 0xFFFFFFFF;
Utf8Char decode_utf8(std::string_view s, size_t pos);

void append_utf8(std::string& out, uint32_t cp);

}  // namespace lexico::unicode
