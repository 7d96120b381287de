// lexico-generate: text generation with the KV cache of your choice, tokens
// streamed to stdout as they are produced, a speed and memory summary on stderr.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "lexico/cache_factory.h"
#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/corpus.h"
#include "lexico/error.h"
#include "lexico/runtime.h"
#include "lexico/sampler.h"
#include "lexico/text_generation.h"
#include "gpu_sequence.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Generate text with a compressed (or full) KV cache.", "lexico-generate"};
  RuntimeOptions rt;
  SamplerOptions sampling;
  std::vector<std::string> prompts, stops;
  std::string prompt_file, jsonl, jsonl_field = "prompt", template_name = "auto", system, device = "auto";
  int max_new = 128, threads = 0;
  bool raw = false, quiet = false;
  app.add_option("prompt", prompts, "prompts (default: read one prompt from stdin)");
  app.add_option("-m,--model", rt.model_path, "model: .gguf file, Hugging Face folder, or llama2.c .bin")->required();
  app.add_option("--tokenizer", rt.tokenizer_path, "tokenizer file (default: the model's own)");
  app.add_option("-f,--file", prompt_file, "read one prompt from this file (- for stdin)");
  app.add_option("--jsonl", jsonl, "read prompts from a JSONL file, one per line");
  app.add_option("--jsonl-field", jsonl_field, "field holding the prompt in --jsonl lines")->capture_default_str();
  app.add_option("-c,--cache", rt.cache_spec, cache_spec_usage())->capture_default_str();
  app.add_option("-d,--dictionary", rt.dictionary_path, "dictionary file for lexico caches");
  app.add_option("--kv-budget", rt.kv_budget, "pick the sparsity (or window) that holds the cache at this % of FP16");
  app.add_option("-n,--max-new-tokens", max_new, "tokens to generate at most")->capture_default_str();
  app.add_option("--temperature", sampling.temperature, "0 = greedy")->capture_default_str();
  app.add_option("--top-k", sampling.top_k, "sample among the k most likely tokens (0 = all)")->capture_default_str();
  app.add_option("--top-p", sampling.top_p, "sample within this probability mass")->capture_default_str();
  app.add_option("--seed", sampling.seed, "random seed for sampling")->capture_default_str();
  app.add_option("--stop", stops, "stop when this text is generated (repeatable)");
  app.add_flag("--raw", raw, "feed the prompt as is, without the chat template");
  app.add_option("--template", template_name, "chat template: auto, chatml, smollm2 or llama3")->capture_default_str();
  app.add_option("--system", system, "system message for the chat template");
  app.add_option("-t,--threads", threads, "threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", device, kModelDeviceHelp)->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no summary on stderr");
  app.set_version_flag("--version", "lexico-generate " LEXICO_VERSION);
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;

  return run_app("lexico-generate", [&] {
    set_threads(threads);
    parse_device(device);  // a bad --device fails before the model loads
    if (max_new < 0) usage_error("--max-new-tokens", "must be 0 or positive, not {}", max_new);
    Sampler sampler(sampling);
    if (!prompt_file.empty()) prompts.push_back(read_corpus({prompt_file}, {}).front().text);
    if (!jsonl.empty()) {
      CorpusOptions o;
      o.jsonl_field = jsonl_field;
      for (const Document& d : read_corpus({jsonl}, o)) prompts.push_back(d.text);
    }
    if (prompts.empty()) prompts.push_back(std::string(std::istreambuf_iterator<char>(std::cin), {}));

    const Runtime runtime(rt);
    const Model& model = runtime.model();
    const Tokenizer& tok = runtime.tokenizer();
    const PromptFormat format = PromptFormat::make(tok, raw, template_name, system);
    GenerationOptions gen;
    gen.max_new_tokens = max_new;
    gen.stop_tokens = format.stop_tokens(tok);
    gen.stop_strings = stops;

    SequenceSource sequences(runtime, device, "lexico-generate", /*overlap=*/true);
    for (size_t p = 0; p < prompts.size(); ++p) {
      const std::vector<int32_t> ids = format.encode(tok, prompts[p]);
      if (ids.empty()) bad_input(fmt::format("prompt {}", p + 1), "the prompt is empty");
      const int64_t length = static_cast<int64_t>(ids.size()) + max_new;
      if (model.config().max_context > 0 && length > model.config().max_context)
        bad_input(fmt::format("prompt {}", p + 1), "{} prompt tokens + {} new exceed the model's context of {}",
                  ids.size(), max_new, model.config().max_context);
      const auto print_piece = [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      };
      const std::unique_ptr<Sequence> sequence = sequences.make(length);
      const Generation g = generate_text(*sequence, tok, ids, gen, sampler, print_piece);
      std::fputc('\n', stdout);
      std::fflush(stdout);
      if (!quiet)
        fmt::print(stderr,
                   "lexico-generate: cache {}: prefill {} tokens {:.1f} tok/s, decode {} tokens {:.1f} tok/s, "
                   "KV {} bytes = {:.2f}% of FP16 ({:.2f}% with shared tables)\n",
                   sequences.on_gpu() ? sequence->cache_name() : runtime.resolved_spec(length), g.prompt_tokens,
                   g.prompt_tokens / std::max(g.prefill_seconds, 1e-9), g.new_tokens,
                   g.new_tokens / std::max(g.decode_seconds, 1e-9), sequence->payload_bytes(),
                   100.0 * sequence->payload_bytes() / std::max<size_t>(sequence->fp16_bytes(), 1),
                   100.0 * sequence->bytes() / std::max<size_t>(sequence->fp16_bytes(), 1));
    }
    return 0;
  });
}
