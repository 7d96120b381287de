// Text inputs as users have them: plain text files, folders of text files,
// JSONL files with a chosen field, or standard input ("-"). Each yields
// documents in a fixed order (folders sorted by name), so a corpus always
// tokenizes to the same stream.
#pragma once
#include <string>
#include <vector>

namespace lexico {

struct CorpusOptions {
  std::string jsonl_field = "text";  // the field read from .jsonl inputs
};

struct Document {
  std::string source;  // "file" or "file:line"
  std::string text;
};

// Reads every input in order. Files ending in .jsonl are JSON lines; folders
// contribute their regular files (recursively, sorted); "-" is stdin, read as
// plain text. Throws BadInput for a missing input, a JSONL line that is not an
// object with a string `jsonl_field`, or a corpus with no text at all.
std::vector<Document> read_corpus(const std::vector<std::string>& inputs, const CorpusOptions& options);

}  // namespace lexico
