// Makes the files the CLI tests need, valid and deliberately broken ones, with
// the library's own writers: no Python or other tool in the test suite.
#include <CLI/CLI.hpp>
#include <cmath>
#include <random>

#include "io/h5.h"
#include "lexico/cli.h"
#include "lexico/dictionary.h"
#include "lexico/error.h"
#include "lexico/kv_dump.h"
#include "unit/test_model_files.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Test fixtures for lexico's CLI tests."};
  app.require_subcommand(1);
  std::string out;
  int m = 16, n = 64, layers = 2, seed = 1;
  bool nan = false;
  auto* dict = app.add_subcommand("dict", "random unit-norm dictionary");
  dict->add_option("output", out)->required();
  dict->add_option("--head-dim", m);
  dict->add_option("--atoms", n);
  dict->add_option("--layers", layers);
  dict->add_option("--seed", seed);
  dict->add_flag("--nan", nan, "put a NaN into atom 1 of layer 0's keys");

  auto* empty = app.add_subcommand("empty-dump", "KV dump whose layers hold no tokens");
  empty->add_option("output", out)->required();
  empty->add_option("--head-dim", m);

  std::string file, attr;
  int64_t value = 0;
  auto* set = app.add_subcommand("set-attr", "overwrite an integer root attribute");
  set->add_option("file", file)->required();
  set->add_option("name", attr)->required();
  set->add_option("value", value)->required();

  std::string dataset;
  float x = 0;
  int64_t index = 0;
  auto* poke = app.add_subcommand("poke", "overwrite one value of a float dataset");
  poke->add_option("file", file)->required();
  poke->add_option("dataset", dataset)->required();
  poke->add_option("index", index)->required();
  poke->add_option("value", x)->required();
  std::vector<std::string> shards;
  std::string single;
  auto* union_cmd = app.add_subcommand("shard-union", "check that shards i/n of a harvest interleave to the single run");
  union_cmd->add_option("single", single)->required();
  union_cmd->add_option("shards", shards)->required();
  int heads = 4, kv_heads = 2, hidden = 384, vocab = 512, context = 2048;
  auto* model = app.add_subcommand("model", "random llama2.c checkpoint (weights N(0, 1/in)), for the GPU runtime's tests");
  model->add_option("output", out)->required();
  model->add_option("--head-dim", m)->capture_default_str();
  model->add_option("--heads", heads)->capture_default_str();
  model->add_option("--kv-heads", kv_heads)->capture_default_str();
  model->add_option("--layers", layers)->capture_default_str();
  model->add_option("--hidden", hidden)->capture_default_str();
  model->add_option("--vocab", vocab)->capture_default_str();
  model->add_option("--context", context)->capture_default_str();
  model->add_option("--seed", seed);
  CLI11_PARSE(app, argc, argv);

  return run_app("lexico-fixture", [&] {
    if (*model) {
      test::TinyModel t;
      t.dim = heads * m;
      t.heads = heads;
      t.kv_heads = kv_heads;
      t.layers = layers;
      t.hidden = hidden;
      t.vocab = vocab;
      t.seq = context;
      t.randomize(unsigned(seed), true);
      t.write_llama2c(out);
    } else if (*dict) {
      Dictionary d;
      d.model = "synthetic";
      d.n_layers = layers;
      d.head_dim = m;
      d.n_atoms = n;
      std::mt19937 rng(seed);
      std::normal_distribution<float> normal;
      for (int l = 0; l < layers; ++l) {
        Dictionary::Layer layer;
        layer.keys = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
        layer.values = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
        layer.keys.colwise().normalize();
        layer.values.colwise().normalize();
        d.layers[l] = layer;
      }
      if (nan) d.layers[0].keys(0, 1) = std::nanf("");
      write_dictionary(out, d);
    } else if (*empty) {
      KvDumpInfo info;
      info.model = "synthetic";
      info.n_layers = 1;
      info.n_kv_heads = 1;
      info.head_dim = m;
      info.layers = {0};
      KvDumpWriter(out, info).close();
    } else if (*set) {
      h5::File::open_rw(file).set_attr("/", attr, value);
    } else if (*union_cmd) {
      // Windows start at position 0; shard i holds windows i, i+n, i+2n, ...
      auto windows = [](const KvDumpReader& r) {
        std::vector<std::pair<int64_t, int64_t>> w;  // [begin, end) token rows
        auto pos = r.positions();
        for (size_t t = 0; t < pos.size(); ++t)
          if (pos[t] == 0) w.push_back({static_cast<int64_t>(t), 0});
        for (size_t i = 0; i < w.size(); ++i)
          w[i].second = i + 1 < w.size() ? w[i + 1].first : static_cast<int64_t>(pos.size());
        return w;
      };
      KvDumpReader all(single);
      const auto all_windows = windows(all);
      std::vector<KvDumpReader> parts;
      for (const auto& s : shards) parts.emplace_back(s);
      std::vector<size_t> next(parts.size(), 0);
      for (size_t w = 0; w < all_windows.size(); ++w) {
        const size_t p = w % parts.size();
        const auto pw = windows(parts[p]);
        if (next[p] >= pw.size()) bad_input(shards[p], "lacks window {}", w);
        const auto [b, e] = all_windows[w];
        const auto [pb, pe] = pw[next[p]++];
        if (pe - pb != e - b) bad_input(shards[p], "window {} has {} tokens, expected {}", w, pe - pb, e - b);
        for (int l : all.info().layers)
          for (KvKind kind : {KvKind::Keys, KvKind::Values})
            if (all.read(l, kind, b, e - b) != parts[p].read(l, kind, pb, pe - pb))
              bad_input(shards[p], "window {} layer {} {} differ from {}", w, l, kv_kind_name(kind), single);
      }
      for (size_t p = 0; p < parts.size(); ++p)
        if (next[p] != windows(parts[p]).size()) bad_input(shards[p], "holds windows the single run lacks");
    } else if (*poke) {
      h5::File f = h5::File::open_rw(file);
      auto shape = f.shape(dataset);
      auto data = f.read_floats(dataset);
      data.at(static_cast<size_t>(index)) = x;
      H5Ldelete(f.id(), dataset.c_str(), H5P_DEFAULT);
      f.write_floats(dataset, data.data(), shape, h5::Storage::F32);
    }
    return 0;
  });
}
