// LongBench tasks: templates, truncation, JSONL reading and the scoring of a
// predictions file as eval.py does it.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "lexico/error.h"
#include "lexico/longbench.h"
#include "temp_dir.h"

using namespace lexico::longbench;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lexico::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("longbench: the English tasks, their generation lengths and metrics") {
  struct Want {
    const char* name;
    int max_new;
    Metric metric;
  };
  // config/dataset2maxlen.json and eval.py's dataset2metric
  const Want want[] = {
      {"narrativeqa", 128, Metric::QaF1},
      {"qasper", 128, Metric::QaF1},
      {"multifieldqa_en", 64, Metric::QaF1},
      {"hotpotqa", 32, Metric::QaF1},
      {"2wikimqa", 32, Metric::QaF1},
      {"musique", 32, Metric::QaF1},
      {"gov_report", 512, Metric::Rouge},
      {"qmsum", 512, Metric::Rouge},
      {"multi_news", 512, Metric::Rouge},
      {"trec", 64, Metric::Classification},
      {"triviaqa", 32, Metric::QaF1},
      {"samsum", 128, Metric::Rouge},
      {"passage_count", 32, Metric::Count},
      {"passage_retrieval_en", 32, Metric::Retrieval},
      {"lcc", 64, Metric::CodeSim},
      {"repobench-p", 64, Metric::CodeSim},
      {"lsht", 64, Metric::Classification},
      {"passage_retrieval_zh", 32, Metric::RetrievalZh},
      {"passage_retrieval_essays", 32, Metric::Retrieval},
      {"passage_count_essays", 32, Metric::Count},
      {"gsm8k_qa", 32, Metric::QaF1},
  };
  for (const Want& w : want) {
    CAPTURE(w.name);
    const Task* t = find_task(w.name);
    REQUIRE(t != nullptr);
    CHECK(t->max_new_tokens == w.max_new);
    CHECK(t->metric == w.metric);
    CHECK(contains(std::string(t->prompt_template), "{context}"));
  }
  CHECK(tasks().size() == std::size(want));
  // Scored on the first line only; no chat template for few-shot and code.
  for (const char* d : {"trec", "triviaqa", "samsum", "lsht"}) CHECK(find_task(d)->first_line_only);
  CHECK_FALSE(find_task("hotpotqa")->first_line_only);
  for (const char* d : {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"})
    CHECK_FALSE(find_task(d)->chat_template);
  CHECK(find_task("qasper")->chat_template);
  CHECK(find_task("samsum")->stop_at_newline);
  // LongBench-E names find their base dataset.
  CHECK(find_task("qasper_e") == find_task("qasper"));
  CHECK(find_task("nosuch") == nullptr);
  CHECK(contains(error_of([] { require_task("vcsum"); }), "jieba"));
  CHECK(contains(error_of([] { require_task("dureader_e"); }), "jieba"));
  CHECK(contains(error_of([] { require_task("nosuch"); }), "unknown LongBench dataset \"nosuch\""));
}

TEST_CASE("longbench: prompts") {
  const Task& hotpot = require_task("hotpotqa");
  Record r;
  r.context = "Passage 1: X.";
  r.input = "Who?";
  CHECK(build_prompt(hotpot, r) ==
        "Answer the question based on the given passages. Only give me the answer and do not output any other words."
        "\n\nThe following are given passages.\nPassage 1: X.\n\nAnswer the question based on the given passages. "
        "Only give me the answer and do not output any other words.\n\nQuestion: Who?\nAnswer:");
  CHECK(build_prompt(require_task("lcc"), r) ==
        "Please complete the code given below. \nPassage 1: X.Next line of code:\n");
  CHECK(build_prompt(require_task("repobench-p"), r) ==
        "Please complete the code given below. \nPassage 1: X.Who?Next line of code:\n");
  // One pass: placeholders inside the substituted text stay as they are.
  CHECK(format_prompt("[{context}|{input}]", "{input}", "{context}") == "[{input}|{context}]");
  CHECK(format_prompt("{context}{context}", "a", "") == "aa");
}

TEST_CASE("longbench: middle truncation") {
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  // half = int(6/2) = 3: tokens[:3] + tokens[-3:]
  CHECK(truncate_middle(ids, 6) == std::vector<int32_t>{1, 2, 3, 8, 9, 10});
  // half = int(7/2) = 3: an odd limit keeps 6 tokens
  CHECK(truncate_middle(ids, 7) == std::vector<int32_t>{1, 2, 3, 8, 9, 10});
  CHECK(truncate_middle(ids, 9) == std::vector<int32_t>{1, 2, 3, 4, 7, 8, 9, 10});
  CHECK(truncate_middle(ids, 10) == ids);
  CHECK(truncate_middle(ids, 11) == ids);
  CHECK(truncate_middle(ids, 2) == std::vector<int32_t>{1, 10});
  CHECK_THROWS_AS(truncate_middle(ids, 1), lexico::Error);

  // Text: one token per byte.
  auto encode = [](const std::string& s) { return std::vector<int32_t>(s.begin(), s.end()); };
  auto decode = [](std::span<const int32_t> t) { return std::string(t.begin(), t.end()); };
  CHECK(truncate_middle(std::string("abcdefghij"), 4, encode, decode) == "abij");
  CHECK(truncate_middle(std::string("abcdefghij"), 5, encode, decode) == "abij");
  CHECK(truncate_middle(std::string("abc"), 4, encode, decode) == "abc");
}

TEST_CASE("longbench: reading records") {
  const std::string text =
      R"({"input": "Q?", "context": "C", "answers": ["a", 3, 2.5], "length": 12, "dataset": "hotpotqa", )"
      R"("language": "en", "all_classes": null, "_id": "x1"})"
      "\n\n"
      R"({"input": "", "context": "C2", "answers": ["Human"], "length": 7, "dataset": "trec", "all_classes": ["Human", "Location"]})"
      "\r\n";
  const auto recs = parse_records(text, "d.jsonl");
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].input == "Q?");
  CHECK(recs[0].answers == std::vector<std::string>{"a", "3", "2.5"});
  CHECK(recs[0].all_classes.empty());
  CHECK(recs[0].length == 12);
  CHECK(recs[0].id == "x1");
  CHECK(recs[1].all_classes == std::vector<std::string>{"Human", "Location"});
  CHECK(recs[1].language.empty());
  // Round trip through the writer.
  const auto again = parse_records(record_json(recs[0]) + "\n" + record_json(recs[1]), "w");
  CHECK(again[0].answers == recs[0].answers);
  CHECK(again[1].all_classes == recs[1].all_classes);
  CHECK(again[0].id == "x1");

  // Errors name the file and the 1-based line.
  const std::string good = R"({"input": "", "context": "", "answers": [], "length": 0, "dataset": "x"})";
  CHECK(contains(error_of([&] { parse_records(good + "\n\n{\"input\": ", "f.jsonl"); }), "f.jsonl:3: JSON"));
  CHECK(contains(error_of([&] { parse_records(good + "\n[1]", "f.jsonl"); }),
                 "f.jsonl:2: expected a JSON object, found an array"));
  CHECK(contains(error_of([] { parse_records(R"({"input": "", "context": "", "length": 0, "dataset": "x"})", "f"); }),
                 "f:1: the field \"answers\" is missing"));
  CHECK(contains(error_of([] {
                   parse_records(R"({"input": "", "context": "", "answers": "a", "length": 0, "dataset": "x"})", "f");
                 }),
                 "\"answers\" must be an array of strings, found a string"));
  CHECK(contains(error_of([] {
                   parse_records(R"({"input": "", "context": "", "answers": [null], "length": 0, "dataset": "x"})",
                                 "f");
                 }),
                 "\"answers\"[0] must be a string, found null"));
  CHECK(contains(error_of([] {
                   parse_records(R"({"input": 1, "context": "", "answers": [], "length": 0, "dataset": "x"})", "f");
                 }),
                 "\"input\" must be a string, found a number"));
  CHECK(contains(error_of([] {
                   parse_records(R"({"input": "", "context": "", "answers": [], "length": 1.5, "dataset": "x"})", "f");
                 }),
                 "\"length\" must be an integer, found 1.5"));
  CHECK(contains(error_of([] { read_records("/nonexistent/x.jsonl"); }), "/nonexistent/x.jsonl: cannot open"));
}

TEST_CASE("longbench: predictions file") {
  lexico::test::TempDir dir;
  {
    std::ofstream f(dir / "p.jsonl");
    f << R"({"pred": "Paragraph 2", "answers": ["Paragraph 2"], "all_classes": null, "length": 100})"
      << "\n"
      << R"({"pred": "Paragraph 1 or 2", "answers": ["Paragraph 2"], "all_classes": null, "length": 5000})"
      << "\n";
  }
  const auto preds = read_predictions(dir / "p.jsonl", "passage_retrieval_en");
  REQUIRE(preds.size() == 2);
  CHECK(preds[0].dataset == "passage_retrieval_en");
  CHECK(*preds[1].length == 5000);
  CHECK(contains(error_of([&] { read_predictions(dir / "p.jsonl"); }), "p.jsonl:1: the field \"dataset\" is missing"));
  CHECK(contains(error_of([] { parse_predictions(R"({"pred": "", "answers": [], "dataset": "nosuch"})", "q"); }),
                 "q:1: unknown LongBench dataset"));
  CHECK(contains(error_of([] { parse_predictions(R"({"pred": "", "answers": ["x"], "dataset": "trec"})", "q"); }),
                 "q:1: \"all_classes\" must list the classes"));
  CHECK(contains(
      error_of([] { parse_predictions(R"({"pred": "", "answers": ["3"], "dataset": "passage_retrieval_en"})", "q"); }),
      "q:1: LongBench retrieval"));
  Record r;
  r.answers = {"a"};
  r.length = 9;
  r.dataset = "hotpotqa";
  const auto back = parse_predictions(prediction_json(r, "pred \"x\"\n"), "w");
  CHECK(back[0].pred == "pred \"x\"\n");
  CHECK(back[0].answers == r.answers);
  CHECK(*back[0].length == 9);
}

TEST_CASE("longbench: scoring as eval.py") {
  // trec: the first line after leading newlines only.
  const Task& trec = require_task("trec");
  CHECK(score_sample(trec, "\nLocation\nHuman", {"Location"}, {"Location", "Human"}) == 1.0);
  // hotpotqa scores the whole prediction: [location, human] vs [human]:
  // P = 1/2, R = 1, F1 = 2·(1/2)/(3/2) = 2/3
  CHECK(score_sample(require_task("hotpotqa"), "\nLocation\nHuman", {"human"}, {}) == doctest::Approx(2.0 / 3));
  // max over the answers
  CHECK(score_sample(require_task("hotpotqa"), "cat", {"dog", "cat", "cat sat"}, {}) == 1.0);
  CHECK(score_sample(require_task("hotpotqa"), "cat", {}, {}) == 0.0);

  // round(x, 2) as Python: correctly rounded, exact ties to even.
  CHECK(round2(2.675) == 2.67);  // 2.67499999... in binary
  CHECK(round2(0.125) == 0.12);
  CHECK(round2(0.375) == 0.38);
  CHECK(round2(1.005) == 1.0);
  CHECK(round2(100 * 2.0 / 3) == 66.67);
  CHECK(std::isnan(round2(std::nan(""))));

  std::vector<Prediction> p = {
      {"cat", {"cat"}, {}, 1000, "hotpotqa"},                     // 1
      {"the cat sat", {"a cat sat down"}, {}, 5000, "hotpotqa"},  // 0.8
      {"dog", {"cat"}, {}, 9000, "hotpotqa"},                     // 0
      {"7", {"7"}, {}, std::nullopt, "passage_count"},            // 1, no length
  };
  const auto scores = score_predictions(p);
  REQUIRE(scores.size() == 2);
  CHECK(scores[0].dataset == "hotpotqa");
  CHECK(scores[0].samples == 3);
  CHECK(scores[0].score == 60.0);  // round(100·1.8/3, 2)
  REQUIRE(scores[0].e_0_4k.has_value());
  CHECK(*scores[0].e_0_4k == 100.0);
  CHECK(*scores[0].e_4_8k == 80.0);
  CHECK(*scores[0].e_8k_plus == 0.0);
  CHECK(scores[1].score == 100.0);
  CHECK_FALSE(scores[1].e_0_4k.has_value());

  const std::string table = scores_table(scores);
  CHECK(contains(table, "hotpotqa"));
  CHECK(contains(table, "60.00"));
  CHECK(contains(table, "average"));
  CHECK(contains(table, "80.00"));
  const std::string json = scores_json(scores);
  CHECK(contains(json,
                 R"("hotpotqa": {"metric": "qa_f1", "samples": 3, "score": 60, "0-4k": 100, "4-8k": 80, "8k+": 0})"));
  CHECK(contains(json, R"("passage_count": {"metric": "count", "samples": 1, "score": 100})"));
  CHECK(contains(json, "\"average\": 80"));

  // An empty LongBench-E bucket is NaN (numpy's mean of nothing): null in JSON.
  const auto one = score_predictions({{"cat", {"cat"}, {}, 100, "qasper"}});
  CHECK(std::isnan(*one[0].e_8k_plus));
  CHECK(contains(scores_json(one), "\"8k+\": null"));
  CHECK_THROWS_AS(score_predictions({{"x", {"x"}, {}, 1, "nosuch"}}), lexico::Error);
}
