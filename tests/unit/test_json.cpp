#include <doctest/doctest.h>

#include <string>

#include "lexico/error.h"
#include "lexico/json.h"

using lexico::json::parse;
using lexico::json::Value;

namespace {

// The message of the error that parsing `text` throws ("" when it parses).
std::string parse_error(std::string_view text) {
  try {
    parse(text, "t.json");
  } catch (const lexico::Error& e) {
    CHECK(e.kind() == lexico::ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("json: scalars") {
  CHECK(parse("null", "t").is_null());
  CHECK(parse(" true ", "t").as_bool());
  CHECK_FALSE(parse("false", "t").as_bool());
  CHECK(parse("0", "t").as_number() == 0);
  CHECK(parse("-0", "t").as_number() == 0);
  CHECK(parse("42", "t").as_int() == 42);
  CHECK(parse("-17", "t").as_int() == -17);
  CHECK(parse("3.25", "t").as_number() == 3.25);
  CHECK(parse("1e3", "t").as_int() == 1000);
  CHECK(parse("2.5E-1", "t").as_number() == 0.25);
  CHECK(parse("1e+2", "t").as_number() == 100);
  CHECK(parse("1e-400", "t").as_number() == 0);  // underflow is zero, not an error
  CHECK(parse("-0.0001e-400", "t").as_number() == 0);
  CHECK(parse("1000e-400", "t").as_number() == 0);
  CHECK(parse("5e-324", "t").as_number() > 0);  // the smallest subnormal
  CHECK(parse("1.7976931348623157e308", "t").as_number() > 1e308);
  CHECK(parse("9007199254740993", "t").as_int() == 9007199254740992);  // nearest double
  CHECK(parse("\"hi\"", "t").as_string() == "hi");
}

TEST_CASE("json: string escapes") {
  CHECK(parse(R"("a\"b\\c\/d\b\f\n\r\t")", "t").as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(parse(R"("\u0041\u00e9\u20AC")", "t").as_string() == "A\xC3\xA9\xE2\x82\xAC");
  CHECK(parse(R"("\u0000")", "t").as_string() == std::string(1, '\0'));
  // A surrogate pair is one code point (U+1F600) in four UTF-8 bytes.
  CHECK(parse(R"("\ud83d\ude00")", "t").as_string() == "\xF0\x9F\x98\x80");
  // Raw UTF-8 passes through unchanged.
  CHECK(parse("\"\xC4\xA0x\xF0\x9F\x98\x80\"", "t").as_string() == "\xC4\xA0x\xF0\x9F\x98\x80");
}

TEST_CASE("json: containers keep order and nest") {
  Value v = parse(R"( { "b" : [1, {"x": null}, []], "a": {}, "c": "z" } )", "t");
  REQUIRE(v.is_object());
  const auto& o = v.as_object();
  REQUIRE(o.size() == 3);
  CHECK(o[0].first == "b");
  CHECK(o[1].first == "a");
  CHECK(o[2].first == "c");
  CHECK(v.at("b").as_array().size() == 3);
  CHECK(v.at("b").as_array()[1].at("x").is_null());
  CHECK(v.at("b").as_array()[2].as_array().empty());
  CHECK(v.at("a").as_object().empty());
  CHECK(v.find("missing") == nullptr);
  CHECK(v.at("b").find("x") == nullptr);                        // not an object
  CHECK(parse(R"({"k":1,"k":2})", "t").at("k").as_int() == 1);  // first duplicate wins
}

TEST_CASE("json: accessors reject other types") {
  Value v = parse(R"({"s":"x","n":1.5,"big":1e30})", "t");
  CHECK_THROWS_WITH_AS(v.at("s").as_number(), "JSON: expected a number but found a string", lexico::Error);
  CHECK_THROWS_AS(v.at("n").as_int(), lexico::Error);
  CHECK_THROWS_AS(v.at("big").as_int(), lexico::Error);
  CHECK_THROWS_AS(v.as_array(), lexico::Error);
  CHECK_THROWS_WITH_AS(v.at("nope"), "JSON: key \"nope\" is missing", lexico::Error);
  CHECK_THROWS_AS(v.at("s").at("x"), lexico::Error);
}

TEST_CASE("json: malformed input names the file and the byte") {
  CHECK(parse_error("[1, 2") == "t.json: JSON: unterminated array at byte 5");
  CHECK(parse_error("{\"a\" 1}") == "t.json: JSON: expected ':' at byte 5");
  CHECK(parse_error("tru") == "t.json: JSON: invalid literal at byte 0");
  CHECK(parse_error("1 2") == "t.json: JSON: unexpected content after the document at byte 2");
  CHECK(parse_error("\"\\x\"") == "t.json: JSON: invalid escape at byte 1");
  const char* bad[] = {
      // structure
      "", "   ", "[1,]", "[,1]", "{,}", "{\"a\":1,}", "{1:2}", "[1]]", "{\"a\":}", "[\"a\" \"b\"]", "[1 2]",
      // literals and numbers
      "nul", "'a'", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "1e400", "-0.001e312",
      // strings: unterminated, raw control character, bad escapes, lone surrogates
      "\"abc", "\"a\nb\"", "\"\\u12\"", "\"\\uZZZZ\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
      // invalid UTF-8: stray byte, overlong, truncated, encoded surrogate, above U+10FFFF
      "\"\xFF\"", "\"\xC0\x80\"", "\"\xE2\x82\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\""};
  for (const char* text : bad) {
    INFO("input: ", std::string(text));
    std::string msg = parse_error(text);
    CHECK(msg.rfind("t.json: JSON: ", 0) == 0);
    CHECK(msg.find(" at byte ") != std::string::npos);
  }
}

TEST_CASE("json: nesting depth is bounded") {
  std::string ok(512, '[');
  ok += std::string(512, ']');
  CHECK(parse(ok, "t").is_array());
  std::string deep(100000, '[');
  CHECK(parse_error(deep).find("nesting deeper than 512 levels") != std::string::npos);
  std::string deep_obj;
  for (int i = 0; i < 600; ++i) deep_obj += "{\"a\":";
  CHECK(parse_error(deep_obj).find("nesting deeper") != std::string::npos);
}

TEST_CASE("json: a UTF-8 byte order mark is ignored") {
  CHECK(parse("\xEF\xBB\xBF{\"a\":1}", "t").at("a").as_int() == 1);
}

TEST_CASE("json: escape round-trips through parse") {
  CHECK(lexico::json::escape("plain") == "plain");
  CHECK(lexico::json::escape("a\"b\\c\n\t\x01") == "a\\\"b\\\\c\\n\\t\\u0001");
  std::string all;
  for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
  all += "\xC3\xA9\xF0\x9F\x98\x80";
  std::string quoted = "\"";
  quoted += lexico::json::escape(all);
  quoted += '"';
  CHECK(parse(quoted, "t").as_string() == all);
}
