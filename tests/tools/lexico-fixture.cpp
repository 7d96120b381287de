// Makes the files the CLI tests need, valid and deliberately broken ones, with
// the library's own writers: no Python or other tool in the test suite.
#include <CLI/CLI.hpp>
#include <cmath>
#include <random>

#include "io/h5.h"
#include "lexico/cli.h"
#include "lexico/dictionary.h"
#include "lexico/kv_dump.h"

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
  CLI11_PARSE(app, argc, argv);

  return run_app("lexico-fixture", [&] {
    if (*dict) {
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
