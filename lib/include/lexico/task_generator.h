// Builds LongBench-format tasks from local texts, for when no LongBench data
// is at hand: passage retrieval and passage counting over essays (the format
// of LongBench's passage_retrieval_en and passage_count) and QA over GSM8K
// problems. Deterministic for a seed (own PRNG and shuffles, so the same on
// every standard library). Records use the dataset names of the generated
// tasks in longbench.h: passage_retrieval_essays, passage_count_essays,
// gsm8k_qa.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lexico/longbench.h"

namespace lexico::taskgen {

struct Document {
  std::string name;  // file name without the folder
  std::string text;
};
// The *.txt files of a folder, sorted by name. Errors when there are none.
std::vector<Document> read_text_dir(const std::string& dir);

struct GsmProblem {
  std::string question;
  std::string solution;  // worked solution, calculator annotations <<...>> removed, ending "#### <answer>"
  std::string answer;    // the text after "#### " (e.g. "18", "2,125")
};
// GSM8K JSONL ("question", "answer" ending in "#### <number>"); errors name
// file and line.
std::vector<GsmProblem> read_gsm8k(const std::string& path);

// An essay as passages: line breaks joined, whitespace collapsed, a leading
// "Want to start a startup?" banner and "Month YYYY" date dropped, split
// where the source glued two paragraphs ("accelerating.We", "IBM.It's",
// "at work. [1]No", "friction.[4] Hypothesis"), short pieces merged with the
// next until at least min_chars, and pieces over max_chars cut at sentence
// ends into nearly equal parts (a single sentence is never cut).
std::vector<std::string> essay_paragraphs(std::string_view text, size_t min_chars = 300, size_t max_chars = 1200);

// The sentences of a text: ends at '.', '!' or '?' (and closing quotes or
// brackets after them) followed by a space or a capital letter.
std::vector<std::string> split_sentences(std::string_view text);

// Whether a sentence starts at byte i: i = 0, or text[i] is not whitespace
// nor a lowercase letter and follows '.', '!' or '?' (closing quotes or
// brackets allowed after it) across whitespace, or glued to it as in
// "accelerating.We".
bool is_sentence_start(std::string_view text, size_t i);

// Measures text in the unit of the target length: a token count from the
// model's tokenizer, or one of these.
using LengthFn = std::function<size_t(std::string_view)>;
size_t approx_tokens(std::string_view text);  // ceil(bytes / 4)
size_t char_count(std::string_view text);     // UTF-8 code points

struct Options {
  uint64_t seed = 0;
  size_t samples = 10;
  size_t context_length = 3500;  // target length of the context, in `length` units
  LengthFn length;               // empty: approx_tokens
};

// Passage retrieval: as many distinct paragraphs (from random essays) as fit
// the target, labelled "Paragraph 1: ..." and separated by blank lines; the
// input is a verbatim excerpt (one or two consecutive sentences, at least 60
// characters) of one of them that occurs in no other; answer "Paragraph k".
std::vector<longbench::Record> passage_retrieval(const std::vector<Document>& essays, const Options& opt);
// Passage count: paragraphs in the same format, some repeated verbatim
// (each new slot repeats an earlier paragraph with a per-sample probability
// in [0.2, 0.6)); empty input; answer = the number of distinct paragraphs.
std::vector<longbench::Record> passage_count(const std::vector<Document>& essays, const Options& opt);
// QA over GSM8K: "Problem i: <question>\nSolution: <worked solution>" blocks
// for as many distinct problems as fit; the input asks for the final answer
// of one of them, named by number and by its first words; the answer is the
// "####" number as written (qa_f1 drops the commas of "2,125").
std::vector<longbench::Record> gsm8k_qa(const std::vector<GsmProblem>& problems, const Options& opt);

// LongBench's "length" of a record: the words (str.split()) of input,
// context and answers.
int64_t record_length(const longbench::Record& r);

// One JSON object per line (longbench::record_json), each line ending in '\n'.
std::string to_jsonl(const std::vector<longbench::Record>& records);

}  // namespace lexico::taskgen
