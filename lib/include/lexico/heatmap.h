// Heat maps as PNG through gnuplot (Debian: gnuplot-nox): a data file and a
// gnuplot script are always written beside the PNG, so a plot can be redrawn
// or restyled by hand, and when gnuplot is not on PATH nothing else is lost.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace lexico {

struct Heatmap {
  std::string title;
  std::string x_label, y_label, value_label;
  std::vector<std::string> x_ticks;         // one per column
  std::vector<std::string> y_ticks;         // one per row
  std::vector<std::vector<double>> values;  // values[row][column]; NaN = no data (drawn blank)
  double min = 0, max = 1;                  // colour range: red at min, yellow midway, green at max
  bool first_row_on_top = true;             // depth 0% at the top, as NIAH plots are drawn
  std::string value_format = "{:.2f}";      // fmt format of the cell labels; "" = no labels
};

// "column row value label" lines, one per cell (an empty cell: "NaN -"),
// blank-line separated rows: what the script plots.
std::string heatmap_data(const Heatmap& h);
// A gnuplot script that reads data_path and writes png_path (pngcairo).
std::string heatmap_gnuplot_script(const Heatmap& h, const std::string& data_path, const std::string& png_path);

// The full path of an executable found on PATH.
std::optional<std::string> find_on_path(const std::string& program);

struct HeatmapFiles {
  std::string png, data, script;  // data and script: the PNG path with .dat / .gp for .png
  bool rendered = false;          // gnuplot ran and the PNG exists
  std::string message;            // why not rendered (gnuplot missing, its error output)
};
// Writes the data and the script, then runs `gnuplot script` when gnuplot is
// on PATH. Throws lexico::Error (Io) when a file cannot be written; a missing
// or failing gnuplot is reported in the result instead.
HeatmapFiles write_heatmap(const Heatmap& h, const std::string& png_path, const std::string& gnuplot = "gnuplot");

}  // namespace lexico
