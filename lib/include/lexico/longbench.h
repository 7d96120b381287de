// LongBench-format tasks (Bai et al. 2023): the records, the published
// per-dataset prompt templates and generation lengths, LongBench's middle
// truncation of over-long prompts, and scoring a file of predictions the way
// LongBench's eval.py does. Model-independent: truncation takes token ids, or
// encode/decode callbacks.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lexico/longbench_metrics.h"

namespace lexico::longbench {

// One line of a LongBench JSONL file.
struct Record {
  std::string input;    // the question / query ("" for summarisation)
  std::string context;  // the long document(s)
  std::vector<std::string> answers;
  std::vector<std::string> all_classes;  // classification tasks only (null elsewhere)
  int64_t length = 0;                    // words of input + context + answers (characters for Chinese)
  std::string dataset;                   // e.g. "hotpotqa" ("hotpotqa_e" in LongBench-E)
  std::string language;                  // "en", "zh" ("" when absent)
  std::string id;                        // "_id" ("" when absent)
};

// Reads LongBench JSONL: one object per non-blank line with "input",
// "context", "answers" (strings; numbers are turned into their decimal
// text), "length", "dataset"; "all_classes" (null or strings), "language" and
// "_id" are optional. Errors (lexico::Error, BadInput) name the file, the
// 1-based line and what is wrong.
std::vector<Record> read_records(const std::string& path);
std::vector<Record> parse_records(std::string_view text, const std::string& where);
// One JSONL line (no newline) in the same format.
std::string record_json(const Record& r);

// A LongBench dataset: its prompt template (with {context} and {input}), the
// number of new tokens pred.py generates, its metric, and how pred.py/eval.py
// treat it.
struct Task {
  std::string_view dataset;
  std::string_view prompt_template;
  int max_new_tokens;
  Metric metric;
  bool first_line_only;  // eval.py scores only the first line (trec, triviaqa, samsum, lsht)
  bool chat_template;    // pred.py wraps the prompt in the chat template (not for the few-shot and code tasks)
  bool stop_at_newline;  // pred.py also stops at "\n" (samsum)
  bool generated;        // made by lexico's task generator, not part of LongBench
};

// The English LongBench datasets, lsht and passage_retrieval_zh (their
// metrics need no word segmentation), and lexico's generated tasks
// (passage_retrieval_essays, passage_count_essays, gsm8k_qa).
std::span<const Task> tasks();
// The task of a dataset name; a LongBench-E name ("qasper_e") finds its base
// dataset. nullptr when unknown. For multifieldqa_zh, dureader and vcsum
// (jieba-segmented metrics) use require_task, which says why they are missing.
const Task* find_task(std::string_view dataset);
// find_task or a lexico::Error (BadInput) that lists the known datasets.
const Task& require_task(std::string_view dataset);

// The template with {context} and {input} replaced (one pass, so braces in
// the substituted text are left alone, like Python's str.format).
std::string format_prompt(std::string_view prompt_template, std::string_view context, std::string_view input);
std::string build_prompt(const Task& task, const Record& r);

// LongBench's rule for a prompt longer than max_length tokens: keep the first
// and the last half = int(max_length / 2) tokens (so 2·half, one less than an
// odd max_length). Shorter prompts are returned unchanged.
std::vector<int32_t> truncate_middle(std::span<const int32_t> ids, size_t max_length);
// The same on text, as pred.py does it: decode(first half) + decode(last half)
// of encode(prompt); the prompt itself when it has at most max_length tokens.
std::string truncate_middle(const std::string& prompt, size_t max_length,
                            const std::function<std::vector<int32_t>(const std::string&)>& encode,
                            const std::function<std::string(std::span<const int32_t>)>& decode);

// One line of a predictions file (pred.py's output plus "dataset").
struct Prediction {
  std::string pred;
  std::vector<std::string> answers;
  std::vector<std::string> all_classes;
  std::optional<int64_t> length;
  std::string dataset;
};
// Reads predictions JSONL: "pred", "answers" required; "all_classes",
// "length" optional; "dataset" required unless default_dataset is given
// (LongBench names the dataset by the file: pred/<model>/<dataset>.jsonl).
std::vector<Prediction> read_predictions(const std::string& path, const std::string& default_dataset = "");
std::vector<Prediction> parse_predictions(std::string_view text, const std::string& where,
                                          const std::string& default_dataset = "");
// One predictions JSONL line (no newline) for a record and the model's output.
std::string prediction_json(const Record& r, std::string_view pred);

// One sample's score, as eval.py's scorer: the first line only (after leading
// newlines) for first_line_only tasks, then the max of the metric over the
// answers (0 when there are none).
double score_sample(const Task& task, std::string_view pred, const std::vector<std::string>& answers,
                    const std::vector<std::string>& all_classes);

// Python's round(x, 2) (correctly rounded, ties to even). NaN stays NaN.
double round2(double x);

struct DatasetScore {
  std::string dataset;
  Metric metric;
  size_t samples = 0;
  double score = 0;  // round(100 · sum / samples, 2)
  // LongBench-E buckets by "length": < 4000, < 8000, the rest;
  // round(100 · mean, 2), NaN for an empty bucket (as numpy's mean gives).
  // Present only when every sample has a length.
  std::optional<double> e_0_4k, e_4_8k, e_8k_plus;
};

// Groups the predictions by dataset (first appearance order) and scores each.
// An unknown dataset is an error.
std::vector<DatasetScore> score_predictions(const std::vector<Prediction>& predictions);

// An aligned table (dataset, metric, samples, score, LongBench-E buckets when
// any dataset has them, and the average of the scores) and JSON:
// {"datasets": {name: {"metric", "samples", "score", "0-4k", "4-8k", "8k+"}}, "average": x}
std::string scores_table(const std::vector<DatasetScore>& scores);
std::string scores_json(const std::vector<DatasetScore>& scores);

}  // namespace lexico::longbench
