// lexico-eval: scores compression. One subcommand per mode, each in
// apps/eval/: recon and baselines (reconstruction error of sparse codes and
// of the alternatives), perplexity and kl (a model reading a text through a
// compressed cache), longbench, longbench-score and longbench-tasks, niah.
#include <CLI/CLI.hpp>

#include "eval/eval_modes.h"
#include "lexico/cli.h"
#include "lexico/cli_parse.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Score KV-cache compression.", "lexico-eval"};
  app.set_version_flag("--version", "lexico-eval " LEXICO_VERSION);
  app.require_subcommand(1);
  std::vector<eval_app::Mode> modes{eval_app::add_recon(app)};
  for (auto& m : eval_app::add_perplexity_and_kl(app)) modes.push_back(std::move(m));
  for (auto& m : eval_app::add_longbench(app)) modes.push_back(std::move(m));
  modes.push_back(eval_app::add_longbench_tasks(app));
  modes.push_back(eval_app::add_niah(app));
  modes.push_back(eval_app::add_baselines(app));
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;
  for (const auto& mode : modes)
    if (*mode.command) return run_app("lexico-eval", mode.run);
  return 2;  // unreachable: require_subcommand(1)
}
