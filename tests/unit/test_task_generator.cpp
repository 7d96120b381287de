// The task generator: paragraphs and sentences of the essays, determinism,
// and records that are valid LongBench and answerable from their context.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "lexico/error.h"
#include "lexico/longbench.h"
#include "lexico/task_generator.h"
#include "temp_dir.h"

using namespace lexico;
namespace fs = std::filesystem;

namespace {

fs::path shared_dir() {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  return env ? env : LEXICO_SHARED_DIR;
}

// Synthetic essays: each sentence is unique ("Essay e says thing k here.").
std::vector<taskgen::Document> synthetic_essays(int essays = 6, int sentences = 40) {
  std::vector<taskgen::Document> out;
  for (int e = 0; e < essays; ++e) {
    std::string text = "May 2010";
    for (int k = 0; k < sentences; ++k) {
      // A glued paragraph break every 5 sentences, hard line wraps elsewhere.
      text += (k % 5 == 0) ? "" : (k % 2 ? "\n" : "  ");
      text += fmt::format("Essay {} says thing {} here.", e, k);
    }
    out.push_back({fmt::format("e{}.txt", e), text});
  }
  return out;
}

std::vector<taskgen::GsmProblem> synthetic_gsm(int n = 30) {
  std::vector<taskgen::GsmProblem> out;
  for (int i = 0; i < n; ++i) {
    const std::string a = std::to_string(100 + i);
    out.push_back({"Tom has " + std::to_string(i) + " apples and buys some more. How many apples does Tom have now?",
                   "He has " + a + " apples.\n#### " + a, a});
  }
  return out;
}

// The paragraphs of a generated context, without their labels, checking
// that they are numbered 1, 2, ... in order.
std::vector<std::string> paragraphs_of(const std::string& context) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (int k = 1;; ++k) {
    const std::string label = "Paragraph " + std::to_string(k) + ": ";
    REQUIRE(context.compare(pos, label.size(), label) == 0);
    const size_t end = context.find("\n\nParagraph ", pos);
    out.push_back(
        context.substr(pos + label.size(), end == std::string::npos ? std::string::npos : end - pos - label.size()));
    if (end == std::string::npos) break;
    pos = end + 2;
  }
  return out;
}

}  // namespace

TEST_CASE("task generator: sentences and paragraphs") {
  CHECK(taskgen::split_sentences("At work. [1]No one doubts. Hello there! \"Quoted.\" Next (paren.) Then.Glued") ==
        std::vector<std::string>{"At work.", "[1]No one doubts.", "Hello there!", "\"Quoted.\"", "Next (paren.)",
                                 "Then.", "Glued"});
  CHECK(taskgen::split_sentences("no end") == std::vector<std::string>{"no end"});
  CHECK(taskgen::split_sentences("").empty());

  // Glued breaks: lowercase/digit + '.' + capital, acronyms, footnote marks.
  const auto p = taskgen::essay_paragraphs(
      "July 2010First one is here.Second starts\nhere and goes on.The next IBM.It's third. [1]Fourth.[2] Note.", 1,
      1000);
  CHECK(p == std::vector<std::string>{"First one is here.", "Second starts here and goes on.", "The next IBM.",
                                      "It's third. [1]", "Fourth.", "[2] Note."});
  // Merged up to min_chars; a long one cut at sentences into equal parts.
  CHECK(taskgen::essay_paragraphs("Aaaa bbb.Cccc ddd.Eeee fff.Gggg hhh.", 12, 1000) ==
        std::vector<std::string>{"Aaaa bbb. Cccc ddd.", "Eeee fff. Gggg hhh."});
  // A short rest joins the last paragraph.
  CHECK(taskgen::essay_paragraphs("Aaaa bbb.Cccc ddd.Eeee fff.", 12, 1000) ==
        std::vector<std::string>{"Aaaa bbb. Cccc ddd. Eeee fff."});
  CHECK(taskgen::essay_paragraphs("Aa. Bb. Cc. Dd.", 1, 8) == std::vector<std::string>{"Aa. Bb.", "Cc. Dd."});

  CHECK(taskgen::is_sentence_start("Hi. There", 4));
  CHECK_FALSE(taskgen::is_sentence_start("Hi. there", 4));
  CHECK_FALSE(taskgen::is_sentence_start("Hi there", 3));
  CHECK(taskgen::is_sentence_start("end.Next", 4));
  CHECK(taskgen::is_sentence_start("x", 0));

  CHECK(taskgen::approx_tokens("abcde") == 2);
  CHECK(taskgen::char_count("\u00E9t\u00E9") == 3);
}

TEST_CASE("task generator: passage retrieval") {
  const auto essays = synthetic_essays();
  taskgen::Options opt;
  opt.seed = 11;
  opt.samples = 5;
  opt.context_length = 400;
  const auto recs = taskgen::passage_retrieval(essays, opt);
  REQUIRE(recs.size() == 5);
  // Deterministic for a seed; another seed differs.
  CHECK(taskgen::to_jsonl(recs) == taskgen::to_jsonl(taskgen::passage_retrieval(essays, opt)));
  opt.seed = 12;
  CHECK(taskgen::to_jsonl(recs) != taskgen::to_jsonl(taskgen::passage_retrieval(essays, opt)));
  // Valid LongBench JSONL that reads back.
  const auto back = longbench::parse_records(taskgen::to_jsonl(recs), "gen");
  REQUIRE(back.size() == recs.size());
  for (const auto& r : back) {
    CHECK(r.dataset == "passage_retrieval_essays");
    CHECK(r.language == "en");
    CHECK(r.id.size() == 16);
    CHECK(r.length == taskgen::record_length(r));
    CHECK(taskgen::approx_tokens(r.context) <= 400);
    const auto paras = paragraphs_of(r.context);
    CHECK(paras.size() >= 2);
    REQUIRE(r.answers.size() == 1);
    // The answer names the one paragraph that holds the excerpt.
    const int k = std::stoi(r.answers[0].substr(std::string("Paragraph ").size()));
    REQUIRE(k >= 1);
    REQUIRE(k <= static_cast<int>(paras.size()));
    for (size_t j = 0; j < paras.size(); ++j)
      CHECK((paras[j].find(r.input) != std::string::npos) == (static_cast<int>(j) + 1 == k));
    CHECK(longbench::retrieval_score(r.answers[0], r.answers[0]) == 1.0);
    // The prompt builds with the generated task's template.
    CHECK(longbench::build_prompt(longbench::require_task(r.dataset), r).find(r.input) != std::string::npos);
  }
}

TEST_CASE("task generator: passage count") {
  const auto essays = synthetic_essays();
  taskgen::Options opt;
  opt.seed = 3;
  opt.samples = 8;
  opt.context_length = 600;
  const auto recs = taskgen::passage_count(essays, opt);
  CHECK(taskgen::to_jsonl(recs) == taskgen::to_jsonl(taskgen::passage_count(essays, opt)));
  bool some_repeat = false;
  for (const auto& r : recs) {
    CHECK(r.dataset == "passage_count_essays");
    CHECK(r.input.empty());
    CHECK(taskgen::approx_tokens(r.context) <= 600);
    const auto paras = paragraphs_of(r.context);
    const std::set<std::string> distinct(paras.begin(), paras.end());
    REQUIRE(r.answers.size() == 1);
    CHECK(r.answers[0] == std::to_string(distinct.size()));
    some_repeat |= distinct.size() < paras.size();
  }
  CHECK(some_repeat);
}

TEST_CASE("task generator: GSM8K QA") {
  const auto problems = synthetic_gsm();
  taskgen::Options opt;
  opt.seed = 5;
  opt.samples = 6;
  opt.context_length = 300;
  const auto recs = taskgen::gsm8k_qa(problems, opt);
  CHECK(taskgen::to_jsonl(recs) == taskgen::to_jsonl(taskgen::gsm8k_qa(problems, opt)));
  for (const auto& r : recs) {
    CHECK(r.dataset == "gsm8k_qa");
    // "What is the final answer of Problem k, the problem that begins "...""
    const size_t at = r.input.find("Problem ");
    REQUIRE(at != std::string::npos);
    const int k = std::stoi(r.input.substr(at + 8));
    const std::string label = "Problem " + std::to_string(k) + ": ";
    const size_t block = r.context.find(label);
    REQUIRE(block != std::string::npos);
    // The answer is that problem's "####" number.
    const size_t mark = r.context.find("#### ", block);
    REQUIRE(mark != std::string::npos);
    REQUIRE(r.answers.size() == 1);
    CHECK(r.context.compare(mark + 5, r.answers[0].size(), r.answers[0]) == 0);
    CHECK(longbench::qa_f1_score(r.answers[0], r.answers[0]) == 1.0);
    // Its opening words are quoted in the question.
    CHECK(r.input.find(r.context.substr(block + label.size(), 12)) != std::string::npos);
  }
}

TEST_CASE("task generator: reading inputs") {
  lexico::test::TempDir dir;
  {
    std::ofstream(dir / "b.txt") << "B text.";
    std::ofstream(dir / "a.txt") << "A text.";
    std::ofstream(dir / "skip.md") << "not an essay";
    std::ofstream(dir / "g.jsonl") << R"({"question": "Q1?", "answer": "It is 2*3=<<2*3=6>>6.\n#### 6"})"
                                   << "\n\n"
                                   << R"({"question": "Q2?", "answer": "no mark"})"
                                   << "\n";
  }
  const auto docs = taskgen::read_text_dir(dir.path());
  REQUIRE(docs.size() == 2);
  CHECK(docs[0].name == "a.txt");
  CHECK(docs[1].text == "B text.");
  try {
    taskgen::read_gsm8k(dir / "g.jsonl");
    FAIL("expected an error");
  } catch (const lexico::Error& e) {
    CHECK(std::string(e.what()).find("g.jsonl:3: the answer has no \"#### <number>\" line") != std::string::npos);
  }
  { std::ofstream(dir / "g.jsonl") << R"({"question": "Q1?", "answer": "It is 2*3=<<2*3=6>>6.\n#### 6"})"; }
  const auto g = taskgen::read_gsm8k(dir / "g.jsonl");
  CHECK(g[0].solution == "It is 2*3=6.\n#### 6");
  CHECK(g[0].answer == "6");
  CHECK_THROWS_AS(taskgen::read_text_dir(dir / "none"), lexico::Error);
}

TEST_CASE("task generator: the real essays and GSM8K") {
  const fs::path essays_dir = shared_dir() / "data/paul-graham-essays";
  const fs::path gsm = shared_dir() / "data/gsm8k/test.jsonl";
  if (!fs::exists(essays_dir) || !fs::exists(gsm)) {
    MESSAGE("skipped: ", shared_dir().string(), "/data is absent (shared data not available)");
    return;
  }
  const auto essays = taskgen::read_text_dir(essays_dir.string());
  CHECK(essays.size() >= 40);
  size_t paragraphs = 0;
  for (const auto& e : essays)
    for (const auto& p : taskgen::essay_paragraphs(e.text)) {
      ++paragraphs;
      CHECK(p.find('\n') == std::string::npos);
    }
  CHECK(paragraphs > 500);
  taskgen::Options opt;
  opt.samples = 3;
  opt.context_length = 2000;
  for (const auto& r : taskgen::passage_retrieval(essays, opt)) {
    CHECK(paragraphs_of(r.context).size() >= 5);
    CHECK(taskgen::approx_tokens(r.context) <= 2000);
    CHECK(taskgen::approx_tokens(r.context) > 1500);
  }
  const auto problems = taskgen::read_gsm8k(gsm.string());
  CHECK(problems.size() == 1319);
  CHECK(problems[0].answer == "18");
  for (const auto& r : taskgen::gsm8k_qa(problems, opt)) CHECK(r.context.find("<<") == std::string::npos);
}
