#include "lexico/cli.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <sstream>

#include "lexico/error.h"

namespace lexico {

int run_app(const char* app, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    fmt::print(stderr, "{}: {}\n", app, e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}: out of memory\n", app);
    return static_cast<int>(ErrorKind::Internal);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: internal error: {}\n", app, e.what());
    return static_cast<int>(ErrorKind::Internal);
  }
}

std::vector<int> parse_layer_list(const std::string& spec, int n_layers, const std::string& where) {
  std::vector<int> out;
  if (spec.empty() || spec == "all") {
    for (int l = 0; l < n_layers; ++l) out.push_back(l);
    return out;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int a = 0, b = 0;
    char dash = 0;
    std::stringstream is(item);
    if (!(is >> a)) usage_error(where, "'{}' is not a layer list like 0-3,7", spec);
    b = a;
    if (is >> dash) {
      if (dash != '-' || !(is >> b)) usage_error(where, "'{}' is not a layer list like 0-3,7", spec);
    }
    std::string rest;
    if (is >> rest) usage_error(where, "'{}' is not a layer list like 0-3,7", spec);
    if (a < 0 || b >= n_layers || a > b)
      usage_error(where, "layer range '{}' is outside 0..{}", item, n_layers - 1);
    for (int l = a; l <= b; ++l) out.push_back(l);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() { finish(); }

void Progress::add(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? done_ / secs : 0;
  const int width = 30;
  const int filled = total_ > 0 ? static_cast<int>(width * std::min<double>(1.0, double(done_) / total_)) : 0;
  fmt::print(stderr, "\r{} [{:<{}}] {}/{} {} ({:.0f} {}/s){}", label_, std::string(filled, '#'), width, done_,
             total_, unit_, rate, unit_, final ? "\n" : "");
  std::fflush(stderr);
}

void set_threads(int threads) {
  if (threads < 0) usage_error("--threads", "must be 0 (all cores) or positive, not {}", threads);
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace lexico
