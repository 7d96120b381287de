// The tokenizer that belongs to a model file: from a GGUF file's metadata,
// from the tokenizer.json of a Hugging Face folder, or from an explicit file
// (llama2.c checkpoints carry none, so theirs must be named).
#pragma once
#include <memory>
#include <string>

#include "lexico/tokenizer.h"

namespace lexico {

// `tokenizer_path` overrides what the model path implies; empty = implied.
// Throws BadInput when none can be found or it does not fit `vocab_size`
// (the model's; 0 skips that check).
std::unique_ptr<Tokenizer> load_model_tokenizer(const std::string& model_path, const std::string& tokenizer_path,
                                                int vocab_size);

}  // namespace lexico
