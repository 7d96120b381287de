#include <sstream>

#include <fmt/ranges.h>

#include "lexico/dictionary_training.h"
#include "lexico/error.h"

namespace lexico {

namespace {

bool per_layer(const std::string& attr) { return attr.rfind("train.layer.", 0) == 0; }

// The halves a file trained for a layer: train.layer.<l>.kinds, or both.
std::vector<KvKind> trained_kinds(const Dictionary& d, int layer, const std::string& path) {
  auto it = d.text_attrs.find(fmt::format("train.layer.{}.kinds", layer));
  if (it == d.text_attrs.end()) return {KvKind::Keys, KvKind::Values};
  std::vector<KvKind> kinds;
  std::istringstream names(it->second);
  for (std::string name; std::getline(names, name, ',');) {
    if (name == kv_kind_name(KvKind::Keys))
      kinds.push_back(KvKind::Keys);
    else if (name == kv_kind_name(KvKind::Values))
      kinds.push_back(KvKind::Values);
    else
      bad_input(path, "train.layer.{}.kinds names an unknown kind '{}'", layer, name);
  }
  return kinds;
}

template <typename Value>
void merge_setting(std::map<std::string, Value>& into, const std::string& name, const Value& value,
                   const std::string& path, const std::string& first) {
  auto [it, inserted] = into.emplace(name, value);
  if (!inserted && it->second != value)
    bad_input(path, "was trained with {} = {}, but {} with {}; merge only files of one training setup", name, value,
              first, it->second);
}

}  // namespace

Dictionary merge_dictionaries(const std::vector<std::string>& paths) {
  if (paths.empty()) usage_error("merge", "no dictionary files to merge");
  Dictionary out;
  std::map<std::pair<int, KvKind>, std::string> source;  // which file trained each layer half
  for (const std::string& path : paths) {
    Dictionary d = read_dictionary(path);
    const std::string& first = paths.front();
    if (&path == &paths.front()) {
      out.model = d.model;
      out.n_layers = d.n_layers;
      out.head_dim = d.head_dim;
      out.n_atoms = d.n_atoms;
    } else if (d.model != out.model || d.n_layers != out.n_layers || d.head_dim != out.head_dim ||
               d.n_atoms != out.n_atoms) {
      bad_input(path,
                "is a dictionary for model '{}' ({} layers, head_dim {}, {} atoms), but {} for '{}' ({} layers, "
                "head_dim {}, {} atoms); only dictionaries of one shape can be merged",
                d.model, d.n_layers, d.head_dim, d.n_atoms, first, out.model, out.n_layers, out.head_dim, out.n_atoms);
    }
    for (const auto& [name, value] : d.text_attrs)
      if (!per_layer(name)) merge_setting(out.text_attrs, name, value, path, first);
    for (const auto& [name, value] : d.number_attrs) {
      // Files from before timings left the dictionary files carry train.seconds: not a setting.
      if (name != "train.seconds" && !per_layer(name)) {
        merge_setting(out.number_attrs, name, value, path, first);
      }
    }
    for (auto& [layer, half] : d.layers) {
      const bool new_layer = !out.layers.count(layer);
      Dictionary::Layer& into = out.layers[layer];
      if (new_layer) {  // untrained halves come from the first file holding the layer
        into.keys = half.keys;
        into.values = half.values;
      }
      const std::vector<KvKind> kinds = trained_kinds(d, layer, path);
      for (KvKind kind : kinds) {
        auto [it, inserted] = source.emplace(std::pair{layer, kind}, path);
        if (!inserted)
          bad_input(path, "holds trained {} of layer {}, and so does {}; each layer half may come from one file only",
                    kv_kind_name(kind), layer, it->second);
        const std::string name = kv_kind_name(kind);
        (kind == KvKind::Keys ? into.keys : into.values) = kind == KvKind::Keys ? half.keys : half.values;
        for (const char* series : {"val_rre_", "train_loss_"})
          if (half.series.count(series + name)) into.series[series + name] = half.series.at(series + name);
        const std::string prefix = fmt::format("train.layer.{}.{}.", layer, name);
        for (const auto& [attr, value] : d.number_attrs)
          if (attr.rfind(prefix, 0) == 0) out.number_attrs[attr] = value;
      }
    }
  }
  // Which halves of each layer the merged file holds trained.
  for (const auto& [layer, half] : out.layers) {
    std::vector<std::string> names;
    for (KvKind kind : {KvKind::Keys, KvKind::Values})
      if (source.count({layer, kind})) names.emplace_back(kv_kind_name(kind));
    out.text_attrs[fmt::format("train.layer.{}.kinds", layer)] = fmt::format("{}", fmt::join(names, ","));
  }
  return out;
}

}  // namespace lexico
