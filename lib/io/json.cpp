#include "lexico/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "lexico/error.h"
#include "model/unicode.h"

namespace lexico::json {

namespace {

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "a boolean";
    case Value::Type::Number: return "a number";
    case Value::Type::String: return "a string";
    case Value::Type::Array: return "an array";
    case Value::Type::Object: return "an object";
  }
  return "?";
}

[[noreturn]] void mismatch(const char* wanted, Value::Type found) {
  bad_input("", "JSON: expected {} but found {}", wanted, type_name(found));
}

// Recursive descent over the RFC 8259 grammar. Depth is bounded so that a
// hostile file of nested brackets cannot overflow the stack.
class Parser {
 public:
  Parser(std::string_view text, const std::string& where) : s_(text), where_(where) {}

  Value document() {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 BOM may be ignored (RFC 8259 §8.1)
    skip_space();
    Value v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected content after the document");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 512;

  [[noreturn]] void fail(std::string_view problem) { fail_at(problem, pos_); }
  [[noreturn]] void fail_at(std::string_view problem, size_t at) {
    bad_input(where_, "JSON: {} at byte {}", problem, at);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      char c = peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) fail("invalid literal");
    pos_ += word.size();
  }

  Value value(int depth) {
    if (at_end()) fail("unexpected end of input");
    switch (peek()) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return Value::make_string(string());
      case 't': expect_literal("true"); return Value::make_bool(true);
      case 'f': expect_literal("false"); return Value::make_bool(false);
      case 'n': expect_literal("null"); return Value();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
        fail("unexpected character");
    }
  }

  Value object(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 512 levels");
    ++pos_;  // '{'
    Value::Object members;
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return Value::make_object(std::move(members));
    }
    for (;;) {
      skip_space();
      if (at_end() || peek() != '"') fail("expected a string key");
      std::string key = string();
      skip_space();
      if (at_end() || peek() != ':') fail("expected ':'");
      ++pos_;
      skip_space();
      Value v = value(depth);
      members.emplace_back(std::move(key), std::move(v));
      skip_space();
      if (at_end()) fail("unterminated object");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return Value::make_object(std::move(members));
      }
      fail("expected ',' or '}'");
    }
  }

  Value array(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 512 levels");
    ++pos_;  // '['
    Value::Array items;
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return Value::make_array(std::move(items));
    }
    for (;;) {
      skip_space();
      items.push_back(value(depth));
      skip_space();
      if (at_end()) fail("unterminated array");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Value::make_array(std::move(items));
      }
      fail("expected ',' or ']'");
    }
  }

  size_t digits() {
    size_t start = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ - start;
  }

  Value number() {
    size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (at_end()) fail("invalid number");
    if (peek() == '0') {
      ++pos_;  // no leading zeros
    } else if (digits() == 0) {
      fail("invalid number");
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (digits() == 0) fail("invalid number: digits expected after '.'");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) fail("invalid number: digits expected in the exponent");
    }
    std::string_view text = s_.substr(start, pos_ - start);
    double d = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec == std::errc::result_out_of_range) {
      // Underflow is a tiny value, not an error; overflow cannot be represented.
      if (decimal_magnitude(text) > 0) fail_at("number out of range", start);
      d = text[0] == '-' ? -0.0 : 0.0;
    } else if (ec != std::errc() || end != text.data() + text.size()) {
      fail_at("invalid number", start);
    }
    return Value::make_number(d);
  }

  // Roughly log10 of a validated number's magnitude, enough to tell overflow
  // (positive) from underflow (negative) when from_chars reports out of range.
  static int64_t decimal_magnitude(std::string_view num) {
    size_t i = num[0] == '-' ? 1 : 0;
    int64_t mag = 0;
    if (num[i] != '0') {  // digits before the point (no leading zeros in JSON)
      while (i < num.size() && num[i] >= '0' && num[i] <= '9') ++i, ++mag;
    } else if (i + 1 < num.size() && num[i + 1] == '.') {  // 0.000ddd: minus the zeros after the point
      for (i += 2; i < num.size() && num[i] == '0'; ++i) --mag;
    }
    size_t e = num.find_first_of("eE");
    if (e != std::string_view::npos) {
      bool negative = num[e + 1] == '-';
      int64_t exp = 0;
      for (size_t j = e + 1; j < num.size(); ++j)
        if (num[j] >= '0' && num[j] <= '9') exp = std::min<int64_t>(exp * 10 + (num[j] - '0'), 1'000'000'000);
      mag += negative ? -exp : exp;
    }
    return mag;
  }

  uint32_t hex4() {
    if (s_.size() - pos_ < 4) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail_at("invalid hex digit in \\u escape", pos_ - 1);
    }
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      // Fast path: plain ASCII runs are copied in one go.
      size_t run = pos_;
      while (run < s_.size()) {
        auto c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out.append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (at_end()) fail("unterminated string");
      auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c >= 0x80) {  // copied verbatim once known to be well formed
        unicode::Utf8Char ch = unicode::decode_utf8(s_, pos_);
        if (ch.cp == unicode::kInvalid) fail("invalid UTF-8");
        out.append(s_.data() + pos_, ch.len);
        pos_ += ch.len;
        continue;
      }
      ++pos_;  // backslash
      if (at_end()) fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          size_t esc = pos_ - 2;
          uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at("unpaired low surrogate", esc);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.substr(pos_, 2) != "\\u") fail_at("unpaired high surrogate", esc);
            pos_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail_at("unpaired high surrogate", esc);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          unicode::append_utf8(out, cp);
          break;
        }
        default: fail_at("invalid escape", pos_ - 2);
      }
    }
  }

  std::string_view s_;
  const std::string& where_;
  size_t pos_ = 0;
};

}  // namespace

Value Value::make_bool(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}
Value Value::make_number(double d) {
  Value v;
  v.type_ = Type::Number;
  v.number_ = d;
  return v;
}
Value Value::make_string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.string_ = std::move(s);
  return v;
}
Value Value::make_array(Array a) {
  Value v;
  v.type_ = Type::Array;
  v.array_ = std::move(a);
  return v;
}
Value Value::make_object(Object o) {
  Value v;
  v.type_ = Type::Object;
  v.object_ = std::move(o);
  return v;
}

bool Value::as_bool() const {
  if (type_ != Type::Bool) mismatch("a boolean", type_);
  return bool_;
}
double Value::as_number() const {
  if (type_ != Type::Number) mismatch("a number", type_);
  return number_;
}
int64_t Value::as_int() const {
  if (type_ != Type::Number) mismatch("an integer", type_);
  // 2^63 is exact in a double; the valid range is [-2^63, 2^63).
  constexpr double kLimit = 9223372036854775808.0;
  if (number_ != std::floor(number_) || number_ < -kLimit || number_ >= kLimit)
    bad_input("", "JSON: expected an integer but found {}", number_);
  return static_cast<int64_t>(number_);
}
const std::string& Value::as_string() const {
  if (type_ != Type::String) mismatch("a string", type_);
  return string_;
}
const Value::Array& Value::as_array() const {
  if (type_ != Type::Array) mismatch("an array", type_);
  return array_;
}
const Value::Object& Value::as_object() const {
  if (type_ != Type::Object) mismatch("an object", type_);
  return object_;
}

// With duplicate keys (allowed by the grammar), the first one wins.
const Value* Value::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& [k, v] : object_)
    if (k == key) return &v;
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  if (type_ != Type::Object) mismatch("an object", type_);
  const Value* v = find(key);
  if (!v) bad_input("", "JSON: key \"{}\" is missing", escape(key));
  return *v;
}

Value parse(std::string_view text, const std::string& where) { return Parser(text, where).document(); }

std::string escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  return out;
}

}  // namespace lexico::json
