#include "lexico/harvest.h"

#include <cstdio>
#include <filesystem>
#include <random>

#include "lexico/atomic_file.h"
#include "lexico/cli.h"
#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/kv_dump.h"

namespace lexico {

namespace {

// The settings a partial file must share with the run that resumes it.
std::string settings_key(const HarvestOptions& o, size_t n_windows) {
  return fmt::format("ctx={} max_tokens={} fp16={} prerope={} sample={} seed={} shard={}/{} windows={}", o.ctx,
                     o.max_tokens, o.fp16, o.prerope, o.sample, o.seed, o.shard, o.n_shards, n_windows);
}

// Tokens kept from one window: all, or a seeded sample that depends only on
// the window's index, so shards and resumed runs pick the same ones.
std::vector<int> kept_tokens(size_t window_index, int n, const HarvestOptions& o) {
  std::vector<int> keep;
  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + window_index);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int t = 0; t < n; ++t)
    if (o.sample >= 1.0 || u(rng) < o.sample) keep.push_back(t);
  return keep;
}

}  // namespace

std::vector<std::vector<int32_t>> harvest_windows(const std::vector<int32_t>& stream, const HarvestOptions& o) {
  if (o.ctx < 1) usage_error("--ctx", "must be positive, not {}", o.ctx);
  if (o.n_shards < 1 || o.shard < 0 || o.shard >= o.n_shards)
    usage_error("--shard", "{}/{} is not a shard i/n with 0 <= i < n", o.shard, o.n_shards);
  const size_t total = o.max_tokens >= 0 ? std::min(stream.size(), static_cast<size_t>(o.max_tokens)) : stream.size();
  std::vector<std::vector<int32_t>> windows;
  size_t w = 0;
  for (size_t t0 = 0; t0 < total; t0 += static_cast<size_t>(o.ctx), ++w) {
    if (static_cast<int>(w % o.n_shards) != o.shard) continue;
    const size_t t1 = std::min(total, t0 + static_cast<size_t>(o.ctx));
    windows.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(t0), stream.begin() + static_cast<std::ptrdiff_t>(t1));
  }
  return windows;
}

int64_t harvest(const Model& model, const std::string& model_name, const std::vector<std::vector<int32_t>>& windows,
                const HarvestOptions& o, const std::string& output, bool resume, Progress* progress) {
  const ModelConfig& cfg = model.config();
  if (o.ctx > cfg.max_context && cfg.max_context > 0)
    usage_error("--ctx", "{} exceeds the model's context of {} tokens", o.ctx, cfg.max_context);
  if (!(o.sample > 0.0 && o.sample <= 1.0)) usage_error("--sample", "must lie in (0, 1], not {}", o.sample);
  if (windows.empty()) bad_input(output, "nothing to harvest: this shard has no windows");

  KvDumpInfo info;
  info.model = model_name;
  info.n_layers = cfg.n_layers;
  info.n_kv_heads = cfg.n_kv_heads;
  info.head_dim = cfg.head_dim;
  info.fp16 = o.fp16;
  info.has_prerope = o.prerope;
  info.layers = o.layers;
  if (info.layers.empty())
    for (int l = 0; l < cfg.n_layers; ++l) info.layers.push_back(l);

  // The output's folder must be writable before hours of work start.
  { AtomicOutput probe(output); }
  const std::string partial = output + ".partial";
  const std::string settings = settings_key(o, windows.size());
  size_t done = 0;
  int64_t tokens_done = 0;
  std::unique_ptr<KvDumpWriter> writer;
  if (resume && std::filesystem::exists(partial)) {
    writer = std::make_unique<KvDumpWriter>(KvDumpWriter::resume(partial, info));
    writer->check_attr("harvest_settings", settings);
    done = static_cast<size_t>(writer->attr_int("windows_done"));
    tokens_done = writer->attr_int("tokens_done");
    if (done > windows.size()) bad_input(partial, "records {} windows done, but the run has {}", done, windows.size());
    writer->truncate(tokens_done);  // drops a window written after the last checkpoint
  } else {
    writer = std::make_unique<KvDumpWriter>(partial, info);
    writer->set_attr("harvest_settings", settings);
    writer->set_attr("windows_done", int64_t{0});
    writer->set_attr("tokens_done", int64_t{0});
    writer->flush();
  }
  if (progress) {
    int64_t skipped = 0;
    for (size_t w = 0; w < done; ++w) skipped += static_cast<int64_t>(windows[w].size());
    progress->add(skipped);
  }

  const size_t per_token = static_cast<size_t>(cfg.n_kv_heads) * cfg.head_dim;
  const size_t n_layers = info.layers.size();
  std::vector<int> slot(static_cast<size_t>(cfg.n_layers), -1);
  for (size_t i = 0; i < n_layers; ++i) slot[static_cast<size_t>(info.layers[i])] = static_cast<int>(i);
  FullCache cache(cfg.cache_shape());
  std::vector<std::vector<float>> keys(n_layers), values(n_layers), pre(n_layers);

  for (size_t w = done; w < windows.size(); ++w) {
    const std::vector<int32_t>& window = windows[w];
    const int n = static_cast<int>(window.size());
    const std::vector<int> keep = kept_tokens(w, n, o);
    cache.clear();
    // The observer copies the kept tokens' vectors of the recorded layers.
    auto observer = [&](int layer, int64_t, int n_tokens, const float* k_pre, const float* k, const float* v) {
      const int i = slot[static_cast<size_t>(layer)];
      if (i < 0) return;
      (void)n_tokens;
      auto& K = keys[i];
      auto& V = values[i];
      auto& P = pre[i];
      K.resize(keep.size() * per_token);
      V.resize(keep.size() * per_token);
      if (o.prerope) P.resize(keep.size() * per_token);
      for (size_t r = 0; r < keep.size(); ++r) {
        const size_t src = static_cast<size_t>(keep[r]) * per_token;
        std::copy_n(k + src, per_token, K.data() + r * per_token);
        std::copy_n(v + src, per_token, V.data() + r * per_token);
        if (o.prerope) std::copy_n(k_pre + src, per_token, P.data() + r * per_token);
      }
    };
    std::vector<int> ids(window.begin(), window.end());
    model.forward(ids, 0, cache, Logits::Last, observer);

    std::vector<int32_t> tokens, positions;
    for (int t : keep) {
      tokens.push_back(window[static_cast<size_t>(t)]);
      positions.push_back(t);
    }
    std::vector<const float*> kp, vp, pp;
    for (size_t i = 0; i < n_layers; ++i) {
      kp.push_back(keys[i].data());
      vp.push_back(values[i].data());
      if (o.prerope) pp.push_back(pre[i].data());
    }
    writer->append(tokens, positions, kp, vp, pp);
    tokens_done += static_cast<int64_t>(tokens.size());
    writer->set_attr("windows_done", static_cast<int64_t>(w + 1));
    writer->set_attr("tokens_done", tokens_done);
    writer->flush();
    if (progress) progress->add(n);
  }
  writer->close();
  writer.reset();
  if (std::rename(partial.c_str(), output.c_str()) != 0)
    io_error(output, "cannot rename {} into place", partial);
  return tokens_done;
}

}  // namespace lexico
