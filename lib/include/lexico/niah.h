// Needle in a haystack (after G. Kamradt's LLMTest_NeedleInAHaystack): a
// needle sentence hidden at a depth of a haystack of real text (the Paul
// Graham essays), over a grid of prompt lengths × depths; scoring of the
// model's answers; the grid as a table, JSON and a heat map.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lexico/heatmap.h"
#include "lexico/task_generator.h"

namespace lexico::niah {

struct Needle {
  std::string text;  // the sentence hidden in the haystack
  std::string question;
  std::string answer;                 // what a right answer says
  std::vector<std::string> keywords;  // sentence needle: the words scored (normalised)
  bool is_number = false;
  std::string prompt_template;  // with {context}
};
// "The best thing to do in San Francisco is eat a sandwich and sit in Dolores
// Park on a sunny day." / "What is the best thing to do in San Francisco?"
// Scored as the share of its keywords eat, sandwich, sit, dolores, park,
// sunny, day found among the words of the normalised answer (qa_f1's
// normalize_answer; whole words, so "eating" does not count for "eat").
Needle sandwich_needle();
// "The special magic number is N." / "What is the special magic number?"
// Scored 1 when a run of digits in the answer is exactly N, else 0.
Needle number_needle(uint64_t number);
// number_needle with a 7-digit number drawn from the seed.
Needle random_number_needle(uint64_t seed);

// The documents joined by blank lines, repeated whole until the result has
// at least min_chars bytes.
std::string build_haystack(const std::vector<taskgen::Document>& docs, size_t min_chars = 0);

// The last sentence start (taskgen::is_sentence_start) at or before pos; 0
// when there is none.
size_t sentence_start_at_or_before(std::string_view text, size_t pos);

struct Case {
  size_t target_length = 0;  // the prompt length asked for, in length-function units
  double depth_percent = 0;
  size_t needle_offset = 0;  // byte offset of the needle in `context`
  std::string context;       // the haystack prefix with the needle in it
  std::string prompt;        // the needle's template around the context
  size_t prompt_length = 0;  // length(prompt), at most target_length
};
// The longest haystack prefix that ends at a sentence end and keeps the whole
// prompt within target_length (measured with `length`, e.g. the model's token
// count); the needle goes in at the last sentence start at or before
// depth% of the prefix (0: first; 100: last, after the final sentence).
// Errors when the target cannot hold the prompt and needle, or the haystack
// is too short for it.
Case make_case(std::string_view haystack, const Needle& needle, size_t target_length, double depth_percent,
               const taskgen::LengthFn& length);

// n depths evenly from 0 to 100 (n = 1: 50).
std::vector<double> even_depths(size_t n);

// The score of a response in [0, 1] (see the needles above).
double score(const Needle& needle, std::string_view response);

struct Grid {
  std::vector<size_t> lengths;         // columns
  std::vector<double> depths;          // rows
  std::vector<double> scores;          // [length][depth], NaN until set
  std::vector<size_t> prompt_lengths;  // [length][depth], 0 until set
  Grid() = default;
  Grid(std::vector<size_t> lengths, std::vector<double> depths);
  double& score_at(size_t length_index, size_t depth_index);
  double score_at(size_t length_index, size_t depth_index) const;
  double mean() const;  // over the cells that are set
};

// Depth rows × length columns of scores, a mean per column and overall.
std::string grid_table(const Grid& g);
// {"needle", "question", "lengths", "depths", "scores" ([length][depth], null
// when unset), "prompt_lengths", "mean"}
std::string grid_json(const Grid& g, const Needle& needle);
// The heat map of the grid (x: prompt length, y: depth, 0% at the top).
Heatmap grid_heatmap(const Grid& g, const std::string& title);

}  // namespace lexico::niah
