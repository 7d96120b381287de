// LongBench tasks: templates and generation lengths (config/dataset2prompt.json
// and config/dataset2maxlen.json of THUDM/LongBench), reading records and
// predictions, middle truncation (pred.py) and scoring (eval.py).
#include "lexico/longbench.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/text_normalize.h"

namespace lexico::longbench {

namespace {

constexpr std::string_view kMultiDocQa =
    "Answer the question based on the given passages. Only give me the answer and do not output any other "
    "words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. "
    "Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:";

// Wording, spacing and punctuation as in LongBench's config (trailing spaces
// included: multi_news's "all news. \n", passage_count's and
// passage_retrieval_en's "is: ", lcc's and repobench-p's "below. \n").
// clang-format off
constexpr Task kTasks[] = {
    {"narrativeqa",
     "You are given a story, which can be either a novel or a movie script, and a question. Answer the question as "
     "concisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nStory: {context}\n\n"
     "Now, answer the question based on the story as concisely as you can, using a single phrase if possible. Do not "
     "provide any explanation.\n\nQuestion: {input}\n\nAnswer:",
     128, Metric::QaF1, false, true, false, false},
    {"qasper",
     "You are given a scientific article and a question. Answer the question as concisely as you can, using a single "
     "phrase or sentence if possible. If the question cannot be answered based on the information in the article, "
     "write \"unanswerable\". If the question is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do "
     "not provide any explanation.\n\nArticle: {context}\n\n Answer the question based on the above article as "
     "concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based "
     "on the information in the article, write \"unanswerable\". If the question is a yes/no question, answer "
     "\"yes\", \"no\", or \"unanswerable\". Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:",
     128, Metric::QaF1, false, true, false, false},
    {"multifieldqa_en",
     "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based on the "
     "above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
     64, Metric::QaF1, false, true, false, false},
    {"hotpotqa", kMultiDocQa, 32, Metric::QaF1, false, true, false, false},
    {"2wikimqa", kMultiDocQa, 32, Metric::QaF1, false, true, false, false},
    {"musique", kMultiDocQa, 32, Metric::QaF1, false, true, false, false},
    {"gov_report",
     "You are given a report by a government agency. Write a one-page summary of the report.\n\nReport:\n{context}\n\n"
     "Now, write a one-page summary of the report.\n\nSummary:",
     512, Metric::Rouge, false, true, false, false},
    {"qmsum",
     "You are given a meeting transcript and a query containing a question or instruction. Answer the query in one "
     "or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting transcript in "
     "one or more sentences.\n\nQuery: {input}\nAnswer:",
     512, Metric::Rouge, false, true, false, false},
    {"multi_news",
     "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\nNow, write "
     "a one-page summary of all the news.\n\nSummary:",
     512, Metric::Rouge, false, true, false, false},
    {"trec",
     "Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n{input}",
     64, Metric::Classification, true, false, false, false},
    {"triviaqa",
     "Answer the question based on the given passage. Only give me the answer and do not output any other words. "
     "The following are some examples.\n\n{context}\n\n{input}",
     32, Metric::QaF1, true, false, false, false},
    {"samsum",
     "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}",
     128, Metric::Rouge, true, false, true, false},
    {"lsht", "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}",
     64, Metric::Classification, true, false, false, false},
    {"passage_count",
     "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please carefully read "
     "these paragraphs and determine how many unique paragraphs there are after removing duplicates. In other words, "
     "how many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final count of unique "
     "paragraphs after removing duplicates. The output format should only contain the number, such as 1, 2, 3, and "
     "so on.\n\nThe final answer is: ",
     32, Metric::Count, false, true, false, false},
    {"passage_retrieval_en",
     "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph the abstract "
     "is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the number of the paragraph "
     "that the abstract is from. The answer format must be like \"Paragraph 1\", \"Paragraph 2\", etc.\n\nThe "
     "answer is: ",
     32, Metric::Retrieval, false, true, false, false},
    {"passage_retrieval_zh",
     "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}\n\n下面是一个摘要\n\n"
     "{input}\n\n请输入摘要所属段落的编号。答案格式必须是\"段落1\"，\"段落2\"等格式\n\n答案是：",
     32, Metric::RetrievalZh, false, true, false, false},
    {"lcc", "Please complete the code given below. \n{context}Next line of code:\n",
     64, Metric::CodeSim, false, false, false, false},
    {"repobench-p", "Please complete the code given below. \n{context}{input}Next line of code:\n",
     64, Metric::CodeSim, false, false, false, false},
    // lexico's generated tasks (task_generator.h): LongBench's wording, adapted.
    {"passage_retrieval_essays",
     "Here are some paragraphs from essays, along with an excerpt from one of them. Please determine which "
     "paragraph the excerpt is from.\n\n{context}\n\nThe following is the excerpt.\n\n{input}\n\nPlease enter the "
     "number of the paragraph that the excerpt is from. The answer format must be like \"Paragraph 1\", "
     "\"Paragraph 2\", etc.\n\nThe answer is: ",
     32, Metric::Retrieval, false, true, false, true},
    {"passage_count_essays",
     "There are some paragraphs below taken from essays. Some of them may be duplicates. Please carefully read these "
     "paragraphs and determine how many unique paragraphs there are after removing duplicates. In other words, how "
     "many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final count of unique "
     "paragraphs after removing duplicates. The output format should only contain the number, such as 1, 2, 3, and "
     "so on.\n\nThe final answer is: ",
     32, Metric::Count, false, true, false, true},
    {"gsm8k_qa",
     "Below are some math word problems, each followed by its worked solution; the final answer of a solution comes "
     "after \"####\".\n\n{context}\n\nAnswer the question based on the problems above. Only give me the answer and "
     "do not output any other words.\n\nQuestion: {input}\nAnswer:",
     32, Metric::QaF1, false, true, false, true},
};
// clang-format on

constexpr std::string_view kJiebaDatasets[] = {"multifieldqa_zh", "dureader", "vcsum"};

std::string_view type_name(const json::Value& v) {
  switch (v.type()) {
    case json::Value::Type::Null:
      return "null";
    case json::Value::Type::Bool:
      return "a boolean";
    case json::Value::Type::Number:
      return "a number";
    case json::Value::Type::String:
      return "a string";
    case json::Value::Type::Array:
      return "an array";
    case json::Value::Type::Object:
      return "an object";
  }
  return "?";
}

// Python's str() of a JSON number: integers without a fraction.
std::string number_text(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return fmt::format("{}", static_cast<int64_t>(d));
  return fmt::format("{}", d);
}

struct Line {
  size_t number;
  std::string_view text;
};

// The non-blank lines, 1-based numbers, a trailing '\r' dropped.
std::vector<Line> jsonl_lines(std::string_view text) {
  std::vector<Line> out;
  size_t number = 0, start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) out.push_back({number, line});
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

class Fields {
 public:
  Fields(const json::Value& v, std::string where) : v_(v), where_(std::move(where)) {
    if (!v.is_object()) bad_input(where_, "expected a JSON object, found {}", type_name(v));
  }
  const json::Value* get(std::string_view key, bool required) const {
    const json::Value* f = v_.find(key);
    if (!f && required) bad_input(where_, "the field \"{}\" is missing", key);
    return f;
  }
  std::string string(std::string_view key, bool required) const {
    const json::Value* f = get(key, required);
    if (!f || f->is_null()) {
      if (required) bad_input(where_, "\"{}\" must be a string, found null", key);
      return "";
    }
    if (!f->is_string()) bad_input(where_, "\"{}\" must be a string, found {}", key, type_name(*f));
    return f->as_string();
  }
  // An array of strings (numbers become their text); null only when allowed.
  std::vector<std::string> strings(std::string_view key, bool required, bool null_ok) const {
    const json::Value* f = get(key, required);
    if (!f || (f->is_null() && null_ok)) return {};
    if (!f->is_array()) bad_input(where_, "\"{}\" must be an array of strings, found {}", key, type_name(*f));
    std::vector<std::string> out;
    for (size_t i = 0; i < f->as_array().size(); ++i) {
      const json::Value& e = f->as_array()[i];
      if (e.is_string())
        out.push_back(e.as_string());
      else if (e.is_number())
        out.push_back(number_text(e.as_number()));
      else
        bad_input(where_, "\"{}\"[{}] must be a string, found {}", key, i, type_name(e));
    }
    return out;
  }
  std::optional<int64_t> integer(std::string_view key, bool required) const {
    const json::Value* f = get(key, required);
    if (!f || (f->is_null() && !required)) return std::nullopt;
    if (!f->is_number() || f->as_number() != std::floor(f->as_number()) || std::fabs(f->as_number()) > 9e15)
      bad_input(where_, "\"{}\" must be an integer, found {}", key,
                f->is_number() ? number_text(f->as_number()) : std::string(type_name(*f)));
    return static_cast<int64_t>(f->as_number());
  }

 private:
  const json::Value& v_;
  std::string where_;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) bad_input(path, "cannot read the file");
  return ss.str();
}

std::string json_strings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += fmt::format("{}\"{}\"", i ? ", " : "", json::escape(v[i]));
  return out + "]";
}

std::string json_number(double x) { return std::isnan(x) ? "null" : fmt::format("{}", x); }

}  // namespace

std::vector<Record> parse_records(std::string_view text, const std::string& where) {
  std::vector<Record> out;
  for (const Line& line : jsonl_lines(text)) {
    const std::string at = fmt::format("{}:{}", where, line.number);
    json::Value v = json::parse(line.text, at);
    Fields f(v, at);
    Record r;
    r.input = f.string("input", true);
    r.context = f.string("context", true);
    r.answers = f.strings("answers", true, false);
    r.all_classes = f.strings("all_classes", false, true);
    r.length = *f.integer("length", true);
    r.dataset = f.string("dataset", true);
    r.language = f.string("language", false);
    r.id = f.string("_id", false);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Record> read_records(const std::string& path) { return parse_records(read_text_file(path), path); }

std::string record_json(const Record& r) {
  std::string out = fmt::format(
      R"({{"input": "{}", "context": "{}", "answers": {}, "length": {}, "dataset": "{}", "language": "{}", )"
      R"("all_classes": {})",
      json::escape(r.input), json::escape(r.context), json_strings(r.answers), r.length, json::escape(r.dataset),
      json::escape(r.language), r.all_classes.empty() ? "null" : json_strings(r.all_classes));
  if (!r.id.empty()) out += fmt::format(R"(, "_id": "{}")", json::escape(r.id));
  return out + "}";
}

std::span<const Task> tasks() { return kTasks; }

const Task* find_task(std::string_view dataset) {
  for (const Task& t : kTasks)
    if (t.dataset == dataset) return &t;
  if (dataset.size() > 2 && dataset.ends_with("_e")) return find_task(dataset.substr(0, dataset.size() - 2));
  return nullptr;
}

const Task& require_task(std::string_view dataset) {
  if (const Task* t = find_task(dataset)) return *t;
  for (std::string_view j : kJiebaDatasets)
    if (dataset == j || (dataset.size() == j.size() + 2 && dataset.starts_with(j) && dataset.ends_with("_e")))
      bad_input("", "the dataset \"{}\" is scored with jieba word segmentation, which lexico does not provide",
                dataset);
  std::string known;
  for (const Task& t : kTasks) known += fmt::format("{}{}", known.empty() ? "" : ", ", t.dataset);
  bad_input("", "unknown LongBench dataset \"{}\" (known: {})", dataset, known);
}

std::string format_prompt(std::string_view templ, std::string_view context, std::string_view input) {
  std::string out;
  out.reserve(templ.size() + context.size() + input.size());
  for (size_t i = 0; i < templ.size();) {
    if (templ.substr(i, 9) == "{context}") {
      out += context;
      i += 9;
    } else if (templ.substr(i, 7) == "{input}") {
      out += input;
      i += 7;
    } else {
      out += templ[i++];
    }
  }
  return out;
}

std::string build_prompt(const Task& task, const Record& r) {
  return format_prompt(task.prompt_template, r.context, r.input);
}

// pred.py: half = int(max_length/2); tokens[:half] + tokens[-half:]. (With
// max_length < 2, half is 0 and Python's tokens[-0:] is the whole prompt;
// that degenerate case is refused here.)
std::vector<int32_t> truncate_middle(std::span<const int32_t> ids, size_t max_length) {
  if (max_length < 2) usage_error("--max-length", "must be at least 2, not {}", max_length);
  if (ids.size() <= max_length) return {ids.begin(), ids.end()};
  const size_t half = max_length / 2;
  std::vector<int32_t> out(ids.begin(), ids.begin() + half);
  out.insert(out.end(), ids.end() - half, ids.end());
  return out;
}

std::string truncate_middle(const std::string& prompt, size_t max_length,
                            const std::function<std::vector<int32_t>(const std::string&)>& encode,
                            const std::function<std::string(std::span<const int32_t>)>& decode) {
  if (max_length < 2) usage_error("--max-length", "must be at least 2, not {}", max_length);
  const std::vector<int32_t> ids = encode(prompt);
  if (ids.size() <= max_length) return prompt;
  const size_t half = max_length / 2;
  const std::span<const int32_t> all(ids);
  return decode(all.first(half)) + decode(all.last(half));
}

std::vector<Prediction> parse_predictions(std::string_view text, const std::string& where,
                                          const std::string& default_dataset) {
  std::vector<Prediction> out;
  for (const Line& line : jsonl_lines(text)) {
    const std::string at = fmt::format("{}:{}", where, line.number);
    json::Value v = json::parse(line.text, at);
    Fields f(v, at);
    Prediction p;
    p.pred = f.string("pred", true);
    p.answers = f.strings("answers", true, false);
    p.all_classes = f.strings("all_classes", false, true);
    p.length = f.integer("length", false);
    p.dataset = f.string("dataset", default_dataset.empty());
    if (p.dataset.empty()) p.dataset = default_dataset;
    const Task* task = nullptr;
    try {
      task = &require_task(p.dataset);
    } catch (const Error& e) {
      bad_input(at, "{}", e.what());
    }
    if (task->metric == Metric::Classification && p.all_classes.empty())
      bad_input(at, "\"all_classes\" must list the classes of the classification dataset \"{}\"", p.dataset);
    if (task->metric == Metric::Retrieval || task->metric == Metric::RetrievalZh) {
      for (const std::string& a : p.answers) {
        try {
          retrieval_score("", a);  // checks that the answer names a paragraph
        } catch (const Error& e) {
          bad_input(at, "{}", e.what());
        }
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<Prediction> read_predictions(const std::string& path, const std::string& default_dataset) {
  return parse_predictions(read_text_file(path), path, default_dataset);
}

std::string prediction_json(const Record& r, std::string_view pred) {
  std::string out =
      fmt::format(R"({{"pred": "{}", "answers": {}, "all_classes": {}, "length": {}, "dataset": "{}")",
                  json::escape(pred), json_strings(r.answers),
                  r.all_classes.empty() ? "null" : json_strings(r.all_classes), r.length, json::escape(r.dataset));
  if (!r.id.empty()) out += fmt::format(R"(, "_id": "{}")", json::escape(r.id));
  return out + "}";
}

double score_sample(const Task& task, std::string_view pred, const std::vector<std::string>& answers,
                    const std::vector<std::string>& all_classes) {
  if (task.first_line_only) {
    pred = pytext::lstrip(pred, '\n');
    pred = pred.substr(0, pred.find('\n'));
  }
  double best = 0.0;
  for (const std::string& truth : answers) best = std::max(best, score(task.metric, pred, truth, all_classes));
  return best;
}

double round2(double x) {
  if (!std::isfinite(x)) return x;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return std::strtod(buf, nullptr);
}

std::vector<DatasetScore> score_predictions(const std::vector<Prediction>& predictions) {
  std::vector<std::string> order;
  for (const Prediction& p : predictions)
    if (std::find(order.begin(), order.end(), p.dataset) == order.end()) order.push_back(p.dataset);
  std::vector<DatasetScore> out;
  for (const std::string& name : order) {
    const Task& task = require_task(name);
    DatasetScore ds;
    ds.dataset = name;
    ds.metric = task.metric;
    double total = 0.0;
    double bucket_sum[3] = {0, 0, 0};
    size_t bucket_n[3] = {0, 0, 0};
    bool all_lengths = true;
    for (const Prediction& p : predictions) {
      if (p.dataset != name) continue;
      const double s = score_sample(task, p.pred, p.answers, p.all_classes);
      total += s;
      ++ds.samples;
      if (!p.length) {
        all_lengths = false;
        continue;
      }
      const int b = *p.length < 4000 ? 0 : *p.length < 8000 ? 1 : 2;
      bucket_sum[b] += s;
      ++bucket_n[b];
    }
    ds.score = round2(100 * total / static_cast<double>(ds.samples));
    if (all_lengths) {
      auto bucket = [&](int b) { return round2(bucket_n[b] ? 100 * (bucket_sum[b] / bucket_n[b]) : std::nan("")); };
      ds.e_0_4k = bucket(0), ds.e_4_8k = bucket(1), ds.e_8k_plus = bucket(2);
    }
    out.push_back(std::move(ds));
  }
  return out;
}

namespace {

double average_score(const std::vector<DatasetScore>& scores) {
  double sum = 0;
  for (const DatasetScore& s : scores) sum += s.score;
  return scores.empty() ? std::nan("") : round2(sum / scores.size());
}

std::string cell(const std::optional<double>& v) {
  if (!v) return "";
  return std::isnan(*v) ? "-" : fmt::format("{:.2f}", *v);
}

}  // namespace

std::string scores_table(const std::vector<DatasetScore>& scores) {
  size_t width = 7;
  bool any_e = false;
  for (const DatasetScore& s : scores) width = std::max(width, s.dataset.size()), any_e |= s.e_0_4k.has_value();
  std::string out = fmt::format("{:<{}}  {:<14} {:>7} {:>7}", "dataset", width, "metric", "samples", "score");
  if (any_e) out += fmt::format(" {:>7} {:>7} {:>7}", "0-4k", "4-8k", "8k+");
  out += '\n';
  for (const DatasetScore& s : scores) {
    out += fmt::format("{:<{}}  {:<14} {:>7} {:>7.2f}", s.dataset, width, metric_name(s.metric), s.samples, s.score);
    if (any_e) out += fmt::format(" {:>7} {:>7} {:>7}", cell(s.e_0_4k), cell(s.e_4_8k), cell(s.e_8k_plus));
    out += '\n';
  }
  if (scores.size() > 1)
    out += fmt::format("{:<{}}  {:<14} {:>7} {:>7.2f}\n", "average", width, "", "", average_score(scores));
  return out;
}

std::string scores_json(const std::vector<DatasetScore>& scores) {
  std::string out = "{\n  \"datasets\": {";
  for (size_t i = 0; i < scores.size(); ++i) {
    const DatasetScore& s = scores[i];
    out += fmt::format("{}\n    \"{}\": {{\"metric\": \"{}\", \"samples\": {}, \"score\": {}", i ? "," : "",
                       json::escape(s.dataset), metric_name(s.metric), s.samples, json_number(s.score));
    if (s.e_0_4k)
      out += fmt::format(", \"0-4k\": {}, \"4-8k\": {}, \"8k+\": {}", json_number(*s.e_0_4k), json_number(*s.e_4_8k),
                         json_number(*s.e_8k_plus));
    out += "}";
  }
  out +=
      fmt::format("{}}},\n  \"average\": {}\n}}\n", scores.empty() ? "" : "\n  ", json_number(average_score(scores)));
  return out;
}

}  // namespace lexico::longbench
