// LongBench-format tasks from the essays and GSM8K (task_generator.h).
#include "lexico/task_generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/text_normalize.h"

namespace lexico::taskgen {

namespace {

// SplitMix64: a fixed, portable stream (std::uniform_int_distribution and
// std::shuffle differ between standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (rejection, no modulo bias).
  size_t below(size_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return static_cast<size_t>(x % n);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t state_;
};

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_end_punct(char c) { return c == '.' || c == '!' || c == '?'; }

// Bytes of the closing quote or bracket that ends at text[i-1], or 0.
size_t closer_before(std::string_view text, size_t i) {
  if (i >= 1 && (text[i - 1] == ')' || text[i - 1] == ']' || text[i - 1] == '"' || text[i - 1] == '\'')) return 1;
  if (i >= 3 && (text.substr(i - 3, 3) == "\u2019" || text.substr(i - 3, 3) == "\u201D")) return 3;
  return 0;
}

// Where the sentence-ending punctuation before position i sits (i itself
// when text[..i) does not end a sentence).
size_t end_punct_before(std::string_view text, size_t i) {
  size_t j = i;
  while (size_t c = closer_before(text, j)) j -= c;
  return (j >= 1 && is_end_punct(text[j - 1])) ? j - 1 : i;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Whether text[..i) ends with a footnote mark "[12]".
bool footnote_before(std::string_view text, size_t i) {
  if (i < 3 || text[i - 1] != ']') return false;
  size_t j = i - 1;
  while (j > 0 && is_digit(text[j - 1])) --j;
  return j < i - 1 && j > 0 && text[j - 1] == '[';
}

// A paragraph break that the source lost: "accelerating.We", "the next
// IBM.It's", after a footnote mark ("at work. [1]No one"), before a note
// ("friction.[4] Hypothesis").
bool glued_break(std::string_view text, size_t i) {
  if (i < 3 || i >= text.size()) return false;
  if (text[i] == '[') {
    size_t j = i + 1;
    while (j < text.size() && is_digit(text[j])) ++j;
    return j > i + 1 && j < text.size() && text[j] == ']' && is_end_punct(text[i - 1]);
  }
  if (!is_upper(text[i])) return false;
  if (footnote_before(text, i)) return true;
  const size_t p = end_punct_before(text, i);
  if (p == i || p < 2) return false;
  const char a = text[p - 1], b = text[p - 2];
  return is_lower_or_digit(a) || (is_upper(a) && is_upper(b));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string strip_essay_header(std::string text) {
  static constexpr std::string_view kBanner = "Want to start a startup? Get funded by Y Combinator.";
  static constexpr std::string_view kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                                 "July",    "August",   "September", "October", "November", "December"};
  std::string_view s = text;
  if (s.starts_with(kBanner)) s = trim(s.substr(kBanner.size()));
  for (std::string_view m : kMonths) {
    if (s.size() >= m.size() + 5 && s.starts_with(m) && s[m.size()] == ' ' &&
        std::all_of(s.begin() + m.size() + 1, s.begin() + m.size() + 5, [](char c) { return c >= '0' && c <= '9'; })) {
      s = trim(s.substr(m.size() + 5));
      break;
    }
  }
  return std::string(s);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string context_of(const std::vector<const std::string*>& paragraphs) {
  std::string out;
  for (size_t i = 0; i < paragraphs.size(); ++i)
    out += fmt::format("{}Paragraph {}: {}", i ? "\n\n" : "", i + 1, *paragraphs[i]);
  return out;
}

struct Pool {
  std::vector<std::string> paragraphs;  // distinct, in essay order
};

Pool paragraph_pool(const std::vector<Document>& essays) {
  if (essays.empty()) bad_input("", "the task generator needs at least one essay");
  Pool pool;
  std::set<std::string> seen;
  for (const Document& d : essays)
    for (std::string& p : essay_paragraphs(d.text))
      if (seen.insert(p).second) pool.paragraphs.push_back(std::move(p));
  if (pool.paragraphs.size() < 2) bad_input("", "the essays give fewer than 2 paragraphs");
  return pool;
}

LengthFn length_fn(const Options& opt) { return opt.length ? opt.length : LengthFn(approx_tokens); }

std::string sample_id(std::string_view task, uint64_t seed, size_t i) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the task, then mixed with seed and index
  for (char c : task) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  Rng r(h ^ (seed * 0x9E3779B97F4A7C15ull) ^ (i + 1));
  return fmt::format("{:016x}", r.next());
}

longbench::Record make_record(std::string_view dataset, std::string context, std::string input,
                              std::vector<std::string> answers, uint64_t seed, size_t i) {
  longbench::Record r;
  r.dataset = dataset;
  r.context = std::move(context);
  r.input = std::move(input);
  r.answers = std::move(answers);
  r.language = "en";
  r.id = sample_id(dataset, seed, i);
  r.length = record_length(r);
  return r;
}

// Picks paragraphs (indices into the pool) while the context stays within the
// target: `pick(used)` returns the next index. Lengths are summed per
// paragraph ("Paragraph k: " + text + blank line) so each is measured once.
template <typename Pick>
std::vector<size_t> fill(const Pool& pool, const Options& opt, size_t min_count, size_t max_count, Pick pick) {
  const LengthFn len = length_fn(opt);
  std::vector<size_t> chosen;
  size_t total = 0;
  while (chosen.size() < max_count) {
    const size_t next = pick(chosen);
    const size_t cost = len(fmt::format("Paragraph {}: {}\n\n", chosen.size() + 1, pool.paragraphs[next]));
    if (chosen.size() >= min_count && total + cost > opt.context_length) break;
    chosen.push_back(next);
    total += cost;
  }
  return chosen;
}

}  // namespace

std::vector<Document> read_text_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) bad_input(dir, "not a folder");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".txt") names.push_back(e.path().filename().string());
  if (ec) bad_input(dir, "cannot list the folder: {}", ec.message());
  if (names.empty()) bad_input(dir, "the folder has no .txt files");
  std::sort(names.begin(), names.end());
  std::vector<Document> out;
  for (const std::string& n : names) out.push_back({n, read_file((fs::path(dir) / n).string())});
  return out;
}

std::vector<GsmProblem> read_gsm8k(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<GsmProblem> out;
  size_t line_no = 0, start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        std::string_view(text).substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (trim(line).empty()) continue;
    const std::string at = fmt::format("{}:{}", path, line_no);
    json::Value v = json::parse(line, at);
    const json::Value* q = v.is_object() ? v.find("question") : nullptr;
    const json::Value* a = v.is_object() ? v.find("answer") : nullptr;
    if (!q || !q->is_string() || !a || !a->is_string())
      bad_input(at, "expected an object with the strings \"question\" and \"answer\"");
    GsmProblem p;
    p.question = std::string(trim(q->as_string()));
    // Drop the calculator annotations "<<48/2=24>>".
    const std::string& raw = a->as_string();
    for (size_t i = 0; i < raw.size();) {
      size_t open = raw.find("<<", i);
      size_t close = open == std::string::npos ? std::string::npos : raw.find(">>", open + 2);
      if (close == std::string::npos) {
        p.solution += raw.substr(i);
        break;
      }
      p.solution += raw.substr(i, open - i);
      i = close + 2;
    }
    const size_t mark = p.solution.rfind("####");
    if (mark == std::string::npos) bad_input(at, "the answer has no \"#### <number>\" line");
    p.answer = std::string(trim(std::string_view(p.solution).substr(mark + 4)));
    if (p.answer.empty()) bad_input(at, "nothing follows \"####\" in the answer");
    out.push_back(std::move(p));
  }
  if (out.empty()) bad_input(path, "no problems in the file");
  return out;
}

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 1; i <= text.size(); ++i) {
    const bool end = i == text.size();
    if (!end) {
      const size_t p = end_punct_before(text, i);
      if (p == i) continue;
      const char c = text[i];
      if (!(c == ' ' || glued_break(text, i))) continue;
    }
    std::string_view s = trim(text.substr(start, i - start));
    if (!s.empty()) out.emplace_back(s);
    start = i;
  }
  return out;
}

std::vector<std::string> essay_paragraphs(std::string_view text, size_t min_chars, size_t max_chars) {
  const std::string flat = strip_essay_header(pytext::collapse_whitespace(text));
  const std::string_view s = flat;
  // 1. The breaks the source glued.
  std::vector<std::string> pieces;
  size_t start = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!glued_break(s, i)) continue;
    std::string_view piece = trim(s.substr(start, i - start));
    if (!piece.empty()) pieces.emplace_back(piece);
    start = i;
  }
  if (std::string_view last = trim(s.substr(start)); !last.empty()) pieces.emplace_back(last);
  // 2. Short pieces merged with the next.
  std::vector<std::string> merged;
  std::string cur;
  for (std::string& p : pieces) {
    cur += (cur.empty() ? "" : " ") + p;
    if (cur.size() >= min_chars) merged.push_back(std::move(cur)), cur.clear();
  }
  if (!cur.empty()) {
    if (merged.empty())
      merged.push_back(std::move(cur));
    else
      merged.back() += " " + cur;
  }
  // 3. Long ones cut at sentence ends into k nearly equal parts, k = ceil(size / max_chars).
  std::vector<std::string> out;
  for (std::string& p : merged) {
    if (p.size() <= max_chars) {
      out.push_back(std::move(p));
      continue;
    }
    const size_t parts = (p.size() + max_chars - 1) / max_chars, share = p.size() / parts, first = out.size();
    std::string chunk;
    for (const std::string& sentence : split_sentences(p)) {
      chunk += (chunk.empty() ? "" : " ") + sentence;
      if (chunk.size() >= share) out.push_back(std::move(chunk)), chunk.clear();
    }
    if (!chunk.empty()) {
      if (chunk.size() < min_chars && out.size() > first)
        out.back() += " " + chunk;
      else
        out.push_back(std::move(chunk));
    }
  }
  return out;
}

bool is_sentence_start(std::string_view text, size_t i) {
  if (i == 0) return !text.empty();
  if (i >= text.size()) return false;
  const unsigned char c = static_cast<unsigned char>(text[i]);
  if (std::isspace(c) || (c >= 'a' && c <= 'z')) return false;
  size_t k = i;
  while (k > 0 && std::isspace(static_cast<unsigned char>(text[k - 1]))) --k;
  if (k == i) return glued_break(text, i);
  return end_punct_before(text, k) != k;
}

size_t approx_tokens(std::string_view text) { return (text.size() + 3) / 4; }

size_t char_count(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

int64_t record_length(const longbench::Record& r) {
  size_t n = pytext::split(r.input).size() + pytext::split(r.context).size();
  for (const std::string& a : r.answers) n += pytext::split(a).size();
  return static_cast<int64_t>(n);
}

std::vector<longbench::Record> passage_retrieval(const std::vector<Document>& essays, const Options& opt) {
  const Pool pool = paragraph_pool(essays);
  Rng rng(opt.seed ^ 0x5265747269657665ull);
  std::vector<longbench::Record> out;
  for (size_t i = 0; i < opt.samples; ++i) {
    const std::vector<size_t> chosen = fill(pool, opt, 2, pool.paragraphs.size(), [&](const std::vector<size_t>& used) {
      while (true) {
        size_t k = rng.below(pool.paragraphs.size());
        if (std::find(used.begin(), used.end(), k) == used.end()) return k;
      }
    });
    std::vector<const std::string*> paragraphs;
    for (size_t k : chosen) paragraphs.push_back(&pool.paragraphs[k]);
    // The excerpt: one or two consecutive sentences (60+ characters) of a
    // random paragraph that occur in no other paragraph of the sample.
    std::string excerpt;
    size_t target = 0;
    for (int attempt = 0; attempt < 64 && excerpt.empty(); ++attempt) {
      target = rng.below(paragraphs.size());
      const std::vector<std::string> sentences = split_sentences(*paragraphs[target]);
      const size_t first = rng.below(sentences.size());
      std::string e = sentences[first];
      if (e.size() < 60 && first + 1 < sentences.size()) e += " " + sentences[first + 1];
      if (e.size() < 60 && attempt < 32) continue;  // too short to be distinctive: try another
      bool unique = true;
      for (size_t j = 0; j < paragraphs.size() && unique; ++j)
        unique = j == target || paragraphs[j]->find(e) == std::string::npos;
      if (unique) excerpt = e;
    }
    if (excerpt.empty()) bad_input("", "could not find a distinctive excerpt (the essays are too repetitive)");
    out.push_back(make_record("passage_retrieval_essays", context_of(paragraphs), excerpt,
                              {fmt::format("Paragraph {}", target + 1)}, opt.seed, i));
  }
  return out;
}

std::vector<longbench::Record> passage_count(const std::vector<Document>& essays, const Options& opt) {
  const Pool pool = paragraph_pool(essays);
  Rng rng(opt.seed ^ 0x436f756e74506173ull);
  std::vector<longbench::Record> out;
  for (size_t i = 0; i < opt.samples; ++i) {
    const double repeat = 0.2 + 0.4 * rng.uniform();
    std::vector<size_t> distinct;
    const std::vector<size_t> chosen =
        fill(pool, opt, 1, 4 * pool.paragraphs.size(), [&](const std::vector<size_t>& used) {
          if (!used.empty() && (distinct.size() == pool.paragraphs.size() || rng.uniform() < repeat))
            return used[rng.below(used.size())];
          while (true) {
            size_t k = rng.below(pool.paragraphs.size());
            if (std::find(distinct.begin(), distinct.end(), k) == distinct.end()) {
              distinct.push_back(k);
              return k;
            }
          }
        });
    // `fill` may have refused the last pick: count what was kept.
    std::set<size_t> kept(chosen.begin(), chosen.end());
    std::vector<const std::string*> paragraphs;
    for (size_t k : chosen) paragraphs.push_back(&pool.paragraphs[k]);
    out.push_back(
        make_record("passage_count_essays", context_of(paragraphs), "", {std::to_string(kept.size())}, opt.seed, i));
  }
  return out;
}

std::vector<longbench::Record> gsm8k_qa(const std::vector<GsmProblem>& problems, const Options& opt) {
  if (problems.size() < 2) bad_input("", "gsm8k_qa needs at least 2 problems");
  const LengthFn len = length_fn(opt);
  Rng rng(opt.seed ^ 0x47534d384b514121ull);
  std::vector<longbench::Record> out;
  for (size_t i = 0; i < opt.samples; ++i) {
    std::vector<size_t> chosen;
    std::vector<std::string> blocks;
    size_t total = 0;
    while (chosen.size() < problems.size()) {
      size_t k;
      do k = rng.below(problems.size());
      while (std::find(chosen.begin(), chosen.end(), k) != chosen.end());
      std::string block =
          fmt::format("Problem {}: {}\nSolution: {}", chosen.size() + 1, problems[k].question, problems[k].solution);
      const size_t cost = len(block + "\n\n");
      if (chosen.size() >= 2 && total + cost > opt.context_length) break;
      chosen.push_back(k);
      blocks.push_back(std::move(block));
      total += cost;
    }
    std::string context;
    for (const std::string& b : blocks) {
      if (!context.empty()) context += "\n\n";
      context += b;
    }
    const size_t target = rng.below(chosen.size());
    const std::vector<std::string_view> words = pytext::split(problems[chosen[target]].question);
    std::string opening;
    for (size_t w = 0; w < std::min<size_t>(8, words.size()); ++w) {
      if (w) opening += ' ';
      opening += words[w];
    }
    std::string input = fmt::format("What is the final answer of Problem {}, the problem that begins \"{}{}\"?",
                                    target + 1, opening, words.size() > 8 ? " ..." : "");
    out.push_back(
        make_record("gsm8k_qa", std::move(context), std::move(input), {problems[chosen[target]].answer}, opt.seed, i));
  }
  return out;
}

std::string to_jsonl(const std::vector<longbench::Record>& records) {
  std::string out;
  for (const longbench::Record& r : records) out += longbench::record_json(r) + "\n";
  return out;
}

}  // namespace lexico::taskgen
