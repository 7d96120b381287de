// Heat maps through gnuplot (heatmap.h).
#include "lexico/heatmap.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lexico/error.h"

extern char** environ;

namespace lexico {

namespace {

// A string as a gnuplot single-quoted literal ('' stands for ').
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) io_error(path, "cannot create the file");
  out << text;
  out.close();
  if (!out) io_error(path, "cannot write the file");
}

std::string with_extension(const std::string& png, const std::string& ext) {
  std::filesystem::path p(png);
  if (p.extension() == ".png")
    p.replace_extension(ext);
  else
    p += ext;
  return p.string();
}

// Runs argv, returns its exit status (-1 when it did not start) and its output.
int run_program(const std::vector<std::string>& argv, std::string& output) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    output = std::strerror(rc);
    return -1;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) output.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

std::string heatmap_data(const Heatmap& h) {
  std::string out = "# column row value label\n";
  for (size_t r = 0; r < h.values.size(); ++r) {
    for (size_t c = 0; c < h.values[r].size(); ++c) {
      const double v = h.values[r][c];
      if (std::isnan(v)) {
        out += fmt::format("{} {} NaN -\n", c, r);
      } else {
        std::string label = h.value_format.empty() ? "-" : fmt::format(fmt::runtime(h.value_format), v);
        for (char& ch : label)
          if (ch == ' ' || ch == '"') ch = '_';
        out += fmt::format("{} {} {:.6g} {}\n", c, r, v, label);
      }
    }
    out += '\n';
  }
  return out;
}

std::string heatmap_gnuplot_script(const Heatmap& h, const std::string& data_path, const std::string& png_path) {
  const size_t cols = h.x_ticks.size(), rows = h.y_ticks.size();
  // Tic labels are gnuplot format strings: a literal % is written %%.
  auto tics = [](const std::vector<std::string>& labels) {
    std::string t;
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string label;
      for (char c : labels[i]) label += c == '%' ? std::string("%%") : std::string(1, c);
      t += fmt::format("{}{} {}", i ? ", " : "", gp_quote(label), i);
    }
    return t;
  };
  const int width = static_cast<int>(std::clamp<size_t>(160 + 70 * cols, 640, 1600));
  const int height = static_cast<int>(std::clamp<size_t>(140 + 40 * rows, 420, 1200));
  // One filled box per cell (`with image` fails on a single row or column);
  // a NaN cell is an undefined point, so it stays blank.
  std::string s;
  s += "# lexico heat map: gnuplot " + gp_quote(std::filesystem::path(data_path).filename().string()) + "\n";
  s += fmt::format("set terminal pngcairo size {},{} font 'Sans,11'\n", width, height);
  s += fmt::format("set output {}\n", gp_quote(png_path));
  s += fmt::format("set title {}\n", gp_quote(h.title));
  s += fmt::format("set xlabel {}\nset ylabel {}\n", gp_quote(h.x_label), gp_quote(h.y_label));
  s += fmt::format("set cblabel {}\n", gp_quote(h.value_label));
  s += fmt::format("set xrange [-0.5:{}.5]\n", cols ? cols - 1 : 0);
  s += h.first_row_on_top ? fmt::format("set yrange [{}.5:-0.5]\n", rows ? rows - 1 : 0)
                          : fmt::format("set yrange [-0.5:{}.5]\n", rows ? rows - 1 : 0);
  s += fmt::format("set xtics ({}) scale 0\n", tics(h.x_ticks));
  s += fmt::format("set ytics ({}) scale 0\n", tics(h.y_ticks));
  s += fmt::format("set cbrange [{}:{}]\n", h.min, h.max);
  s += "set palette defined (0 '#d7191c', 0.5 '#fdd835', 1 '#1a9641')\n";
  s += "set palette maxcolors 0\nset grid front noxtics noytics\nset border lw 1\nunset key\n";
  s += "set style fill solid 1.0 noborder\n";
  s += fmt::format("plot {} using 1:2:(0.5):(0.5):3 with boxxyerror fillcolor palette", gp_quote(data_path));
  if (!h.value_format.empty()) s += ", '' using 1:2:4 with labels font 'Sans,9' tc rgb '#202020'";
  s += "\n";
  return s;
}

std::optional<std::string> find_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return access(program.c_str(), X_OK) == 0 ? std::optional<std::string>(program) : std::nullopt;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? std::string_view(".") : dir, program);
    if (access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

HeatmapFiles write_heatmap(const Heatmap& h, const std::string& png_path, const std::string& gnuplot) {
  if (h.values.size() != h.y_ticks.size())
    internal_error("heat map", "{} rows of values for {} row labels", h.values.size(), h.y_ticks.size());
  for (const auto& row : h.values)
    if (row.size() != h.x_ticks.size())
      internal_error("heat map", "a row of {} values for {} column labels", row.size(), h.x_ticks.size());
  HeatmapFiles f;
  f.png = png_path;
  f.data = with_extension(png_path, ".dat");
  f.script = with_extension(png_path, ".gp");
  write_file(f.data, heatmap_data(h));
  write_file(f.script, heatmap_gnuplot_script(h, f.data, f.png));
  const auto program = find_on_path(gnuplot);
  if (!program) {
    f.message = fmt::format(
        "{} is not on PATH (Debian: apt-get install gnuplot-nox); the data ({}) and the script "
        "({}) are written: run `gnuplot {}` to draw {}",
        gnuplot, f.data, f.script, f.script, f.png);
    return f;
  }
  std::error_code ec;
  std::filesystem::remove(f.png, ec);
  std::string output;
  const int rc = run_program({*program, f.script}, output);
  f.rendered = rc == 0 && std::filesystem::exists(f.png, ec);
  if (!f.rendered)
    f.message =
        fmt::format("{} {} failed (exit {}): {}", *program, f.script, rc, output.empty() ? "no output" : output);
  return f;
}

}  // namespace lexico
