// Needle in a haystack: cases at depths 0/50/100 land at sentence
// boundaries and fit the length; scoring; the grid as table and JSON.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "lexico/error.h"
#include "lexico/niah.h"

using namespace lexico;
namespace fs = std::filesystem;

namespace {

fs::path shared_dir() {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  return env ? env : LEXICO_SHARED_DIR;
}

// "Sentence 0 is here. Sentence 1 is here. ..." (20 bytes each with the space)
std::string numbered_sentences(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += fmt::format("{}Sentence {:>2} is here.", i ? " " : "", i);
  return s;
}

// What precedes the needle must be a sentence end (or nothing), what follows
// it a sentence start (or nothing).
void check_at_boundary(const niah::Case& c, const niah::Needle& n) {
  REQUIRE(c.context.compare(c.needle_offset, n.text.size(), n.text) == 0);
  if (c.needle_offset > 0) {
    CHECK(c.context[c.needle_offset - 1] == ' ');
    CHECK(c.context[c.needle_offset - 2] == '.');
  }
  const size_t after = c.needle_offset + n.text.size();
  if (after < c.context.size()) {
    CHECK(c.context[after] == ' ');
    CHECK(std::isupper(static_cast<unsigned char>(c.context[after + 1])));
  }
}

}  // namespace

TEST_CASE("niah: needles and scoring") {
  const niah::Needle s = niah::sandwich_needle();
  CHECK(s.text == "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.");
  CHECK(s.question == "What is the best thing to do in San Francisco?");
  CHECK(s.prompt_template.find("{context}") != std::string::npos);
  // 7 keywords: all found -> 1; "dolores", "park" -> 2/7; "eating" is not "eat".
  CHECK(niah::score(s, "Eat a sandwich and sit in Dolores Park on a sunny day.") == 1.0);
  CHECK(niah::score(s, "Go to Dolores Park.") == doctest::Approx(2.0 / 7));
  CHECK(niah::score(s, "eating") == 0.0);
  CHECK(niah::score(s, "") == 0.0);

  const niah::Needle n = niah::number_needle(4817263);
  CHECK(n.text == "The special magic number is 4817263.");
  CHECK(n.is_number);
  CHECK(niah::score(n, "The special magic number is 4817263.") == 1.0);
  CHECK(niah::score(n, "4817263") == 1.0);
  CHECK(niah::score(n, "48172630") == 0.0);  // a whole run of digits must match
  CHECK(niah::score(n, "4817 263") == 0.0);
  CHECK(niah::score(n, "") == 0.0);
  const niah::Needle r = niah::random_number_needle(42);
  CHECK(r.answer.size() == 7);
  CHECK(r.answer == niah::random_number_needle(42).answer);
  CHECK(r.answer != niah::random_number_needle(43).answer);

  CHECK(niah::even_depths(5) == std::vector<double>{0, 25, 50, 75, 100});
  CHECK(niah::even_depths(1) == std::vector<double>{50});
}

TEST_CASE("niah: needle inserted at sentence boundaries at depth 0, 50 and 100") {
  const std::string hay = numbered_sentences(200);  // 3999 bytes
  const niah::Needle n = niah::number_needle(1234567);
  const auto len = taskgen::char_count;
  const size_t overhead = len(niah::number_needle(1234567).prompt_template) - 9;  // less "{context}"

  const niah::Case c0 = niah::make_case(hay, n, 1000, 0, len);
  CHECK(c0.needle_offset == 0);
  CHECK(c0.context.starts_with(n.text + " Sentence  0 is here."));
  check_at_boundary(c0, n);
  CHECK(c0.prompt_length <= 1000);
  CHECK(c0.prompt_length == len(c0.prompt));
  // Within one sentence (20 bytes) of the target: the haystack is cut at a sentence end.
  CHECK(c0.prompt_length > 1000 - 21);
  CHECK(c0.prompt.find(c0.context) != std::string::npos);
  CHECK(c0.prompt_length == overhead + c0.context.size());

  const niah::Case c100 = niah::make_case(hay, n, 1000, 100, len);
  CHECK(c100.context.ends_with("is here. " + n.text));
  check_at_boundary(c100, n);

  const niah::Case c50 = niah::make_case(hay, n, 1000, 50, len);
  check_at_boundary(c50, n);
  // The last sentence start at or before the middle of the haystack part.
  const size_t text_size = c50.context.size() - n.text.size() - 1;
  CHECK(c50.needle_offset <= text_size / 2);
  CHECK(c50.needle_offset + 20 > text_size / 2);
  // The needle comes after the haystack's sentence it follows, nothing lost.
  std::string without = c50.context;
  without.erase(c50.needle_offset, n.text.size() + 1);
  CHECK(hay.starts_with(without));

  // Glued sentences ("end.Next") are boundaries too; a space is added.
  const std::string glued = "Alpha one.Beta two.Gamma three.Delta four.Epsilon five.Zeta six.Eta seven.";
  const niah::Needle s = niah::sandwich_needle();
  const size_t base = len(niah::sandwich_needle().prompt_template) - 9 + s.text.size() + 1;
  const niah::Case g = niah::make_case(glued + glued, s, base + 60, 50, len);
  CHECK(g.context.substr(g.needle_offset - 2, 2) == ". ");
  CHECK(std::isupper(static_cast<unsigned char>(g.context[g.needle_offset + s.text.size() + 1])));

  // Errors: a target that cannot hold the prompt, a haystack too short.
  CHECK_THROWS_AS(niah::make_case(hay, n, 10, 50, len), lexico::Error);
  CHECK_THROWS_AS(niah::make_case(hay, n, 100000, 50, len), lexico::Error);
  CHECK_THROWS_AS(niah::make_case(hay, n, 1000, 101, len), lexico::Error);
}

TEST_CASE("niah: haystack") {
  const std::vector<taskgen::Document> docs = {{"a.txt", "A one.\n"}, {"b.txt", "B two."}, {"c.txt", "  \n"}};
  CHECK(niah::build_haystack(docs) == "A one.\n\nB two.");
  CHECK(niah::build_haystack(docs, 20) == "A one.\n\nB two.\n\nA one.\n\nB two.");
  CHECK(niah::sentence_start_at_or_before("Aa. Bb. Cc.", 6) == 4);
  CHECK(niah::sentence_start_at_or_before("Aa. Bb. Cc.", 3) == 0);
}

TEST_CASE("niah: grid table and JSON") {
  niah::Grid g({1000, 2000}, {0, 50, 100});
  g.score_at(0, 0) = 1;
  g.score_at(0, 1) = 0.5;
  g.score_at(0, 2) = 0;
  g.score_at(1, 0) = 1;
  g.score_at(1, 1) = 1;
  g.prompt_lengths[0] = 998;
  CHECK(g.mean() == doctest::Approx(3.5 / 5));
  CHECK(niah::grid_table(g) ==
        "  depth    1000    2000\n"
        "     0%    1.00    1.00\n"
        "    50%    0.50    1.00\n"
        "   100%    0.00       -\n"
        "   mean    0.50    1.00\n"
        "overall mean 0.70\n");
  const std::string json = niah::grid_json(g, niah::number_needle(7));
  CHECK(json.find("\"lengths\": [1000, 2000]") != std::string::npos);
  CHECK(json.find("\"depths\": [0, 50, 100]") != std::string::npos);
  CHECK(json.find("[1, 0.5, 0]") != std::string::npos);
  CHECK(json.find("[1, 1, null]") != std::string::npos);
  CHECK(json.find("[998, 0, 0]") != std::string::npos);
  CHECK(json.find("\"mean\": 0.7") != std::string::npos);
  CHECK(json.find("\"needle\": \"The special magic number is 7.\"") != std::string::npos);

  const Heatmap h = niah::grid_heatmap(g, "t");
  CHECK(h.x_ticks == std::vector<std::string>{"1k", "2k"});
  CHECK(h.y_ticks == std::vector<std::string>{"0%", "50%", "100%"});
  REQUIRE(h.values.size() == 3);
  CHECK(h.values[1][0] == 0.5);
  CHECK(std::isnan(h.values[2][1]));
}

TEST_CASE("niah: cases over the real essays") {
  const fs::path dir = shared_dir() / "data/paul-graham-essays";
  if (!fs::exists(dir)) {
    MESSAGE("skipped: ", dir.string(), " is absent (shared data not available)");
    return;
  }
  const std::string hay = niah::build_haystack(taskgen::read_text_dir(dir.string()));
  const niah::Needle n = niah::sandwich_needle();
  for (size_t target : {500, 4000, 32000})
    for (double depth : {0.0, 10.0, 50.0, 90.0, 100.0}) {
      CAPTURE(target);
      CAPTURE(depth);
      const niah::Case c = niah::make_case(hay, n, target, depth, taskgen::approx_tokens);
      CHECK(c.prompt_length <= target);
      CHECK(c.prompt_length > target * 9 / 10);
      REQUIRE(c.context.compare(c.needle_offset, n.text.size(), n.text) == 0);
      if (depth > 0 && depth < 100) {
        // Near the requested depth (the essays' sentences are short).
        const double at = 100.0 * c.needle_offset / c.context.size();
        CHECK(at <= depth + 0.5);
        CHECK(at > depth - (target < 1000 ? 25 : 5));
      }
    }
}
