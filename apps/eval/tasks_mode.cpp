// lexico-eval longbench-tasks: LongBench-format tasks made from local texts
// (the essays, GSM8K), for when no LongBench data is at hand.
#include <fmt/format.h>

#include <memory>

#include "eval_modes.h"
#include "lexico/atomic_file.h"
#include "lexico/error.h"
#include "lexico/model_tokenizer.h"
#include "lexico/task_generator.h"

namespace lexico::eval_app {

namespace {
struct TasksArgs {
  std::string essays_dir, gsm8k_path, model_path, tokenizer_path, output = "-";
  std::vector<std::string> tasks;
  taskgen::Options opt;
};

int run_tasks(TasksArgs& a) {
  if (a.opt.samples < 1) usage_error("--samples", "must be at least 1");
  if (a.opt.context_length < 64) usage_error("--context-length", "must be at least 64, not {}", a.opt.context_length);
  if (a.tasks.empty()) {
    if (!a.essays_dir.empty()) a.tasks = {"passage_retrieval_essays", "passage_count_essays"};
    if (!a.gsm8k_path.empty()) a.tasks.push_back("gsm8k_qa");
    if (a.tasks.empty()) usage_error("--essays", "give --essays DIR, --gsm8k FILE or both");
  }
  std::unique_ptr<Tokenizer> tok;
  if (!a.model_path.empty() || !a.tokenizer_path.empty()) {
    tok = load_model_tokenizer(a.model_path, a.tokenizer_path, 0);
    a.opt.length = [&tok](std::string_view text) { return tok->encode(std::string(text), false).size(); };
  }
  std::vector<taskgen::Document> essays;
  std::vector<taskgen::GsmProblem> problems;
  std::vector<longbench::Record> records;
  for (const std::string& task : a.tasks) {
    std::vector<longbench::Record> made;
    if (task == "passage_retrieval_essays" || task == "passage_count_essays") {
      if (a.essays_dir.empty()) usage_error("--essays", "task {} needs the essays folder", task);
      if (essays.empty()) essays = taskgen::read_text_dir(a.essays_dir);
      made = task == "passage_retrieval_essays" ? taskgen::passage_retrieval(essays, a.opt)
                                                : taskgen::passage_count(essays, a.opt);
    } else if (task == "gsm8k_qa") {
      if (a.gsm8k_path.empty()) usage_error("--gsm8k", "task gsm8k_qa needs the GSM8K JSONL file");
      if (problems.empty()) problems = taskgen::read_gsm8k(a.gsm8k_path);
      made = taskgen::gsm8k_qa(problems, a.opt);
    } else {
      usage_error("--tasks", "unknown task '{}' (passage_retrieval_essays, passage_count_essays, gsm8k_qa)", task);
    }
    records.insert(records.end(), made.begin(), made.end());
  }
  write_text_file(a.output, taskgen::to_jsonl(records));
  return 0;
}
}  // namespace

Mode add_longbench_tasks(CLI::App& app) {
  auto a = std::make_shared<TasksArgs>();
  CLI::App* cmd = app.add_subcommand("longbench-tasks", "make LongBench-format tasks from local texts: passage "
                                                        "retrieval and counting over essays, QA over GSM8K");
  cmd->add_option("--essays", a->essays_dir, "folder of essays (*.txt)");
  cmd->add_option("--gsm8k", a->gsm8k_path, "GSM8K JSONL (question, answer)");
  cmd->add_option("--tasks", a->tasks, "tasks to make (default: all that the given texts allow)")->delimiter(',');
  cmd->add_option("-n,--samples", a->opt.samples, "samples per task")->capture_default_str();
  cmd->add_option("--context-length", a->opt.context_length, "target context length, in tokens")
      ->capture_default_str();
  cmd->add_option("-m,--model", a->model_path, "count tokens with this model's tokenizer (default: bytes / 4)");
  cmd->add_option("--tokenizer", a->tokenizer_path, "count tokens with this tokenizer file");
  cmd->add_option("--seed", a->opt.seed, "random seed")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "JSONL output (- for stdout)")->capture_default_str();
  return {cmd, [a] { return run_tasks(*a); }};
}

}  // namespace lexico::eval_app
