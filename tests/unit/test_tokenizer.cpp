#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/tokenizer.h"

using lexico::BpeOptions;
using lexico::Pretokenizer;
using lexico::Tokenizer;
using lexico::TokenType;
using Ids = std::vector<int32_t>;

namespace {

namespace fs = std::filesystem;

fs::path shared_dir() {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  return env && *env ? fs::path(env) : fs::path(LEXICO_SHARED_DIR);
}

std::vector<std::string> words(Pretokenizer kind, std::string_view text) {
  std::vector<std::string_view> w;
  lexico::pretokenize(kind, text, w);
  return {w.begin(), w.end()};
}

// A byte string in GPT-2's byte-level alphabet (how tokenizer.json and GGUF store tokens).
std::string byte_level(std::string_view raw) {
  std::string out;
  for (char ch : raw) {
    auto b = static_cast<unsigned char>(ch);
    uint32_t cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) {
      cp = 0x100;
      for (int k = 0; k < b; ++k)
        if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE))) ++cp;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

// A small byte-level BPE: the 256 bytes (ids 0..255 by byte), then merged
// tokens, then two special tokens.
struct SmallBpe {
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
  std::vector<int32_t> types;

  SmallBpe() {
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_level(std::string(1, static_cast<char>(b))));
    for (const char* m : {"a b", "ab c", "b c", "a a", "Ġ ab"}) merges.push_back(m);
    for (const char* t : {"ab", "abc", "bc", "aa", "Ġab", "cab"}) tokens.push_back(t);
    types.assign(tokens.size(), 1);
    for (const char* s : {"<|x|>", "<|xy|>"}) {
      tokens.push_back(s);
      types.push_back(static_cast<int32_t>(TokenType::Control));
    }
  }
  int32_t id(std::string_view t) const {
    return static_cast<int32_t>(std::find(tokens.begin(), tokens.end(), t) - tokens.begin());
  }
  std::unique_ptr<Tokenizer> make(BpeOptions options = {}) const {
    return Tokenizer::from_bpe(tokens, merges, types, options, "small");
  }
};

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const lexico::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("pretokenize: GPT-2 regex") {
  using V = std::vector<std::string>;
  CHECK(words(Pretokenizer::Gpt2, "Hello world! 123") == V{"Hello", " world", "!", " 123"});
  CHECK(words(Pretokenizer::Gpt2, "I'm 'S don't") == V{"I", "'m", " '", "S", " don", "'t"});
  // Trailing spaces give their last one to the next word, unless alone.
  CHECK(words(Pretokenizer::Gpt2, "x  \n y") == V{"x", "  \n", " y"});
  CHECK(words(Pretokenizer::Gpt2, "a   b  ") == V{"a", "  ", " b", "  "});
  CHECK(words(Pretokenizer::Gpt2,
              "\xC2\xA0\xC2\xA0"
              "b") == V{"\xC2\xA0", "\xC2\xA0", "b"});  // NBSP is \s
  CHECK(words(Pretokenizer::Gpt2, "caf\xC3\xA9 \xE4\xB8\xAD!!") == V{"caf\xC3\xA9", " \xE4\xB8\xAD", "!!"});
  CHECK(words(Pretokenizer::Gpt2, "").empty());
  // Invalid UTF-8 is walked byte by byte as "other" characters.
  CHECK(words(Pretokenizer::Gpt2, "a\xFF\xFE b") == V{"a", "\xFF\xFE", " b"});
}

TEST_CASE("pretokenize: SmolLM splits every number character first") {
  using V = std::vector<std::string>;
  CHECK(words(Pretokenizer::SmolLM, "Hello world! 123") == V{"Hello", " world", "!", " ", "1", "2", "3"});
  CHECK(words(Pretokenizer::SmolLM, "a\xC2\xB2x 34") == V{"a", "\xC2\xB2", "x", " ", "3", "4"});  // ² is \p{N}
}

TEST_CASE("pretokenize: Llama 3 and Qwen2 regexes") {
  using V = std::vector<std::string>;
  CHECK(words(Pretokenizer::Llama3, "12345 ab!!\n\n") == V{"123", "45", " ab", "!!\n\n"});
  CHECK(words(Pretokenizer::Qwen2, "12345") == V{"1", "2", "3", "4", "5"});
  CHECK(words(Pretokenizer::Llama3, "a  \n\n  b\t\n c") == V{"a", "  \n\n", " ", " b", "\t\n", " c"});
  CHECK(words(Pretokenizer::Llama3, "x'S 'LL (hi") == V{"x", "'S", " '", "LL", " (", "hi"});
  CHECK(words(Pretokenizer::Llama3, "\t\tfoo") == V{"\t", "\tfoo"});
  CHECK(words(Pretokenizer::Llama3, "'\xC5\xBF") == V{"'\xC5\xBF"});  // long s folds to s
}

TEST_CASE("pretokenize: GGUF names and regexes") {
  CHECK(lexico::pretokenizer_from_gguf_name("smollm", "m.gguf") == Pretokenizer::SmolLM);
  CHECK(lexico::pretokenizer_from_gguf_name("llama-bpe", "m.gguf") == Pretokenizer::Llama3);
  CHECK(lexico::pretokenizer_from_gguf_name("qwen2", "m.gguf") == Pretokenizer::Qwen2);
  CHECK(lexico::pretokenizer_from_gguf_name("gpt2", "m.gguf") == Pretokenizer::Gpt2);
  CHECK(error_of([] {
          lexico::pretokenizer_from_gguf_name("deepseek-llm", "m.gguf");
        }).starts_with("m.gguf: unsupported pre-tokenizer \"deepseek-llm\""));
  CHECK(lexico::pretokenizer_regex(Pretokenizer::Qwen2).find(R"(|\p{N}|)") != std::string_view::npos);
}

TEST_CASE("byte-level BPE: merges by rank, leftmost first") {
  SmallBpe v;
  auto tok = v.make();
  CHECK(tok->vocab_size() == 264);
  CHECK(tok->encode("abc", false) == Ids{v.id("abc")});
  CHECK(tok->encode("bca", false) == Ids{v.id("bc"), 'a'});
  CHECK(tok->encode("aaa", false) == Ids{v.id("aa"), 'a'});
  CHECK(tok->encode("aaaa", false) == Ids{v.id("aa"), v.id("aa")});
  CHECK(tok->encode(" abc", false) == Ids{' ', v.id("abc")});  // rank 1 "ab c" beats rank 4 "Ġ ab"
  CHECK(tok->encode(" ab", false) == Ids{v.id("Ġab")});
  CHECK(tok->encode("cab", false) == Ids{'c', v.id("ab")});
  CHECK(tok->encode("", true).empty());  // no BOS in this vocabulary
  // Pieces are raw bytes; a split character comes out as its bytes.
  CHECK(tok->token_to_piece(v.id("Ġab")) == " ab");
  CHECK(tok->encode("\xC3\xA9", false) == Ids{0xC3, 0xA9});
  CHECK(tok->token_to_piece(0xC3) == "\xC3");
  CHECK(tok->decode(tok->encode("x abc\xC3\xA9 aaa\n", false)) == "x abc\xC3\xA9 aaa\n");
  CHECK(tok->token_id(" ab") == v.id("Ġab"));
  CHECK_FALSE(tok->token_id("zzz").has_value());
}

TEST_CASE("byte-level BPE: ignore_merges takes whole words from the vocabulary") {
  SmallBpe v;
  BpeOptions options;
  options.ignore_merges = true;
  CHECK(v.make(options)->encode("cab", false) == Ids{v.id("cab")});
}

TEST_CASE("byte-level BPE: special tokens, leftmost longest") {
  SmallBpe v;
  auto tok = v.make();
  int32_t x = v.id("<|x|>"), xy = v.id("<|xy|>");
  CHECK(tok->is_special(x));
  CHECK_FALSE(tok->is_special(v.id("ab")));
  CHECK(tok->special_ids() == Ids{x, xy});
  CHECK(tok->encode("ab<|xy|>ab<|x|><|x|", false) == Ids{v.id("ab"), xy, v.id("ab"), x, '<', '|', 'x', '|'});
  CHECK(tok->token_id("<|x|>") == x);
  // Untrusted text: special token text stays plain.
  Ids plain = tok->encode("<|x|>", false, false);
  CHECK(plain.size() == 5);
  CHECK(tok->decode(plain) == "<|x|>");
  // Decoding leaves special tokens out unless asked.
  CHECK(tok->decode(Ids{x, v.id("ab"), xy}) == "ab");
  CHECK(tok->decode(Ids{x, v.id("ab"), xy}, true) == "<|x|>ab<|xy|>");
}

TEST_CASE("byte-level BPE: BOS and a byte without a token") {
  SmallBpe v;
  v.tokens[4] = "unused-4";  // byte 0x04 has no token now, as in SmolLM2
  v.types[4] = static_cast<int32_t>(TokenType::Unused);
  BpeOptions options;
  options.bos = v.id("<|x|>");
  options.add_bos = true;
  auto tok = v.make(options);
  CHECK(tok->adds_bos());
  CHECK(tok->bos_id() == options.bos);
  // Like HF tokenizers without an unk token, such a byte is left out.
  CHECK(tok->encode("a\x04"
                    "b",
                    true) == Ids{options.bos, 'a', 'b'});
  CHECK(tok->encode("\x04", false).empty());
}

TEST_CASE("byte-level BPE: malformed vocabularies are refused") {
  SmallBpe v;
  auto with_merges = [&](std::vector<std::string> merges) {
    return error_of([&] { Tokenizer::from_bpe(v.tokens, merges, v.types, {}, "m.gguf"); });
  };
  CHECK(with_merges({"ab"}) == "m.gguf: merge 0 \"ab\" is not two tokens");
  CHECK(with_merges({"a zz"}) == "m.gguf: merge 0 uses \"zz\", which is not in the vocabulary");
  CHECK(with_merges({"c c"}) == "m.gguf: merge 0 \"c c\" makes a token not in the vocabulary");
  std::vector<int32_t> types = v.types;
  types[3] = 9;
  CHECK(error_of([&] { Tokenizer::from_bpe(v.tokens, v.merges, types, {}, "m.gguf"); }) ==
        "m.gguf: token 3 has an unknown type 9");
  CHECK(error_of([&] {
          Tokenizer::from_bpe(v.tokens, v.merges, {1, 1}, {}, "m.gguf");
        }) == "m.gguf: 2 token types for 264 tokens");
  BpeOptions options;
  options.eos = 999;
  CHECK(error_of([&] { v.make(options); }) == "small: BOS/EOS id 999 is outside the vocabulary");
  auto tok = v.make();
  CHECK_THROWS_AS(tok->token_to_piece(264), lexico::Error);
  CHECK_THROWS_AS(tok->decode(Ids{-1}), lexico::Error);
}

namespace {

// A small SentencePiece vocabulary, GGUF style (U+2581 for spaces).
std::unique_ptr<Tokenizer> small_sentencepiece(std::vector<std::pair<std::string, float>> extra = {}) {
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    pieces.push_back(fmt::format("<0x{:02X}>", b));
    types.push_back(6);
  }
  std::vector<float> scores(pieces.size(), 0.0f);
  std::vector<std::pair<std::string, float>> normal = {{"\xE2\x96\x81", -10},
                                                       {"a", -10},
                                                       {"b", -10},
                                                       {"c", -10},
                                                       {"\xE2\x96\x81"
                                                        "a",
                                                        -2},
                                                       {"ab", -1},
                                                       {"\xE2\x96\x81"
                                                        "ab",
                                                        -3},
                                                       {"aa", -4}};
  normal.insert(normal.end(), extra.begin(), extra.end());
  for (auto& [p, s] : normal) {
    pieces.push_back(p);
    scores.push_back(s);
    types.push_back(1);
  }
  return Tokenizer::from_sentencepiece(pieces, scores, types, 1, 2, true, "sp");
}

}  // namespace

TEST_CASE("SentencePiece BPE: dummy prefix, best score first, byte fallback") {
  auto tok = small_sentencepiece();
  const int32_t space = 259, a = 260, b = 261, c = 262, sp_a = 263, ab = 264, sp_ab = 265, aa = 266;
  CHECK(tok->vocab_size() == 267);
  CHECK(tok->adds_bos());
  CHECK(tok->encode("ab", true) == Ids{1, sp_ab});  // "ab" (-1) merges before "▁a" (-2), then "▁ab"
  CHECK(tok->encode("ab ab", false) == Ids{sp_ab, sp_ab});
  CHECK(tok->encode("aaa", false) == Ids{sp_a, aa});          // "▁a" (-2) beats "aa" (-4)
  CHECK(tok->encode("caaa", false) == Ids{space, c, aa, a});  // leftmost "aa" among equals
  CHECK(tok->encode(" a", false) == Ids{space, sp_a});
  // A character without a piece becomes its bytes: é = C3 A9.
  CHECK(tok->encode("\xC3\xA9"
                    "b",
                    false) == Ids{space, 3 + 0xC3, 3 + 0xA9, b});
  CHECK(tok->token_to_piece(3 + 0xC3) == "\xC3");
  CHECK(tok->token_to_piece(sp_ab) == " ab");
  CHECK(tok->token_id("<s>") == 1);
  CHECK(tok->token_id("\n") == 3 + '\n');  // byte pieces are found by their byte
  // The dummy prefix goes only before the start of the text, not after a special token.
  CHECK(tok->encode("a</s>ab", false) == Ids{sp_a, 2, ab});
  // Decoding drops that space; so does streaming after BOS or at the start.
  for (std::string text : {"ab ab", " a",
                           "\xC3\xA9"
                           "b c",
                           "  ab\n"})
    CHECK(tok->decode(tok->encode(text, true)) == text);
  CHECK(tok->stream_piece(1, sp_ab) == "ab");
  CHECK(tok->stream_piece(-1, sp_ab) == "ab");
  CHECK(tok->stream_piece(sp_ab, sp_ab) == " ab");
  CHECK(tok->decode(Ids{1, sp_a, 2}, true) == "<s>a</s>");
}

TEST_CASE("SentencePiece BPE: pieces with an inner space still merge across it") {
  auto tok = small_sentencepiece({{"a\xE2\x96\x81", -0.5f},
                                  {"a\xE2\x96\x81"
                                   "b",
                                   0}});
  CHECK(tok->encode("a b", false) == Ids{259, 268});
}

TEST_CASE("llama2.c tokenizer.bin: loads, marks specials and bytes, refuses bad files") {
  fs::path dir = fs::temp_directory_path() / fmt::format("lexico-tok-{}", getpid());
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<std::pair<float, std::string>>& pieces,
                   int32_t max_len = 8, size_t cut = 0) {
    std::string bytes(reinterpret_cast<const char*>(&max_len), 4);
    for (auto& [score, p] : pieces) {
      bytes.append(reinterpret_cast<const char*>(&score), 4);
      auto len = static_cast<int32_t>(p.size());
      bytes.append(reinterpret_cast<const char*>(&len), 4);
      bytes += p;
    }
    bytes.resize(bytes.size() - cut);
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return (dir / name).string();
  };
  std::vector<std::pair<float, std::string>> pieces = {{0, "<unk>"},  {0, "\n<s>\n"}, {0, "\n</s>\n"},
                                                       {0, "<0x0A>"}, {0, " "},       {0, "h"},
                                                       {0, "i"},      {-1, " h"},     {-2, " hi"}};
  auto tok = Tokenizer::from_file(write("ok.bin", pieces));
  CHECK(tok->vocab_size() == 9);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  CHECK(tok->token_to_piece(1) == "<s>");
  CHECK(tok->token_type(0) == TokenType::Unknown);
  CHECK(tok->token_type(3) == TokenType::Byte);
  CHECK(tok->encode("hi\n", true) == Ids{1, 8, 3});
  CHECK(tok->encode("x", false) == Ids{4, 0});  // no piece and no byte piece: <unk>
  for (size_t cut : {3, 5, 9})
    CHECK(
        error_of([&] { Tokenizer::from_llama2c(write("cut.bin", pieces, 8, cut)); }).ends_with("truncated in piece 8"));
  CHECK(error_of([&] {
          Tokenizer::from_llama2c(write("long.bin", pieces, 3));
        }).ends_with("piece 0 has a bad length 5 (max_token_length is 3)"));
  CHECK(error_of([&] {
          Tokenizer::from_llama2c(write("few.bin", {{0, "<unk>"}}));
        }).ends_with("1 pieces: fewer than <unk>, BOS and EOS"));
  CHECK(error_of([&] {
          Tokenizer::from_llama2c((dir / "missing.bin").string());
        }).ends_with("cannot open the tokenizer file"));
  fs::remove_all(dir);
}

namespace {

// A tokenizer.json in Llama 3's shape over the bytes and a few merges.
std::string llama3_style_json(std::string_view regex_json, std::string_view model_type = "BPE") {
  std::string vocab;
  for (int b = 0; b < 256; ++b)
    vocab += fmt::format("\"{}\": {}, ", lexico::json::escape(byte_level(std::string(1, static_cast<char>(b)))), b);
  vocab += "\"12\": 256, \"123\": 257, \"Ġab\": 258, \"ab\": 259";
  return fmt::format(R"({{
    "version": "1.0",
    "added_tokens": [{{"id": 260, "content": "<|begin_of_text|>", "special": true}},
                     {{"id": 262, "content": "<|user|>", "special": false}}],
    "normalizer": null,
    "pre_tokenizer": {{"type": "Sequence", "pretokenizers": [
        {{"type": "Split", "pattern": {{"Regex": "{}"}}, "behavior": "Isolated", "invert": false}},
        {{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}]}},
    "post_processor": {{"type": "Sequence", "processors": [
        {{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}},
        {{"type": "TemplateProcessing",
          "single": [{{"SpecialToken": {{"id": "<|begin_of_text|>", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}]}}]}},
    "decoder": {{"type": "ByteLevel"}},
    "model": {{"type": "{}", "ignore_merges": true, "vocab": {{{}}},
               "merges": [["1", "2"], "12 3", ["a", "b"], "Ġ ab"]}}
  }})",
                     regex_json, model_type, vocab);
}

std::string json_escaped(std::string_view s) { return lexico::json::escape(s); }

}  // namespace

TEST_CASE("tokenizer.json: Llama 3 style Split, post-processor BOS, merges as pairs, gaps") {
  auto tok = Tokenizer::from_hf_json_text(
      llama3_style_json(json_escaped(lexico::pretokenizer_regex(Pretokenizer::Llama3))), "t.json");
  CHECK(tok->vocab_size() == 263);  // id 261 is an unused gap
  CHECK(tok->bos_id() == 260);
  CHECK(tok->adds_bos());
  CHECK(tok->eos_id() == -1);
  CHECK(tok->token_type(261) == TokenType::Unused);
  CHECK(tok->token_type(262) == TokenType::UserDefined);
  CHECK(tok->encode("12345 ab", true) == Ids{260, 257, '4', '5', 258});
  CHECK(tok->encode("<|user|>ab", false) == Ids{262, 259});
}

TEST_CASE("tokenizer.json: unsupported parts are refused by name") {
  CHECK(error_of([] { Tokenizer::from_hf_json_text(llama3_style_json("\\\\w+"), "t.json"); }) ==
        "t.json: unsupported Split regex \"\\\\w+\" (supported: those of GPT-2, Llama 3 and Qwen2)");
  CHECK(error_of([] { Tokenizer::from_hf_json_text(llama3_style_json("x", "Unigram"), "t.json"); }) ==
        "t.json: unsupported tokenizer model \"Unigram\" (supported: BPE)");
  CHECK(error_of([] { Tokenizer::from_hf_json_text(R"({"model": {"type": "BPE"}})", "t.json"); }) ==
        "t.json: a byte-level BPE tokenizer.json needs a pre_tokenizer");
  CHECK(error_of([] { Tokenizer::from_hf_json_text("{\"model\": ", "t.json"); }) ==
        "t.json: JSON: unexpected end of input at byte 10");
  CHECK(error_of([] { Tokenizer::from_hf_json_text(R"({"nothing": 1})", "t.json"); }) ==
        "t.json: JSON: key \"model\" is missing");
  CHECK(error_of([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }) ==
        "/nonexistent/tokenizer.json: cannot open the file");
}

TEST_CASE("SmolLM2 tokenizer.json: ids as HF tokenizers gives them") {
  fs::path path = shared_dir() / "tokenizers/smollm2-135m/tokenizer.json";
  if (!fs::exists(path)) {
    MESSAGE("skipped: ", path.string(), " not found (set LEXICO_SHARED_DIR to the shared data)");
    return;
  }
  auto tok = Tokenizer::from_file(path.string());
  CHECK(tok->vocab_size() == 49152);
  CHECK(tok->bos_id() == 1);  // from config.json beside it
  CHECK(tok->eos_id() == 2);
  CHECK_FALSE(tok->adds_bos());  // no post-processor
  // Expected ids: tokenizers 0.23 on the same file.
  CHECK(tok->encode("Hello world! 123", false) == Ids{19556, 905, 17, 216, 33, 34, 35});
  CHECK(tok->encode("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", false) ==
        Ids{1, 4093, 198, 26843, 665, 2, 198, 1, 520, 9531, 198});
  CHECK(tok->encode("x<|im_end|><|im_end|> <|endoftext|>y", false) == Ids{104, 2, 2, 216, 0, 105});
  CHECK(tok->encode("  multiple   spaces", false) == Ids{216, 2701, 256, 5600});
  CHECK(tok->encode("Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu.", false) ==
        Ids{51, 1939, 2756, 32564, 90, 16739, 386, 101, 30});
  CHECK(tok->encode("<|im_start|", false) == Ids{44, 108, 306, 79, 3738, 108});
  CHECK(tok->encode("tab\tnew\r\nline  ", false) == Ids{15999, 197, 2241, 201, 198, 1311, 256});
  CHECK(tok->encode("don't I'LL we've", false) == Ids{12420, 982, 339, 23, 16421, 392, 3543});
  CHECK(tok->encode("a\x04"
                    "b",
                    false) == Ids{81, 82});
  CHECK(tok->encode("!\x04!", false) == Ids{10095});  // bytes without a token are dropped before merging
  CHECK(tok->decode(Ids{1, 3923, 2}) == "ibly");
  CHECK(tok->decode(Ids{1, 3923, 2}, true) == "<|im_start|>ibly<|im_end|>");
  CHECK(tok->token_id("<|im_end|>") == 2);
  CHECK(tok->special_ids().size() == 17);
}

TEST_CASE("stories260K tok512.bin: loads, encodes as llama2.c, round-trips") {
  fs::path path = shared_dir() / "models/stories260K/tok512.bin";
  if (!fs::exists(path)) {
    MESSAGE("skipped: ", path.string(), " not found (set LEXICO_SHARED_DIR to the shared data)");
    return;
  }
  auto tok = Tokenizer::from_file(path.string());
  CHECK(tok->vocab_size() == 512);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  // Expected ids: llama2.c's encode algorithm (scan for the best pair, merge, repeat).
  CHECK(tok->encode("Once upon a time, there was a little girl named Lily.", true) ==
        Ids{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426});
  CHECK(tok->encode("Hello, \xE4\xB8\x96\xE7\x95\x8C! 123\n", true) ==
        Ids{1, 346, 306, 414, 432, 410, 231, 187, 153, 234, 152, 143, 443, 410, 475, 479, 472, 13});
  for (std::string text : {"Once upon a time", " two  spaces\n\n", "\xF0\x9F\x98\x80 emoji", "", "x"})
    CHECK(tok->decode(tok->encode(text, true)) == text);
  fs::path wiki = shared_dir() / "data/wikitext-2/wiki.test.raw";
  if (fs::exists(wiki)) {
    std::ifstream in(wiki, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(tok->decode(tok->encode(text, true)) == text);
  }
}
