// The tokenizers against their references (HF `tokenizers`, `sentencepiece`)
// on real text: every line of WikiText-2's test split, the whole file, and
// every GSM8K test question; and the pre-tokenizers against the regexes they
// replace, on the same text and on random awkward strings.
// scripts/golden/tokenizer_golden.py writes the goldens (data/golden/) and
// says how the text is fed and hashed. Needs ../shared (LEXICO_SHARED_DIR);
// skipped without it.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "lexico/json.h"
#include "lexico/tokenizer.h"

namespace {

namespace fs = std::filesystem;

fs::path shared_dir() {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  return env && *env ? fs::path(env) : fs::path(LEXICO_SHARED_DIR);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  return h;
}

void append_le(std::string& out, uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) out += static_cast<char>((v >> (8 * k)) & 0xFF);
}

// FNV-1a 64 of 32-bit values (ids, or word lengths) as little-endian bytes.
template <typename Range>
uint64_t hash_u32(const Range& values) {
  std::string bytes;
  for (auto v : values) append_le(bytes, static_cast<uint32_t>(v), 4);
  return fnv1a64(bytes);
}

// A section's hash: FNV-1a 64 of its texts' hashes as 8 little-endian bytes.
uint64_t section_hash(const std::vector<uint64_t>& hashes) {
  std::string bytes;
  for (uint64_t h : hashes) append_le(bytes, h, 8);
  return fnv1a64(bytes);
}

// A golden file: "section <name...> <n> <hash>" headers, each followed by its lines.
struct Section {
  size_t n = 0;
  std::string hash;
  std::vector<std::string> lines;
};

std::map<std::string, Section> read_golden(const fs::path& path) {
  std::istringstream in(read_file(path));
  REQUIRE_MESSAGE(in.str().size() > 0, "cannot read ", path.string());
  std::map<std::string, Section> sections;
  Section* current = nullptr;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("section ")) {
      std::istringstream words(line.substr(8));
      std::vector<std::string> w;
      for (std::string x; words >> x;) w.push_back(x);
      bool hashed = w.size() >= 3 && w[w.size() - 2].find_first_not_of("0123456789") == std::string::npos;
      size_t name_words = w.size() - (hashed ? 2 : 1);
      std::string name = fmt::format("{}", fmt::join(w.begin(), w.begin() + name_words, " "));
      current = &sections[name];
      current->n = std::stoul(w[name_words]);
      if (hashed) current->hash = w.back();
    } else if (current && !line.empty()) {
      current->lines.push_back(line);
    } else if (line.starts_with("corpus wiki ")) {
      sections["corpus wiki"].hash = line.substr(12);
    }
  }
  return sections;
}

// Lines with their "\n", as the golden script splits them.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

struct Corpus {
  bool present = false;
  std::string wiki;
  std::vector<std::string> wiki_lines, questions;
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    fs::path wiki = shared_dir() / "data/wikitext-2/wiki.test.raw";
    fs::path gsm = shared_dir() / "data/gsm8k/test.jsonl";
    if (!fs::exists(wiki) || !fs::exists(gsm)) return c;
    c.present = true;
    c.wiki = read_file(wiki);
    c.wiki_lines = split_lines(c.wiki);
    for (const std::string& line : split_lines(read_file(gsm)))
      if (line.find_first_not_of(" \r\n") != std::string::npos)
        c.questions.push_back(lexico::json::parse(line, gsm.string()).at("question").as_string());
    return c;
  }();
  return c;
}

bool have_shared(const std::vector<fs::path>& files) {
  if (!corpus().present) {
    MESSAGE("skipped: the corpus is not in ", shared_dir().string(), " (set LEXICO_SHARED_DIR to the shared data)");
    return false;
  }
  for (const fs::path& p : files) {
    if (!fs::exists(p)) {
      MESSAGE("skipped: ", p.string(), " not found (set LEXICO_SHARED_DIR to the shared data)");
      return false;
    }
  }
  return true;
}

std::string shown(std::string_view text) { return lexico::json::escape(text.substr(0, 2000)); }

// Encodes every text and compares with the golden section (a line "<count>
// <hash16>" per text); reports the first mismatch in full; checks decoding.
void compare_ids(const lexico::Tokenizer& tok, const std::string& name, const std::vector<std::string>& texts,
                 const Section& golden, const std::vector<std::string>& golden_ids = {}) {
  REQUIRE_MESSAGE(texts.size() == golden.n, name, ": the golden has ", golden.n, " chunks, the corpus ", texts.size());
  REQUIRE(golden.lines.size() == golden.n);
  size_t mismatches = 0, not_round_trips = 0;
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> ids = tok.encode(texts[i], false);
    hashes.push_back(hash_u32(ids));
    if (tok.decode(ids) != texts[i] && not_round_trips++ == 0)
      FAIL_CHECK(name, " chunk ", i + 1, ": decode(encode(text)) differs from the text \"", shown(texts[i]), "\"");
    std::string got = fmt::format("{} {:04x}", ids.size(), hashes.back() & 0xFFFF);
    if (got == golden.lines[i] || mismatches++ > 0) continue;
    FAIL_CHECK(name, " chunk ", i + 1, " of ", texts.size(), " differs from the reference\n  text: \"", shown(texts[i]),
               "\"\n  reference count and hash: ", golden.lines[i],
               (i < golden_ids.size() ? "\n  reference ids: " + golden_ids[i] : std::string()),
               "\n  lexico count and hash:    ", got,
               "\n  lexico ids:    ", ids.size() <= 2000 ? fmt::format("{}", fmt::join(ids, " ")) : "(too many)");
  }
  CHECK_MESSAGE(mismatches == 0, name, ": ", mismatches, " of ", texts.size(), " chunks differ");
  CHECK_MESSAGE(fmt::format("{:016x}", section_hash(hashes)) == golden.hash, name, ": the section hash differs");
  CHECK_MESSAGE(not_round_trips == 0, name, ": ", not_round_trips, " chunks do not decode back to their text");
}

void check_tokenizer(const std::string& tokenizer_file, const std::string& golden_file) {
  fs::path tok_path = shared_dir() / "tokenizers" / tokenizer_file;
  if (!have_shared({tok_path})) return;
  auto golden = read_golden(fs::path(LEXICO_SOURCE_DIR) / "data/golden" / golden_file);
  const Corpus& c = corpus();
  REQUIRE_MESSAGE(golden["corpus wiki"].hash.starts_with(fmt::format("{} {:016x}", c.wiki.size(), fnv1a64(c.wiki))),
                  "wiki.test.raw is not the file the golden was made from");
  auto tok = lexico::Tokenizer::from_file(tok_path.string());
  compare_ids(*tok, "wiki", c.wiki_lines, golden["wiki"], golden["ids-wiki"].lines);
  compare_ids(*tok, "wiki-all", {c.wiki}, golden["wiki-all"]);
  compare_ids(*tok, "gsm8k", c.questions, golden["gsm8k"]);
}

// The random texts of the golden script: splitmix64 draws over the same alphabet.
std::vector<std::string> random_texts() {
  static const char* const kAlphabet[] = {
      "a",      "b",      "s",      "t",      "d",      "m",      "l",      "r",      "e",          "v",      "S",
      "T",      "L",      "D",      "M",      "R",      "E",      "V",      "x",      "0",          "1",      "7",
      "9",      " ",      " ",      " ",      " ",      "\t",     "\n",     "\n",     "\r",         "\x0b",   "\x0c",
      "\u0085", "\u00a0", "\u2028", "\u3000", "'",      "'",      "\u2019", "!",      ".",          ",",      "-",
      "(",      "<",      "|",      "\u00e9", "\u00df", "\u017f", "\u03a9", "\u0436", "\u4e2d",     "\u01c5", "\u02b0",
      "\u00b2", "\u0663", "\u216b", "\u00bd", "\u0301", "\u200b", "",       "\x7f",   "\U0001f600",
  };
  constexpr size_t kSize = std::size(kAlphabet);
  uint64_t state = 20240611;
  auto next = [&] {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<std::string> texts(3000);
  for (std::string& t : texts) {
    uint64_t n = next() % 32;
    for (uint64_t k = 0; k < n; ++k) {
      size_t pick = next() % kSize;
      if (pick == 61) t += '\0';  // "" above: a C string cannot hold NUL
      else t += kAlphabet[pick];
    }
  }
  return texts;
}

void compare_words(lexico::Pretokenizer kind, const std::string& name, const std::vector<std::string>& texts,
                   const Section& golden) {
  REQUIRE_MESSAGE(texts.size() == golden.n, name, ": the golden has ", golden.n, " texts, here ", texts.size());
  std::string short_hashes;
  for (const std::string& l : golden.lines) short_hashes += l;
  REQUIRE(short_hashes.size() == 2 * texts.size());
  size_t mismatches = 0;
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::string_view> words;
    lexico::pretokenize(kind, texts[i], words);
    std::vector<uint32_t> lengths;
    for (std::string_view w : words) lengths.push_back(static_cast<uint32_t>(w.size()));
    hashes.push_back(hash_u32(lengths));
    if (fmt::format("{:02x}", hashes.back() & 0xFF) == short_hashes.substr(2 * i, 2) || mismatches++ > 0) continue;
    std::vector<std::string> shown_words;
    for (std::string_view w : words) shown_words.push_back('"' + lexico::json::escape(w) + '"');
    FAIL_CHECK(name, " text ", i + 1, " splits differently from the reference regex\n  text: \"", shown(texts[i]),
               "\"\n  lexico: ", fmt::format("{}", fmt::join(shown_words, " ")));
  }
  CHECK_MESSAGE(mismatches == 0, name, ": ", mismatches, " of ", texts.size(), " texts split differently");
  CHECK_MESSAGE(fmt::format("{:016x}", section_hash(hashes)) == golden.hash, name, ": the section hash differs");
}

}  // namespace

TEST_CASE("tokenizer golden: SmolLM2 byte-level BPE matches HF tokenizers") {
  check_tokenizer("smollm2-135m/tokenizer.json", "tokenizer_smollm2.txt");
}

TEST_CASE("tokenizer golden: Llama 2 SentencePiece BPE (tokenizer.bin) matches sentencepiece") {
  check_tokenizer("llama2/tokenizer.bin", "tokenizer_llama2.txt");
}

TEST_CASE("tokenizer golden: pre-tokenizers split as the regexes of HF tokenizers do") {
  auto golden = read_golden(fs::path(LEXICO_SOURCE_DIR) / "data/golden/tokenizer_pretokenize.txt");
  using lexico::Pretokenizer;
  const std::pair<Pretokenizer, const char*> kinds[] = {{Pretokenizer::Gpt2, "gpt2"},
                                                        {Pretokenizer::SmolLM, "smollm"},
                                                        {Pretokenizer::Llama3, "llama3"},
                                                        {Pretokenizer::Qwen2, "qwen2"}};
  std::vector<std::string> random = random_texts();
  bool with_corpus = have_shared({});  // the corpus sections need ../shared; the random ones do not
  for (auto [kind, name] : kinds) {
    std::string n(name);
    compare_words(kind, n + " random", random, golden[n + " random"]);
    if (with_corpus && (kind == Pretokenizer::Llama3 || kind == Pretokenizer::Qwen2)) {
      compare_words(kind, n + " wiki", corpus().wiki_lines, golden[n + " wiki"]);
      compare_words(kind, n + " gsm8k", corpus().questions, golden[n + " gsm8k"]);
    }
  }
}
