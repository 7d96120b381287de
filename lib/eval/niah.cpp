// Needle in a haystack (niah.h).
#include "lexico/niah.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/longbench.h"
#include "lexico/longbench_metrics.h"
#include "lexico/text_normalize.h"

namespace lexico::niah {

namespace {

// The largest n <= pos that does not split a UTF-8 sequence.
size_t utf8_floor(std::string_view s, size_t pos) {
  pos = std::min(pos, s.size());
  while (pos > 0 && pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string fill_template(const Needle& n, std::string_view context) {
  return longbench::format_prompt(n.prompt_template, context, "");
}

std::string length_label(size_t n) {
  return n >= 1000 && n % 1000 == 0 ? fmt::format("{}k", n / 1000) : std::to_string(n);
}
std::string depth_label(double d) { return fmt::format("{:g}%", d); }

}  // namespace

Needle sandwich_needle() {
  Needle n;
  n.text = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.";
  n.question = "What is the best thing to do in San Francisco?";
  n.answer = "eat a sandwich and sit in Dolores Park on a sunny day";
  n.keywords = {"eat", "sandwich", "sit", "dolores", "park", "sunny", "day"};
  n.prompt_template =
      "Read the document below and answer the question after it.\n\n{context}\n\nQuestion: What is the best thing "
      "to do in San Francisco? Don't give information outside the document or repeat your findings.\nAnswer:";
  return n;
}

Needle number_needle(uint64_t number) {
  Needle n;
  n.answer = std::to_string(number);
  n.text = "The special magic number is " + n.answer + ".";
  n.question = "What is the special magic number?";
  n.is_number = true;
  n.prompt_template =
      "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about "
      "the number afterwards.\n\n{context}\n\nWhat is the special magic number mentioned in the provided text? The "
      "special magic number mentioned in the provided text is";
  return n;
}

Needle random_number_needle(uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;  // one SplitMix64 step
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return number_needle(1000000 + z % 9000000);
}

std::string build_haystack(const std::vector<taskgen::Document>& docs, size_t min_chars) {
  std::string one;
  for (const taskgen::Document& d : docs) {
    std::string_view t = rtrim(d.text);
    if (t.empty()) continue;
    if (!one.empty()) one += "\n\n";
    one += t;
  }
  if (one.empty()) bad_input("", "the haystack documents are empty");
  std::string out = one;
  while (out.size() < min_chars) out += "\n\n" + one;
  return out;
}

size_t sentence_start_at_or_before(std::string_view text, size_t pos) {
  for (size_t i = std::min(pos, text.size()); i > 0; --i)
    if (taskgen::is_sentence_start(text, i)) return i;
  return 0;
}

Case make_case(std::string_view haystack, const Needle& needle, size_t target_length, double depth_percent,
               const taskgen::LengthFn& length_arg) {
  if (!(depth_percent >= 0 && depth_percent <= 100)) usage_error("depth", "must lie in 0..100, not {}", depth_percent);
  const taskgen::LengthFn length = length_arg ? length_arg : taskgen::LengthFn(taskgen::approx_tokens);
  const size_t overhead = length(fill_template(needle, needle.text));
  if (overhead >= target_length)
    usage_error("context length", "{} is too short: the prompt with the needle alone measures {}", target_length,
                overhead);
  const size_t budget = target_length - overhead;
  // The longest prefix within the budget (binary search; the length is
  // monotone in the prefix up to tokenizer merges at the cut).
  size_t lo = 0, hi = haystack.size();
  if (length(haystack) <= budget)
    bad_input("haystack", "{} bytes measure only {} of the {} needed: build a longer haystack", haystack.size(),
              length(haystack), budget);
  while (hi - lo > 1) {
    const size_t mid = utf8_floor(haystack, lo + (hi - lo) / 2);
    if (mid <= lo) break;
    if (length(haystack.substr(0, mid)) <= budget)
      lo = mid;
    else
      hi = mid;
  }
  size_t cut = lo;
  for (int attempt = 0;; ++attempt) {
    const size_t at_sentence = sentence_start_at_or_before(haystack, cut);
    const std::string_view text = rtrim(haystack.substr(0, at_sentence > 0 ? at_sentence : cut));
    size_t p = depth_percent >= 100 ? text.size()
                                    : sentence_start_at_or_before(
                                          text, static_cast<size_t>(std::floor(text.size() * depth_percent / 100.0)));
    Case c;
    c.target_length = target_length;
    c.depth_percent = depth_percent;
    const bool space_before = p > 0 && !std::isspace(static_cast<unsigned char>(text[p - 1]));
    c.context.reserve(text.size() + needle.text.size() + 2);
    c.context.append(text.substr(0, p));
    if (space_before) c.context += ' ';
    c.needle_offset = c.context.size();
    c.context += needle.text;
    if (p < text.size()) c.context += ' ';
    c.context.append(text.substr(p));
    c.prompt = fill_template(needle, c.context);
    c.prompt_length = length(c.prompt);
    if (c.prompt_length <= target_length) return c;
    // Lengths did not add up exactly (tokens merge across the joins): shorten.
    if (attempt >= 16 || cut == 0)
      internal_error("niah", "cannot fit the prompt into {} (measured {})", target_length, c.prompt_length);
    const size_t excess = c.prompt_length - target_length;
    const size_t step = std::max<size_t>(1, excess * text.size() / std::max<size_t>(1, c.prompt_length) + 1);
    cut = utf8_floor(haystack, text.size() > step ? text.size() - step : 0);
  }
}

std::vector<double> even_depths(size_t n) {
  if (n == 0) return {};
  if (n == 1) return {50.0};
  std::vector<double> out;
  for (size_t i = 0; i < n; ++i) out.push_back(100.0 * i / (n - 1));
  return out;
}

double score(const Needle& needle, std::string_view response) {
  if (needle.is_number) {
    for (std::string_view run : pytext::digit_runs(response))
      if (run == needle.answer) return 1.0;
    return 0.0;
  }
  if (needle.keywords.empty()) return 0.0;
  const std::string norm = longbench::normalize_answer(response);
  const auto words = pytext::split(norm);
  size_t found = 0;
  for (const std::string& k : needle.keywords) found += std::find(words.begin(), words.end(), k) != words.end();
  return static_cast<double>(found) / needle.keywords.size();
}

Grid::Grid(std::vector<size_t> l, std::vector<double> d)
    : lengths(std::move(l)),
      depths(std::move(d)),
      scores(lengths.size() * depths.size(), std::nan("")),
      prompt_lengths(lengths.size() * depths.size(), 0) {}

double& Grid::score_at(size_t li, size_t di) { return scores.at(li * depths.size() + di); }
double Grid::score_at(size_t li, size_t di) const { return scores.at(li * depths.size() + di); }

double Grid::mean() const {
  double sum = 0;
  size_t n = 0;
  for (double s : scores)
    if (!std::isnan(s)) sum += s, ++n;
  return n ? sum / n : std::nan("");
}

std::string grid_table(const Grid& g) {
  auto cell = [](double v) { return std::isnan(v) ? std::string("-") : fmt::format("{:.2f}", v); };
  std::string out = fmt::format("{:>7}", "depth");
  for (size_t l : g.lengths) out += fmt::format(" {:>7}", l);
  out += '\n';
  for (size_t di = 0; di < g.depths.size(); ++di) {
    out += fmt::format("{:>7}", depth_label(g.depths[di]));
    for (size_t li = 0; li < g.lengths.size(); ++li) out += fmt::format(" {:>7}", cell(g.score_at(li, di)));
    out += '\n';
  }
  out += fmt::format("{:>7}", "mean");
  for (size_t li = 0; li < g.lengths.size(); ++li) {
    double sum = 0;
    size_t n = 0;
    for (size_t di = 0; di < g.depths.size(); ++di)
      if (!std::isnan(g.score_at(li, di))) sum += g.score_at(li, di), ++n;
    out += fmt::format(" {:>7}", n ? cell(sum / n) : "-");
  }
  out += fmt::format("\noverall mean {}\n", cell(g.mean()));
  return out;
}

std::string grid_json(const Grid& g, const Needle& needle) {
  auto num = [](double v) { return std::isnan(v) ? std::string("null") : fmt::format("{}", v); };
  std::string lengths, depths, scores, prompt_lengths;
  for (size_t i = 0; i < g.lengths.size(); ++i) lengths += fmt::format("{}{}", i ? ", " : "", g.lengths[i]);
  for (size_t i = 0; i < g.depths.size(); ++i) depths += fmt::format("{}{}", i ? ", " : "", num(g.depths[i]));
  for (size_t li = 0; li < g.lengths.size(); ++li) {
    std::string row, prow;
    for (size_t di = 0; di < g.depths.size(); ++di) {
      row += fmt::format("{}{}", di ? ", " : "", num(g.score_at(li, di)));
      prow += fmt::format("{}{}", di ? ", " : "", g.prompt_lengths.at(li * g.depths.size() + di));
    }
    scores += fmt::format("{}\n    [{}]", li ? "," : "", row);
    prompt_lengths += fmt::format("{}\n    [{}]", li ? "," : "", prow);
  }
  return fmt::format(
      "{{\n  \"needle\": \"{}\",\n  \"question\": \"{}\",\n  \"lengths\": [{}],\n  \"depths\": [{}],\n"
      "  \"scores\": [{}\n  ],\n  \"prompt_lengths\": [{}\n  ],\n  \"mean\": {}\n}}\n",
      json::escape(needle.text), json::escape(needle.question), lengths, depths, scores, prompt_lengths, num(g.mean()));
}

Heatmap grid_heatmap(const Grid& g, const std::string& title) {
  Heatmap h;
  h.title = title;
  h.x_label = "prompt length (tokens)";
  h.y_label = "needle depth";
  h.value_label = "score";
  for (size_t l : g.lengths) h.x_ticks.push_back(length_label(l));
  for (double d : g.depths) h.y_ticks.push_back(depth_label(d));
  h.values.assign(g.depths.size(), std::vector<double>(g.lengths.size()));
  for (size_t di = 0; di < g.depths.size(); ++di)
    for (size_t li = 0; li < g.lengths.size(); ++li) h.values[di][li] = g.score_at(li, di);
  return h;
}

}  // namespace lexico::niah
