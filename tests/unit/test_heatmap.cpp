// Heat maps: the data and gnuplot script, and a real PNG when gnuplot is on
// PATH (Debian: gnuplot-nox).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lexico/heatmap.h"
#include "temp_dir.h"

using namespace lexico;
namespace fs = std::filesystem;

namespace {

Heatmap small_map() {
  Heatmap h;
  h.title = "NIAH: it's a test";
  h.x_label = "prompt length";
  h.y_label = "depth";
  h.value_label = "score";
  h.x_ticks = {"1k", "2k", "4k"};
  h.y_ticks = {"0%", "50%"};
  h.values = {{1.0, 0.5, 0.0}, {0.25, std::nan(""), 1.0}};
  return h;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("heatmap: data and script") {
  const Heatmap h = small_map();
  CHECK(heatmap_data(h) ==
        "# column row value label\n"
        "0 0 1 1.00\n1 0 0.5 0.50\n2 0 0 0.00\n\n"
        "0 1 0.25 0.25\n1 1 NaN -\n2 1 1 1.00\n\n");
  const std::string s = heatmap_gnuplot_script(h, "/t/m.dat", "/t/m.png");
  CHECK(s.find("set output '/t/m.png'") != std::string::npos);
  CHECK(s.find("set title 'NIAH: it''s a test'") != std::string::npos);  // gnuplot quoting
  CHECK(s.find("set xtics ('1k' 0, '2k' 1, '4k' 2)") != std::string::npos);
  CHECK(s.find("set ytics ('0%%' 0, '50%%' 1)") != std::string::npos);  // % is a format character
  CHECK(s.find("set yrange [1.5:-0.5]") != std::string::npos);          // first row on top
  CHECK(s.find("plot '/t/m.dat'") != std::string::npos);
}

TEST_CASE("heatmap: without gnuplot the data and script are still written") {
  lexico::test::TempDir dir;
  const HeatmapFiles f = write_heatmap(small_map(), dir / "map.png", "no-such-gnuplot-lexico");
  CHECK_FALSE(f.rendered);
  CHECK(f.message.find("no-such-gnuplot-lexico is not on PATH") != std::string::npos);
  CHECK(f.data == dir / "map.dat");
  CHECK(f.script == dir / "map.gp");
  CHECK(fs::exists(f.data));
  CHECK(fs::exists(f.script));
  CHECK_FALSE(fs::exists(f.png));
  CHECK_FALSE(find_on_path("no-such-gnuplot-lexico").has_value());
}

TEST_CASE("heatmap: gnuplot draws a PNG") {
  if (!find_on_path("gnuplot")) {
    MESSAGE("skipped: gnuplot is not on PATH (Debian: gnuplot-nox)");
    return;
  }
  lexico::test::TempDir dir;
  const HeatmapFiles f = write_heatmap(small_map(), dir / "map.png");
  INFO(f.message);
  REQUIRE(f.rendered);
  const std::string png = slurp(f.png);
  REQUIRE(png.size() > 1000);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  // One row and one column work too (one box per cell, no image grid).
  Heatmap one = small_map();
  one.x_ticks = {"8k"};
  one.y_ticks = {"100%"};
  one.values = {{0.75}};
  const HeatmapFiles g = write_heatmap(one, dir / "one");
  INFO(g.message);
  CHECK(g.rendered);
  CHECK(g.png == dir / "one");
  CHECK(g.data == dir / "one.dat");
}
