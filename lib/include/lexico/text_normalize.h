// The Python string behaviour that LongBench's metrics rely on, on UTF-8
// text: str.split() with no argument, str.lower(), and the regular-expression
// classes \w and \d of Python 3's `re` on str patterns. The metrics are
// defined by what Python does, so these follow Python, not the C locale.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lexico::pytext {

// One code point per element. A byte that is not part of valid UTF-8 becomes
// 0xFFFFFFFF (matches nothing but itself).
std::vector<uint32_t> code_points(std::string_view s);

// str.isspace(): the characters str.split() splits on (ASCII whitespace,
// U+001C..U+001F, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
// U+202F, U+205F, U+3000).
bool is_space(uint32_t cp);
// re's \w on str: letters and numbers (Unicode L* and N*) and '_'.
bool is_word(uint32_t cp);
// re's \d on str: decimal digits (Unicode Nd), not only 0-9.
bool is_digit(uint32_t cp);

// str.split(): the non-empty runs between whitespace.
std::vector<std::string_view> split(std::string_view s);
// " ".join(s.split())
std::string collapse_whitespace(std::string_view s);
// str.lower() with Python's (Unicode 14) one-to-one mappings, and U+0130 to
// "i" U+0307. Not replicated: the contextual final sigma (Σ always becomes σ).
std::string lower(std::string_view s);
// re.findall(r"\d+", s)
std::vector<std::string_view> digit_runs(std::string_view s);
// s.lstrip(c) for one character c
std::string_view lstrip(std::string_view s, char c);

}  // namespace lexico::pytext
