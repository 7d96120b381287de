// LongBench's metrics. Each follows the published Python (metrics.py, and the
// `rouge` and `fuzzywuzzy`/`python-Levenshtein` packages it calls) step by
// step; comments name the Python behaviour that each step reproduces.
#include "lexico/longbench_metrics.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "lexico/error.h"
#include "lexico/text_normalize.h"
#include "model/unicode.h"

namespace lexico::longbench {

namespace {

// string.punctuation
bool is_ascii_punct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

// re.sub(r"\b(a|an|the)\b", " ", text): a match needs a word boundary on both
// sides, so it is exactly a maximal run of \w characters that reads a, an or
// the; the run becomes one space.
std::string remove_articles(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = unicode::decode_utf8(s, i);
    if (c.cp == unicode::kInvalid || !pytext::is_word(c.cp)) {
      out.append(s.substr(i, c.len));
      i += c.len;
      continue;
    }
    size_t j = i;
    while (j < s.size()) {
      auto d = unicode::decode_utf8(s, j);
      if (d.cp == unicode::kInvalid || !pytext::is_word(d.cp)) break;
      j += d.len;
    }
    std::string_view word = s.substr(i, j - i);
    if (word == "a" || word == "an" || word == "the")
      out += ' ';
    else
      out.append(word);
    i = j;
  }
  return out;
}

// Words as integer ids, so that LCS tables compare integers.
class WordIds {
 public:
  int id(std::string_view w) { return ids_.try_emplace(std::string(w), static_cast<int>(ids_.size())).first->second; }

 private:
  std::unordered_map<std::string, int> ids_;
};

// The `rouge` package's sentence handling: [" ".join(s.split()) for s in
// text.split(".") if len(s) > 0], then each sentence .split(" ") (an empty
// sentence gives the one word "").
std::vector<std::vector<int>> rouge_sentences(std::string_view text, WordIds& ids) {
  std::vector<std::vector<int>> out;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view piece = text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!piece.empty()) {
      std::vector<int> words;
      for (std::string_view w : pytext::split(piece)) words.push_back(ids.id(w));
      if (words.empty()) words.push_back(ids.id(""));
      out.push_back(std::move(words));
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

// rouge_score._recon_lcs(x, y): the LCS table, then the walk back from the
// end that prefers a match, then moving up (in x) only when that cell is
// strictly greater, else left. Adds the words of x on that path to `out`.
void add_lcs_words(const std::vector<int>& x, const std::vector<int>& y, std::unordered_set<int>& out) {
  const size_t n = x.size(), m = y.size();
  std::vector<int> table((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> int& { return table[i * (m + 1) + j]; };
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j)
      at(i, j) = x[i - 1] == y[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));
  size_t i = n, j = m;
  while (i > 0 && j > 0) {
    if (x[i - 1] == y[j - 1]) {
      out.insert(x[i - 1]);
      --i, --j;
    } else if (at(i - 1, j) > at(i, j - 1)) {
      --i;
    } else {
      --j;
    }
  }
}

size_t distinct_words(const std::vector<std::vector<int>>& sentences) {
  std::unordered_set<int> s;
  for (const auto& sent : sentences) s.insert(sent.begin(), sent.end());
  return s.size();
}

double digit_share(std::string_view prediction, std::string_view target) {
  auto numbers = pytext::digit_runs(prediction);
  if (numbers.empty()) return 0.0;
  size_t right = 0;
  for (std::string_view n : numbers) right += n == target;
  return static_cast<double>(right) / static_cast<double>(numbers.size());
}

// The digits of the first re.findall(label + r"(\d+)", text).
std::string_view first_labelled_number(std::string_view text, std::string_view label) {
  for (size_t pos = text.find(label); pos != std::string_view::npos; pos = text.find(label, pos + 1)) {
    auto runs = pytext::digit_runs(text.substr(pos + label.size()));
    if (!runs.empty() && runs.front().data() == text.data() + pos + label.size()) return runs.front();
  }
  bad_input("", "LongBench retrieval: the ground truth \"{}\" names no \"{}N\"", text, label);
}

}  // namespace

std::string normalize_answer(std::string_view s) {
  std::string lowered = pytext::lower(s);
  std::string no_punct;
  no_punct.reserve(lowered.size());
  for (char c : lowered)
    if (!is_ascii_punct(c)) no_punct += c;
  return pytext::collapse_whitespace(remove_articles(no_punct));
}

double qa_f1_score(std::string_view prediction, std::string_view ground_truth) {
  const std::string p = normalize_answer(prediction), g = normalize_answer(ground_truth);
  const auto pred = pytext::split(p), truth = pytext::split(g);
  // Counter(pred) & Counter(truth), summed.
  std::unordered_map<std::string_view, long> count;
  for (std::string_view t : truth) ++count[t];
  long same = 0;
  for (std::string_view t : pred) {
    auto it = count.find(t);
    if (it != count.end() && it->second > 0) --it->second, ++same;
  }
  if (same == 0) return 0.0;
  const double precision = 1.0 * same / pred.size(), recall = 1.0 * same / truth.size();
  return (2 * precision * recall) / (precision + recall);
}

double rouge_score(std::string_view prediction, std::string_view ground_truth) {
  WordIds ids;
  const auto hyp = rouge_sentences(prediction, ids), ref = rouge_sentences(ground_truth, ids);
  if (hyp.empty() || ref.empty()) return 0.0;  // the package raises; LongBench returns 0.0
  const double m = static_cast<double>(distinct_words(ref)), n = static_cast<double>(distinct_words(hyp));
  std::unordered_set<int> lcs_union;
  for (const auto& r : ref)
    for (const auto& h : hyp) add_lcs_words(r, h, lcs_union);
  const double llcs = static_cast<double>(lcs_union.size());
  const double r_lcs = llcs / m, p_lcs = llcs / n;
  return 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
}

double classification_score(std::string_view prediction, std::string_view ground_truth,
                            const std::vector<std::string>& all_classes) {
  std::vector<std::string> matches;
  for (const std::string& c : all_classes)
    if (prediction.find(c) != std::string_view::npos) matches.push_back(c);
  // for term in matches: if term in truth and term != truth: matches.remove(term)
  // -- Python's list iterator keeps its index, so removing skips the next one.
  for (size_t idx = 0; idx < matches.size();) {
    const std::string term = matches[idx++];
    if (ground_truth.find(term) != std::string_view::npos && term != ground_truth)
      matches.erase(std::find(matches.begin(), matches.end(), term));
  }
  if (std::find(matches.begin(), matches.end(), ground_truth) != matches.end()) return 1.0 / matches.size();
  return 0.0;
}

double retrieval_score(std::string_view prediction, std::string_view ground_truth) {
  return digit_share(prediction, first_labelled_number(ground_truth, "Paragraph "));
}

double retrieval_zh_score(std::string_view prediction, std::string_view ground_truth) {
  return digit_share(prediction, first_labelled_number(ground_truth, "段落"));
}

double count_score(std::string_view prediction, std::string_view ground_truth) {
  return digit_share(prediction, ground_truth);
}

int fuzz_ratio(std::string_view a, std::string_view b) {
  if (a == b) return 100;                // utils.check_for_equivalence
  if (a.empty() || b.empty()) return 0;  // utils.check_empty_string
  const auto x = pytext::code_points(a), y = pytext::code_points(b);
  // Levenshtein distance with substitution cost 2 = |x| + |y| - 2 LCS(x, y).
  std::vector<size_t> row(y.size() + 1, 0), prev(y.size() + 1, 0);
  for (size_t i = 1; i <= x.size(); ++i) {
    std::swap(row, prev);
    for (size_t j = 1; j <= y.size(); ++j)
      row[j] = x[i - 1] == y[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], row[j - 1]);
  }
  const size_t lensum = x.size() + y.size(), ldist = lensum - 2 * row[y.size()];
  // python-Levenshtein >= 0.18 (rapidfuzz's Indel.normalized_similarity)
  // computes 1 - ldist/lensum; the value differs from (lensum-ldist)/lensum in
  // the last bit at times, which decides ties such as 42.5 -> 42 or 43.
  const double ratio = 1.0 - static_cast<double>(ldist) / static_cast<double>(lensum);
  return static_cast<int>(std::nearbyint(100 * ratio));  // utils.intr: int(round(x)), ties to even
}

double code_sim_score(std::string_view prediction, std::string_view ground_truth) {
  std::string_view rest = pytext::lstrip(prediction, '\n');
  std::string_view chosen;
  while (true) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (line.find('`') == std::string_view::npos && line.find('#') == std::string_view::npos &&
        line.find("//") == std::string_view::npos) {
      chosen = line;
      break;
    }
    if (nl == std::string_view::npos) break;
    rest = rest.substr(nl + 1);
  }
  return fuzz_ratio(chosen, ground_truth) / 100.0;
}

std::string_view metric_name(Metric m) {
  switch (m) {
    case Metric::QaF1:
      return "qa_f1";
    case Metric::Rouge:
      return "rouge";
    case Metric::Classification:
      return "classification";
    case Metric::Retrieval:
      return "retrieval";
    case Metric::RetrievalZh:
      return "retrieval_zh";
    case Metric::Count:
      return "count";
    case Metric::CodeSim:
      return "code_sim";
  }
  return "?";
}

double score(Metric m, std::string_view prediction, std::string_view ground_truth,
             const std::vector<std::string>& all_classes) {
  switch (m) {
    case Metric::QaF1:
      return qa_f1_score(prediction, ground_truth);
    case Metric::Rouge:
      return rouge_score(prediction, ground_truth);
    case Metric::Classification:
      return classification_score(prediction, ground_truth, all_classes);
    case Metric::Retrieval:
      return retrieval_score(prediction, ground_truth);
    case Metric::RetrievalZh:
      return retrieval_zh_score(prediction, ground_truth);
    case Metric::Count:
      return count_score(prediction, ground_truth);
    case Metric::CodeSim:
      return code_sim_score(prediction, ground_truth);
  }
  internal_error("", "unknown LongBench metric");
}

}  // namespace lexico::longbench
