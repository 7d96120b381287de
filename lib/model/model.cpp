#include "lexico/model.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lexico/error.h"
#include "lexico/gguf.h"
#include "lexico/json.h"
#include "lexico/llama2c.h"
#include "lexico/safetensors.h"

namespace lexico {

namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Model load_hf(const fs::path& dir) {
  const std::string config_path = (dir / "config.json").string();
  if (!fs::exists(config_path)) bad_input(dir.string(), "no config.json beside the safetensors files");
  ModelConfig c = config_from_hf(json::parse(read_text(config_path), config_path), config_path);
  const Safetensors st(dir.string());
  return Model(c, weights_from_safetensors(st, c));
}

}  // namespace

Model::Model(ModelConfig config, Weights weights)
    : config_(std::move(config)), weights_(std::move(weights)), rope_(config_) {
  config_.validate("model");
  if (weights_.layers.size() != static_cast<size_t>(config_.n_layers) ||
      weights_.token_embedding.rows() != config_.vocab_size || weights_.classifier().rows() != config_.vocab_size)
    internal_error("model", "weights do not match the config");
}

Model Model::load(const std::string& path) {
  if (fs::is_directory(path)) return load_hf(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open model file");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string(magic, 4) == "GGUF") {
    const GgufFile g(path);
    ModelConfig c = config_from_gguf(g);
    return Model(c, weights_from_gguf(g, c));
  }
  if (path.ends_with(".safetensors") || path.ends_with(".json")) return load_hf(fs::path(path).parent_path());
  // llama2.c checkpoints have no magic number: anything else is tried as one.
  const Llama2cFile f(path);
  ModelConfig c = config_from_llama2c(f.header());
  return Model(c, weights_from_llama2c(f, c));
}

}  // namespace lexico
