// Decode latency (reproduction table 3, the paper's latency table): the time
// of one forward pass for one new token with a full KV cache against lexico
// caches at several contexts L, sparsities s and dictionary sizes N, and the
// OMP time per token.
//
// Method. One prefill of max(L) tokens (a text, or seeded random tokens)
// through a full cache records every layer's keys (after RoPE) and values;
// a context of L tokens is the first L of them (attention is causal, so a
// prefix's keys and values are those a prefill of L tokens would give). Every
// cache of a group (the reference and lexico at each s, one N) gets the same
// L tokens appended, then runs --warmup untimed decode steps (for lexico the
// first one encodes the L − buffer tokens that leave the buffer) and --steps
// timed ones. The steps are interleaved: step k of every cache, in an order
// rotated each step, before step k + 1 of any, so load from other processes
// falls on all caches alike; ratios compare means of the same group.
//
// A lexico decode step includes the OMP encoding of the one token that leaves
// the buffer (LexicoCache compresses at the end of attend), so "forward − OMP"
// is the step without it: the paper's "forward pass" row, whose OMP is a row
// of its own. The OMP time per token is timed in the same rounds, on the
// recorded keys and values: the encode calls the cache makes for one token,
// i.e. per layer and kind, one call on the n_kv_heads vectors.
//
// Without --dictionary the dictionaries are random (uniform entries, unit-norm
// atoms, seeded): latency does not depend on what the atoms are, only on N,
// s and the shapes (fixed s: every code has s atoms either way).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lexico/atomic_file.h"
#include "lexico/cache_factory.h"
#include "lexico/cli.h"
#include "lexico/corpus.h"
#include "lexico/dictionary.h"
#include "lexico/dictionary_training_step.h"
#include "lexico/error.h"
#include "lexico/lexico_cache.h"
#include "lexico/model.h"
#include "lexico/synthetic_model.h"
#include "lexico/model_tokenizer.h"
#include "lexico/omp.h"

namespace fs = std::filesystem;
using namespace lexico;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::vector<int> parse_positive_list(const std::string& text, const std::string& option) {
  std::vector<int> values;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 1) usage_error(option, "'{}' is not a positive integer", item);
    values.push_back(value);
  }
  if (values.empty()) usage_error(option, "is empty");
  return values;
}

struct Stats {
  double mean = 0, median = 0;
};

Stats stats_of(std::vector<double> samples) {
  Stats s;
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / double(samples.size());
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return s;
}

// The prompt's token ids: the text's, or uniform random ones.
std::vector<int> prompt_tokens(const std::string& text_path, const std::string& model_path, int vocab, size_t needed,
                               uint32_t seed) {
  std::vector<int> tokens;
  if (text_path.empty()) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> token(0, vocab - 1);
    tokens.resize(needed);
    for (int& t : tokens) t = token(rng);
    return tokens;
  }
  const auto tokenizer = load_model_tokenizer(model_path, "", vocab);
  for (const Document& doc : read_corpus({text_path}, {})) {
    const std::vector<int32_t> ids = tokenizer->encode(doc.text, tokens.empty() && tokenizer->adds_bos());
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    if (tokens.size() >= needed) break;
  }
  if (tokens.size() < needed)
    bad_input(text_path, "has {} tokens; the largest context plus the decode steps needs {}", tokens.size(), needed);
  tokens.resize(needed);
  return tokens;
}

// Every layer's keys (after RoPE) and values of the prompt: [tokens, n_kv_heads, head_dim].
struct RecordedKv {
  std::vector<std::vector<float>> keys, values;
};

RecordedKv record_prefill(const Model& model, const std::vector<int>& tokens, int n_tokens) {
  const CacheShape shape = model.config().cache_shape();
  const size_t width = size_t(shape.n_kv_heads) * shape.head_dim;
  RecordedKv kv;
  kv.keys.assign(shape.n_layers, std::vector<float>(size_t(n_tokens) * width));
  kv.values = kv.keys;
  const auto observer = [&](int layer, int64_t pos0, int n, const float*, const float* keys, const float* values) {
    std::copy_n(keys, size_t(n) * width, kv.keys[layer].begin() + pos0 * int64_t(width));
    std::copy_n(values, size_t(n) * width, kv.values[layer].begin() + pos0 * int64_t(width));
  };
  constexpr int kChunk = 512;  // bounds the prefill's score matrices
  auto cache = make_cache("full", shape);
  for (int first = 0; first < n_tokens; first += kChunk) {
    const int n = std::min(kChunk, n_tokens - first);
    model.forward(std::span<const int>(tokens.data() + first, size_t(n)), first, *cache, Logits::Last, observer);
  }
  return kv;
}


struct Row {
  std::string measure;  // "forward" or "omp"
  int context = 0;      // the group's (OMP does not depend on it, but shares its noise)
  int atoms = 0;        // N of the group (the reference is timed in each)
  int sparsity = 0;     // 0 for the reference
  std::string cache;
  Stats ms;
  double ratio = 0;       // mean ÷ the reference's forward mean in the same group
  double kv_percent = 0;  // payload ÷ FP16 keys and values, at the end
  size_t samples = 0;
};

struct Settings {
  std::vector<int> contexts, sparsities;
  int steps = 32, warmup = 2, buffer = 128;
  std::string reference = "full";
};

// Per layer and kind, one encode of a token's n_kv_heads vectors: what
// LexicoCache::compress does for the token leaving the buffer in a decode step.
void encode_token(const RecordedKv& kv, const CacheShape& shape, const LexicoDictionaries& dicts, int64_t token,
                  const OmpOptions& options) {
  const size_t offset = size_t(token) * size_t(shape.n_kv_heads) * shape.head_dim;
  for (int l = 0; l < shape.n_layers; ++l) {
    dicts.keys(l).encode(kv.keys[l].data() + offset, shape.n_kv_heads, shape.head_dim, options);
    dicts.values(l).encode(kv.values[l].data() + offset, shape.n_kv_heads, shape.head_dim, options);
  }
}

// One (N, context) group: the reference and one lexico cache per s, each
// stepped once per round, and the OMP of one token per s in the same rounds,
// in an order rotated each round. Forward rows, then OMP rows.
std::vector<Row> time_group(const Model& model, const std::vector<int>& tokens, const RecordedKv& kv, int context,
                            const std::shared_ptr<const LexicoDictionaries>& dicts, const Settings& st) {
  const CacheShape shape = model.config().cache_shape();
  std::vector<std::string> specs{st.reference};
  for (int s : st.sparsities) specs.push_back(fmt::format("lexico:s={},buffer={}", s, st.buffer));
  std::vector<std::unique_ptr<KvCache>> caches;
  for (const std::string& spec : specs) {
    caches.push_back(make_cache(spec, shape, dicts));
    for (int l = 0; l < shape.n_layers; ++l) caches.back()->append(l, kv.keys[l].data(), kv.values[l].data(), context);
  }
  // Items 0..caches-1 are decode steps, the rest the OMP of one s.
  const size_t n_items = caches.size() + st.sparsities.size();
  std::vector<std::vector<double>> samples(n_items);
  for (int step = 0; step < st.warmup + st.steps; ++step) {
    const int64_t pos = context + step;
    for (size_t i = 0; i < n_items; ++i) {
      const size_t item = (i + size_t(step)) % n_items;
      const auto start = Clock::now();
      if (item < caches.size()) {
        model.forward(std::span<const int>(tokens.data() + pos, 1), pos, *caches[item]);
      } else {
        OmpOptions options;
        options.sparsity = st.sparsities[item - caches.size()];
        encode_token(kv, shape, *dicts, step % context, options);
      }
      if (step >= st.warmup) samples[item].push_back(ms_since(start));
    }
  }
  const double reference_mean = stats_of(samples[0]).mean;
  std::vector<Row> rows;
  for (size_t item = 0; item < n_items; ++item) {
    Row r;
    const bool forward = item < caches.size();
    r.measure = forward ? "forward" : "omp";
    r.context = context;
    r.atoms = dicts->n_atoms();  // the reference's too: the group's N
    r.sparsity = item == 0 ? 0 : st.sparsities[forward ? item - 1 : item - caches.size()];
    r.cache = forward ? specs[item] : fmt::format("lexico:s={}", r.sparsity);
    r.ms = stats_of(samples[item]);
    r.ratio = r.ms.mean / reference_mean;
    if (forward) r.kv_percent = 100.0 * double(caches[item]->payload_bytes()) / double(caches[item]->fp16_bytes());
    r.samples = samples[item].size();
    rows.push_back(r);
  }
  return rows;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

void write_tsv(AtomicOutput& output, const std::vector<Row>& rows) {
  std::ofstream out(output.temp_path());
  out << "measure\tcontext\tatoms\ts\tcache\tms_mean\tms_median\tratio\tkv_percent\tsamples\n";
  const auto or_dash = [](bool present, const std::string& text) { return present ? text : std::string("-"); };
  for (const Row& r : rows) {
    const bool forward = r.measure == "forward";
    out << fmt::format("{}\t{}\t{}\t{}\t{}\t{:.4f}\t{:.4f}\t{}\t{}\t{}\n", r.measure,
                       r.context, r.atoms,
                       or_dash(r.sparsity > 0, std::to_string(r.sparsity)), r.cache, r.ms.mean, r.ms.median,
                       fmt::format("{:.4f}", r.ratio),
                       or_dash(forward, fmt::format("{:.2f}", r.kv_percent)), r.samples);
  }
  if (!out.flush()) io_error(output.final_path(), "cannot write");
  out.close();
  output.commit();
}

// Per group: the reference, then per s its forward (mean, median, ratio), its
// OMP per token, forward − OMP and its ratio, and the KV size.
void print_table(const std::vector<Row>& rows) {
  fmt::print("\n{:>7} {:>5} {:>4} {:>10} {:>10} {:>7} {:>9} {:>11} {:>7} {:>7}\n", "context", "N", "s", "fwd ms",
             "fwd med", "x ref", "OMP ms", "fwd-OMP ms", "x ref", "KV %");
  double reference_mean = 0;
  for (const Row& r : rows) {
    if (r.measure != "forward") continue;
    if (r.sparsity == 0) {
      reference_mean = r.ms.mean;
      fmt::print("{:>7} {:>5} {:>4} {:>10.2f} {:>10.2f} {:>7} {:>9} {:>11} {:>7} {:>7.1f}   ({})\n", r.context,
                 r.atoms, "-", r.ms.mean, r.ms.median, "1.00", "-", "-", "-",
                 r.kv_percent, r.cache);
      continue;
    }
    double omp = 0;
    for (const Row& o : rows)
      if (o.measure == "omp" && o.context == r.context && o.atoms == r.atoms && o.sparsity == r.sparsity)
        omp = o.ms.mean;
    fmt::print("{:>7} {:>5} {:>4} {:>10.2f} {:>10.2f} {:>7.2f} {:>9.2f} {:>11.2f} {:>7.2f} {:>7.1f}\n", r.context,
               r.atoms, r.sparsity, r.ms.mean, r.ms.median, r.ratio, omp, r.ms.mean - omp,
               (r.ms.mean - omp) / reference_mean, r.kv_percent);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Decode latency per token: full KV cache against lexico caches, and OMP per token"};
  const fs::path root = fs::path(__FILE__).parent_path().parent_path();
  std::string model_path = (root / "models/SmolLM2-135M-Instruct.Q4_1.gguf").string();
  std::string text_path, dictionary_path, tsv_path;
  std::string contexts_text = "512,2048", sparsities_text = "4,8,16,32", atoms_text = "1024,4096";
  Settings st;
  int threads = 0;
  uint32_t seed = 1;
  app.add_option("-m,--model", model_path, "model (GGUF, safetensors folder, llama2.c)")->capture_default_str();
  app.add_option("--text", text_path, "prompt text (plain, .jsonl or folder); default: seeded random tokens");
  app.add_option("-d,--dictionary", dictionary_path,
                 "dictionary file (its N replaces --atoms); default: random dictionaries of each N");
  app.add_option("--contexts", contexts_text, "comma-separated context lengths L")->capture_default_str();
  app.add_option("-s,--sparsity", sparsities_text, "comma-separated sparsities s")->capture_default_str();
  app.add_option("-N,--atoms", atoms_text, "comma-separated dictionary sizes N")->capture_default_str();
  app.add_option("--steps", st.steps, "timed decode steps per cache")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", st.warmup, "untimed decode steps per cache first")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--buffer", st.buffer, "lexico's FP16 buffer (newest tokens)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--reference", st.reference, "the reference cache spec (full = FP32, full16)")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "seed of the random tokens and dictionaries")->capture_default_str();
  app.add_option("--tsv", tsv_path, "also write the rows here (tab-separated)");
  CLI11_PARSE(app, argc, argv);

  return run_app("bench_decode_latency", [&] {
    st.contexts = parse_positive_list(contexts_text, "--contexts");
    st.sparsities = parse_positive_list(sparsities_text, "--sparsity");
    std::vector<int> atoms = parse_positive_list(atoms_text, "--atoms");
    if (!dictionary_path.empty() && app.count("--atoms"))
      usage_error("--atoms", "cannot be combined with --dictionary (the file fixes N)");
    if (cache_needs_dictionary(st.reference)) usage_error("--reference", "must be a cache without a dictionary");
    std::sort(st.contexts.begin(), st.contexts.end());
    set_threads(threads);

    const Model model = Model::load(model_path);
    const CacheShape shape = model.config().cache_shape();
    const int max_context = st.contexts.back();
    const size_t needed = size_t(max_context) + size_t(st.warmup + st.steps);
    if (model.config().max_context > 0 && needed > size_t(model.config().max_context))
      usage_error("--contexts", "{} tokens + {} decode steps exceed the model's context of {}", max_context,
                  st.warmup + st.steps, model.config().max_context);
    const std::vector<int> tokens = prompt_tokens(text_path, model_path, model.config().vocab_size, needed, seed);

    // Bad files and an unwritable --tsv fail now, not after minutes of measuring.
    std::optional<Dictionary> file_dictionary;
    if (!dictionary_path.empty()) {
      file_dictionary = read_dictionary(dictionary_path);
      check_dictionary(*file_dictionary, shape, dictionary_path);
      atoms = {file_dictionary->n_atoms};
    }
    std::optional<AtomicOutput> tsv_output;
    if (!tsv_path.empty()) tsv_output.emplace(tsv_path);

    fmt::print("CPU: {} | threads: {} | model: {} ({} layers, {} heads, {} KV heads, head_dim {})\n", cpu_model(),
               threads ? threads : omp_get_max_threads(), fs::path(model_path).filename().string(),
               shape.n_layers, shape.n_heads, shape.n_kv_heads, shape.head_dim);
    fmt::print("prompt: {} | dictionaries: {} | lexico buffer {} | {} timed steps after {} warm-up, interleaved\n",
               text_path.empty() ? "random tokens" : text_path,
               dictionary_path.empty() ? "random (latency does not depend on the atoms)" : dictionary_path,
               st.buffer, st.steps, st.warmup);

    auto start = Clock::now();
    const RecordedKv kv = record_prefill(model, tokens, max_context);
    fmt::print(stderr, "prefill of {} tokens: {:.1f} s\n", max_context, ms_since(start) / 1000);

    std::vector<Row> rows;
    for (int n_atoms : atoms) {
      start = Clock::now();
      const auto dicts = file_dictionary
                             ? std::make_shared<const LexicoDictionaries>(*file_dictionary, shape, dictionary_path)
                             : std::make_shared<const LexicoDictionaries>(synthetic_dictionary(shape, n_atoms, seed),
                                                                          shape, "random dictionary");
      fmt::print(stderr, "N = {}: dictionaries and Gram matrices in {:.1f} s\n", n_atoms, ms_since(start) / 1000);
      for (int context : st.contexts) {
        start = Clock::now();
        for (const Row& r : time_group(model, tokens, kv, context, dicts, st)) rows.push_back(r);
        fmt::print(stderr, "N = {}, context {}: {:.1f} s\n", n_atoms, context, ms_since(start) / 1000);
      }
    }
    print_table(rows);
    fmt::print("\nfwd: one decode step (one token through all {} layers, logits included); lexico's includes the OMP "
               "of the token leaving the buffer.\nOMP: that encoding alone (per layer, keys and values of {} KV heads), "
               "timed in the same rounds; fwd-OMP: the step without it.\nx ref: mean over the reference's mean in the same "
               "group (same N, same context). KV %: payload / FP16 keys and values at the end.\n",
               shape.n_layers, shape.n_kv_heads);
    if (tsv_output) write_tsv(*tsv_output, rows);
    return 0;
  });
}
