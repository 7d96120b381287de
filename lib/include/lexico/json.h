// A small JSON reader (RFC 8259) for config.json, tokenizer.json, safetensors
// headers and JSONL inputs, plus the escaping that writers need. Object keys
// keep their order. Errors name the source and the byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lexico::json {

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;
  static Value make_bool(bool b);
  static Value make_number(double d);
  static Value make_string(std::string s);
  static Value make_array(Array a);
  static Value make_object(Object o);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Accessors throw lexico::Error (BadInput) on a type mismatch.
  bool as_bool() const;
  double as_number() const;
  int64_t as_int() const;  // the number must be integral and fit
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // Object lookup: nullptr when absent (or when this is not an object).
  const Value* find(std::string_view key) const;
  // Object lookup that throws when the key is absent.
  const Value& at(std::string_view key) const;

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

// Parses one JSON document (whitespace around it allowed). `where` names the
// source (a file name) in error messages.
Value parse(std::string_view text, const std::string& where);

// Escapes a UTF-8 string for inclusion between double quotes.
std::string escape(std::string_view s);

}  // namespace lexico::json
