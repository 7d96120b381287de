// What every executable shares: the error-to-exit-code policy, a progress
// line that appears only on a terminal, and parsing of layer lists.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lexico {

// Runs an app's body: a lexico::Error prints "<app>: <message>" on stderr and
// returns its kind's exit code (usage 2, bad input 3, output 4, internal 1).
int run_app(const char* app, const std::function<int()>& body);

// "0-3,7,9" → {0,1,2,3,7,9}; "all" or "" → 0..n_layers-1. Values must lie in
// [0, n_layers). `where` names the option in messages.
std::vector<int> parse_layer_list(const std::string& spec, int n_layers, const std::string& where);

// A one-line progress display on stderr, redrawn at most 10 times a second,
// and only when stderr is a terminal: pipes and logs stay clean.
class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit);
  ~Progress();
  void add(int64_t n);
  void finish();

 private:
  void draw(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

// Sets the OpenMP thread count; 0 keeps the default (all cores).
void set_threads(int threads);

}  // namespace lexico
