// The modes of lexico-eval, one file each. A mode adds its subcommand (with
// its options bound to state it owns) and returns the body to run when that
// subcommand was given.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace lexico::eval_app {

struct Mode {
  CLI::App* command;
  std::function<int()> run;
};

Mode add_recon(CLI::App& app);
Mode add_baselines(CLI::App& app);
std::vector<Mode> add_perplexity_and_kl(CLI::App& app);
std::vector<Mode> add_longbench(CLI::App& app);  // longbench, longbench-score
Mode add_longbench_tasks(CLI::App& app);
Mode add_niah(CLI::App& app);

}  // namespace lexico::eval_app
