// LongBench's metrics against values worked out by hand from the published
// definitions (THUDM/LongBench metrics.py; rouge 1.0.1; fuzzywuzzy with
// python-Levenshtein). Each case shows its arithmetic.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lexico/error.h"
#include "lexico/longbench_metrics.h"
#include "lexico/text_normalize.h"

using namespace lexico::longbench;
using doctest::Approx;

TEST_CASE("longbench metrics: normalize_answer") {
  // lower, drop string.punctuation, articles -> " ", collapse whitespace
  CHECK(normalize_answer("The  Quick, brown fox!") == "quick brown fox");
  CHECK(normalize_answer("An apple a day") == "apple day");
  CHECK(normalize_answer("U.S.A.") == "usa");
  CHECK(normalize_answer("it's") == "its");
  // Punctuation goes before articles: "the-end" -> "theend", not an article.
  CHECK(normalize_answer("the-end") == "theend");
  // Articles only as whole \w runs: "another", "theory", "a1" stay.
  CHECK(normalize_answer("another theory a1") == "another theory a1");
  // The em dash is neither ASCII punctuation nor a word character, so "the"
  // between two of them is a whole word: "x —the— y" -> "x — — y".
  CHECK(normalize_answer("x \u2014the\u2014 y") == "x \u2014 \u2014 y");
  // Unicode lowercase and whitespace (U+00A0 splits like Python's str.split).
  CHECK(normalize_answer("\u00C9CLAIR\u00A0Caf\u00C9") == "\u00E9clair caf\u00E9");
  CHECK(normalize_answer("") == "");
  CHECK(normalize_answer(" . , ! ") == "");
}

TEST_CASE("longbench metrics: qa_f1_score") {
  // [cat, sat] vs [cat, sat, down]: same 2, P = 1, R = 2/3, F1 = 2·(2/3)/(5/3) = 0.8
  CHECK(qa_f1_score("the cat sat", "a cat sat down") == Approx(0.8));
  CHECK(qa_f1_score("The Cat!", "cat") == 1.0);
  // Multisets: {cat:2, dog:1} & {cat:1, dog:2} = 2 of 3 each: P = R = 2/3, F1 = 2/3
  CHECK(qa_f1_score("cat cat dog", "cat dog dog") == Approx(2.0 / 3));
  // [another, theory] vs [theory]: P = 1/2, R = 1, F1 = 2·(1/2)/(3/2) = 2/3
  CHECK(qa_f1_score("another theory", "theory") == Approx(2.0 / 3));
  // "$1,000" -> "1000"
  CHECK(qa_f1_score("$1,000", "1000") == 1.0);
  CHECK(qa_f1_score("Paris, France.", "paris france") == 1.0);
  CHECK(qa_f1_score("\u00C9CLAIR", "\u00E9clair") == 1.0);
  // No overlap, and empty sides, are 0 (also both empty: num_same = 0).
  CHECK(qa_f1_score("dog", "cat") == 0.0);
  CHECK(qa_f1_score("", "cat") == 0.0);
  CHECK(qa_f1_score("cat", "") == 0.0);
  CHECK(qa_f1_score("", "") == 0.0);
  CHECK(qa_f1_score("the", "a") == 0.0);  // both normalise to nothing
}

TEST_CASE("longbench metrics: rouge_score (rouge 1.0.1 ROUGE-L F)") {
  const double one = 2.0 / (2.0 + 1e-8);  // P = R = 1: F = 2·(1/(2 + 1e-8)) = 0.999999995
  CHECK(rouge_score("the cat sat on the mat", "the cat sat on the mat") == Approx(one).epsilon(1e-15));
  CHECK(rouge_score("the cat sat on the mat", "the cat sat on the mat") < 1.0);
  // ref [a c e] (m = 3), hyp [a b c d] (n = 4); LCS [a c]: R = 2/3, P = 1/2,
  // F = 2·((1/3)/(7/6 + 1e-8)) ≈ 4/7
  CHECK(rouge_score("a b c d", "a c e") == Approx(2 * ((1.0 / 3) / (7.0 / 6 + 1e-8))).epsilon(1e-15));
  // Words counted as sets: m = n = 1, LCS words {a}
  CHECK(rouge_score("a a a", "a") == Approx(one).epsilon(1e-15));
  // Sentences split on '.': ref [a d], [c]; hyp [a b], [c d]. Union of LCS
  // words: {a} ∪ {d} ∪ {} ∪ {c} = 3; m = |{a,d,c}| = 3, n = |{a,b,c,d}| = 4;
  // R = 1, P = 3/4, F = 2·(0.75/(1.75 + 1e-8)) ≈ 6/7
  CHECK(rouge_score("a b. c d", "a d. c") == Approx(2 * (0.75 / (1.75 + 1e-8))).epsilon(1e-15));
  // The package's LCS walk: ref [a b] vs hyp [b a] ties; it moves left
  // (in hyp) on a tie and so keeps "b"; with hyp sentence [a] giving {a},
  // the union is {a, b}: P = R = 1. (Keeping "a" instead would give 1/2.)
  CHECK(rouge_score("b a. a", "a b") == Approx(one).epsilon(1e-15));
  // Disjoint words: 0.
  CHECK(rouge_score("x y", "a b") == 0.0);
  // No sentence on a side: the package raises, LongBench scores 0.
  CHECK(rouge_score("", "a") == 0.0);
  CHECK(rouge_score("...", "a") == 0.0);
  CHECK(rouge_score("a", "") == 0.0);
  // Whitespace and case are not normalised beyond collapsing: "A" != "a".
  CHECK(rouge_score("A", "a") == 0.0);
  CHECK(rouge_score("  a\n\tb ", "a b") == Approx(one).epsilon(1e-15));
}

TEST_CASE("longbench metrics: classification_score") {
  const std::vector<std::string> two = {"Location", "Human"};
  CHECK(classification_score("Location", "Location", two) == 1.0);
  // Both classes named: 1/2.
  CHECK(classification_score("Location or Human", "Human", two) == 0.5);
  CHECK(classification_score("Human", "Location", two) == 0.0);
  CHECK(classification_score("", "Location", two) == 0.0);
  // "human" is a proper substring of the truth and is removed: 1/1.
  CHECK(classification_score("a human being", "human being", {"human", "human being"}) == 1.0);
  // Python's remove-while-iterating: matches [a, ab, abc]; "a" removed, the
  // iterator then skips "ab" and sees "abc" (the truth): [ab, abc] -> 1/2.
  CHECK(classification_score("abc", "abc", {"a", "ab", "abc"}) == 0.5);
  // Duplicated classes count twice: [x, x] -> 1/2.
  CHECK(classification_score("x", "x", {"x", "x"}) == 0.5);
}

TEST_CASE("longbench metrics: retrieval_score and count_score") {
  CHECK(retrieval_score("Paragraph 3", "Paragraph 3") == 1.0);
  // digit runs [3, 13]: one of two is right
  CHECK(retrieval_score("Paragraph 3 or Paragraph 13", "Paragraph 3") == 0.5);
  CHECK(retrieval_score("The answer is Paragraph 30", "Paragraph 3") == 0.0);
  CHECK(retrieval_score("no idea", "Paragraph 3") == 0.0);
  CHECK(retrieval_score("Paragraph 03", "Paragraph 3") == 0.0);       // strings compared
  CHECK(retrieval_score("7", "Paragraph 7 and Paragraph 8") == 1.0);  // the first label counts
  CHECK(retrieval_score("Paragraph 2", "see Paragraph x, Paragraph 2") == 1.0);
  CHECK_THROWS_AS(retrieval_score("1", "Paragraph"), lexico::Error);
  CHECK(retrieval_zh_score("\u6BB5\u843D5", "\u6BB5\u843D5") == 1.0);

  // [12, 20]: 1/2
  CHECK(count_score("There are 12 unique paragraphs out of 20", "12") == 0.5);
  CHECK(count_score("12", "12") == 1.0);
  CHECK(count_score("twelve", "12") == 0.0);
  // Python's \d matches fullwidth digits: runs [12, １２] -> 1/2
  CHECK(count_score("12 or \uFF11\uFF12", "12") == 0.5);
  CHECK(count_score("", "0") == 0.0);
}

TEST_CASE("longbench metrics: fuzz_ratio and code_sim_score") {
  CHECK(fuzz_ratio("abc", "abc") == 100);
  CHECK(fuzz_ratio("", "") == 100);  // equal strings come first
  CHECK(fuzz_ratio("abc", "") == 0);
  // kitten/sitting: LCS "ittn" = 4, lensum 13, indel distance 13 - 8 = 5;
  // 100·(1 - 5/13) = 61.54 -> 62
  CHECK(fuzz_ratio("kitten", "sitting") == 62);
  // lensum 16, LCS 5 ("abcde"), distance 6: 100·(10/16) = 62.5 -> 62 (ties to even)
  CHECK(fuzz_ratio("abcdefgh", "abcdexyz") == 62);
  // lensum 16, LCS 6, distance 4: 75
  CHECK(fuzz_ratio("abcdefgh", "abcdefxy") == 75);
  // lensum 80, LCS 17, distance 46: exactly 42.5, but 1 - 46/80 is
  // 0.42500000000000004 in binary, so python-Levenshtein gives 43.
  CHECK(fuzz_ratio(std::string(17, 'a') + std::string(23, 'b'), std::string(17, 'a') + std::string(23, 'c')) == 43);
  // Code points, not bytes: "é" vs "e" is one substitution of one character:
  // lensum 2, distance 2 -> 0.
  CHECK(fuzz_ratio("\u00E9", "e") == 0);

  CHECK(code_sim_score("```python\nx = 1\n```", "x = 1") == 1.0);
  // A line *containing* '#' is skipped, not only one starting with it.
  CHECK(code_sim_score("\n\n# comment\nreturn a + b  # add\nfoo()", "foo()") == 1.0);
  CHECK(code_sim_score("// c\n", "x") == 0.0);  // the empty second line is chosen
  CHECK(code_sim_score("#", "") == 1.0);        // nothing chosen: "" vs "" is 100
  CHECK(code_sim_score("kitten", "sitting") == 0.62);
}

TEST_CASE("longbench metrics: Python string primitives") {
  using namespace lexico::pytext;
  CHECK(split(" a\u00A0b\u2003c\x1c"
              "d\n") == std::vector<std::string_view>{"a", "b", "c", "d"});
  CHECK(split("   ").empty());
  CHECK(lower("ABC \u00C0 \u0391 \u0416 \u0130") == "abc \u00E0 \u03B1 \u0436 i\u0307");
  CHECK(digit_runs("a1b22 \u0663\u0664 3") == std::vector<std::string_view>{"1", "22", "\u0663\u0664", "3"});
  CHECK(is_word('_'));
  CHECK(is_word(0x00E9));
  CHECK_FALSE(is_word(0x2014));
  CHECK(is_digit(0xFF10));
  CHECK_FALSE(is_digit(0x00B2));  // superscript two is No, not Nd
  CHECK(lstrip("\n\nx\n", '\n') == "x\n");
}

TEST_CASE("longbench metrics: metric dispatch") {
  CHECK(metric_name(Metric::QaF1) == "qa_f1");
  CHECK(metric_name(Metric::CodeSim) == "code_sim");
  CHECK(score(Metric::QaF1, "the cat sat", "a cat sat down", {}) == Approx(0.8));
  CHECK(score(Metric::Classification, "Human", "Human", {"Human"}) == 1.0);
  CHECK(score(Metric::Count, "3", "3", {}) == 1.0);
}
