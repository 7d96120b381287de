// LongBench's metrics (Bai et al. 2023, metrics.py of the THUDM/LongBench
// repository), reimplemented to give the same numbers as the published
// Python for the English tasks. Every score lies in [0, 1]; a dataset's score
// is 100 × the mean over its samples (see longbench.h).
//
// The Chinese metrics qa_f1_zh and rouge_zh segment words with jieba and are
// not provided; retrieval_zh needs no segmentation and is.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lexico::longbench {

// SQuAD-style normalisation: lowercase (Python str.lower), drop ASCII
// punctuation (string.punctuation), replace the words a/an/the by a space
// (re.sub(r"\b(a|an|the)\b", " ", ...)), collapse whitespace.
std::string normalize_answer(std::string_view s);

// Token F1 of the normalised answers: multiset overlap, P = same/|pred|,
// R = same/|truth|, F1 = 2PR/(P+R); 0 when nothing overlaps (so also when
// either side is empty).
double qa_f1_score(std::string_view prediction, std::string_view ground_truth);

// ROUGE-L F as LongBench gets it from the `rouge` package (pltrdy, 1.0.1,
// Rouge() defaults): both texts split into sentences on '.', empty pieces
// dropped, each sentence's whitespace collapsed and split on ' ';
// summary-level LCS with words counted as sets (exclusive=True):
// m = distinct reference words, n = distinct prediction words, llcs = the
// number of distinct words in the union of the LCSs (as the package
// reconstructs them) of every reference sentence with every prediction
// sentence; r = llcs/m, p = llcs/n, F = 2·(p·r / (p + r + 1e-8)) -- the
// package's 1.0.1 formula (beta = 1, with 1e-8 in the denominator; older
// releases used beta = p/r), so identical texts score 0.999999995.
// No sentences on either side (e.g. "" or only dots) raises in the package
// and scores 0. Not reproduced: the package's recursive LCS walk exceeds
// Python's recursion limit (RecursionError, scored 0) when a reference
// sentence and a prediction sentence have about 1000 words together.
double rouge_score(std::string_view prediction, std::string_view ground_truth);

// The classes whose names occur in the prediction, less those that are a
// proper substring of the ground truth (removed while iterating, as the
// Python list.remove in a for loop does, which skips the element after each
// removal); 1/len(matches) when the ground truth is among them, else 0.
double classification_score(std::string_view prediction, std::string_view ground_truth,
                            const std::vector<std::string>& all_classes);

// The number N of the first "Paragraph N" in the ground truth (throws
// lexico::Error when there is none); the share of the digit runs in the
// prediction that equal N (0 when there are none).
double retrieval_score(std::string_view prediction, std::string_view ground_truth);
// The same with the Chinese label "段落N".
double retrieval_zh_score(std::string_view prediction, std::string_view ground_truth);

// The share of the digit runs in the prediction that equal the ground truth.
double count_score(std::string_view prediction, std::string_view ground_truth);

// fuzzywuzzy's fuzz.ratio with python-Levenshtein: 100 when the strings are
// equal (both empty included), 0 when one is empty, else
// round(100 × (1 − ldist/lensum)) with ties to even (Python's round), where
// ldist is the Levenshtein distance with substitutions costing 2 over code
// points, i.e. (lensum − ldist)/lensum, computed in floating point the way
// python-Levenshtein >= 0.18 does (1 − ldist/lensum). Without
// python-Levenshtein installed, fuzzywuzzy falls back to difflib, whose
// ratio differs; that variant is not provided.
int fuzz_ratio(std::string_view a, std::string_view b);

// The first line of the prediction (after leading newlines) that contains
// none of '`', '#', "//" (contains, as published, not "starts with"), or ""
// when there is none; fuzz_ratio with the ground truth, / 100.
double code_sim_score(std::string_view prediction, std::string_view ground_truth);

enum class Metric { QaF1, Rouge, Classification, Retrieval, RetrievalZh, Count, CodeSim };

// "qa_f1", "rouge", "classification", "retrieval", "retrieval_zh", "count",
// "code_sim"
std::string_view metric_name(Metric m);

double score(Metric m, std::string_view prediction, std::string_view ground_truth,
             const std::vector<std::string>& all_classes);

}  // namespace lexico::longbench
