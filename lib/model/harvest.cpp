#include "lexico/harvest.h"

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "lexico/atomic_file.h"
#include "lexico/cli.h"
#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/kv_dump.h"

namespace lexico {

namespace {

// The settings a partial file must share with the run that resumes it: the
// options, the model, the recorded layers and the token stream itself (FNV-1a
// over the windows' ids: another text or tokenizer gives another stream).
std::string settings_key(const HarvestOptions& o, const std::string& model_name, const std::vector<int>& layers,
                         const std::vector<std::vector<int32_t>>& windows) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const std::vector<int32_t>& w : windows)
    for (int32_t t : w)
      for (int b = 0; b < 4; ++b) h = (h ^ ((uint32_t(t) >> (8 * b)) & 0xffu)) * 0x100000001b3ull;
  return fmt::format("ctx={} max_tokens={} fp16={} prerope={} sample={} seed={} shard={}/{} windows={} model={} "
                     "layers={} tokens={:016x}",
                     o.ctx, o.max_tokens, o.fp16, o.prerope, o.sample, o.seed, o.shard, o.n_shards, windows.size(),
                     model_name, fmt::join(layers, ","), h);
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

namespace {

namespace fs = std::filesystem;

// A finished run of windows, kept as a small complete dump so a kill can
// never damage what was already written: segments are written under a
// temporary name and renamed, and the final dump is assembled from them.
std::string segment_path(const std::string& dir, size_t first_window) {
  return fmt::format("{}/windows-{:09d}.h5", dir, first_window);
}

// Windows done so far in a partial folder, checking its segments are
// contiguous; removes temporaries a kill left behind.
size_t windows_in_partial(const std::string& dir, const std::string& settings) {
  std::ifstream in(dir + "/settings.txt");
  std::string got;
  std::getline(in, got);
  if (got != settings)
    bad_input(dir, "cannot resume: it was made with other settings ({} instead of {})", got, settings);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos)
      fs::remove(e.path());
    else if (name.rfind("windows-", 0) == 0)
      names.push_back(e.path().string());
  }
  std::sort(names.begin(), names.end());
  size_t done = 0;
  for (const std::string& name : names) {
    KvDumpReader seg(name);
    if (static_cast<size_t>(seg.attr_int("first_window")) != done)
      bad_input(name, "segment does not continue at window {}", done);
    done += static_cast<size_t>(seg.attr_int("n_windows"));
  }
  return done;
}

}  // namespace

int64_t harvest(const Model& model, const std::string& model_name, const std::vector<std::vector<int32_t>>& windows,
                const HarvestOptions& o, const std::string& output, bool resume, Progress* progress) {
  FullCache cache(model.config().cache_shape());
  const WindowRun run = [&](std::span<const int> window, const KvObserver& observer) {
    cache.clear();
    model.forward(window, 0, cache, Logits::Last, observer);
  };
  return harvest(run, model.config(), model_name, windows, o, output, resume, progress);
}

int64_t harvest(const WindowRun& run, const ModelConfig& cfg, const std::string& model_name,
                const std::vector<std::vector<int32_t>>& windows, const HarvestOptions& o, const std::string& output,
                bool resume, Progress* progress) {
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

  AtomicOutput out(output);  // checks the folder before hours of work start
  const std::string partial = output + ".partial";
  const std::string settings = settings_key(o, model_name, info.layers, windows);
  size_t done = 0;
  if (resume && fs::is_directory(partial)) {
    done = windows_in_partial(partial, settings);
    if (done > windows.size()) bad_input(partial, "records {} windows, but the run has {}", done, windows.size());
  } else {
    fs::remove_all(partial);
    if (!fs::create_directory(partial)) io_error(partial, "cannot create the folder for partial results");
    AtomicOutput s(partial + "/settings.txt");
    std::ofstream(s.temp_path()) << settings << "\n";
    s.commit();
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
  std::vector<std::vector<float>> keys(n_layers), values(n_layers), pre(n_layers);

  // Windows are grouped into segments of about this many tokens.
  const size_t segment_tokens = 8192;
  std::unique_ptr<AtomicOutput> seg_out;
  std::unique_ptr<KvDumpWriter> seg;
  size_t seg_first = done;
  auto close_segment = [&](size_t next_window) {
    seg->set_attr("first_window", static_cast<int64_t>(seg_first));
    seg->set_attr("n_windows", static_cast<int64_t>(next_window - seg_first));
    seg->close();
    seg.reset();
    seg_out->commit();
    seg_out.reset();
    seg_first = next_window;
  };

  for (size_t w = done; w < windows.size(); ++w) {
    const std::vector<int32_t>& window = windows[w];
    const int n = static_cast<int>(window.size());
    const std::vector<int> keep = kept_tokens(w, n, o);
    // The observer copies the kept tokens' vectors of the recorded layers.
    auto observer = [&](int layer, int64_t, int, const float* k_pre, const float* k, const float* v) {
      const int i = slot[static_cast<size_t>(layer)];
      if (i < 0) return;
      keys[i].resize(keep.size() * per_token);
      values[i].resize(keep.size() * per_token);
      if (o.prerope) pre[i].resize(keep.size() * per_token);
      for (size_t r = 0; r < keep.size(); ++r) {
        const size_t src = static_cast<size_t>(keep[r]) * per_token;
        std::copy_n(k + src, per_token, keys[i].data() + r * per_token);
        std::copy_n(v + src, per_token, values[i].data() + r * per_token);
        if (o.prerope) std::copy_n(k_pre + src, per_token, pre[i].data() + r * per_token);
      }
    };
    const std::vector<int> ids(window.begin(), window.end());
    run(ids, observer);

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
    if (!seg) {
      seg_out = std::make_unique<AtomicOutput>(segment_path(partial, w));
      seg = std::make_unique<KvDumpWriter>(seg_out->temp_path(), info);
    }
    seg->append(tokens, positions, kp, vp, pp);
    if (seg->n_tokens() >= static_cast<int64_t>(segment_tokens)) close_segment(w + 1);
    if (progress) progress->add(n);
  }
  if (seg) close_segment(windows.size());

  // Assemble the segments, in window order, into the output.
  int64_t written = 0;
  {
    KvDumpWriter writer(out.temp_path(), info);
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(partial))
      if (e.path().filename().string().rfind("windows-", 0) == 0) names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      KvDumpReader r(name);
      std::vector<std::vector<float>> k(n_layers), v(n_layers), p(n_layers);
      std::vector<const float*> kp, vp, pp;
      for (size_t i = 0; i < n_layers; ++i) {
        k[i] = r.read(info.layers[i], KvKind::Keys);
        v[i] = r.read(info.layers[i], KvKind::Values);
        kp.push_back(k[i].data());
        vp.push_back(v[i].data());
        if (o.prerope) {
          p[i] = r.read(info.layers[i], KvKind::KeysPreRope);
          pp.push_back(p[i].data());
        }
      }
      writer.append(r.tokens(), r.positions(), kp, vp, pp);
    }
    written = writer.n_tokens();
    writer.close();
  }
  out.commit();
  fs::remove_all(partial);
  return written;
}

}  // namespace lexico
