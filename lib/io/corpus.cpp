#include "lexico/corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "lexico/error.h"
#include "lexico/json.h"

namespace lexico {

namespace fs = std::filesystem;

namespace {

std::string slurp(std::istream& in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

void read_jsonl(const std::string& path, const std::string& text, const CorpusOptions& options,
                std::vector<Document>& out) {
  std::istringstream lines(text);
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, n);
    json::Value v = json::parse(line, where);
    const json::Value* field = v.find(options.jsonl_field);
    if (!field || !field->is_string()) bad_input(where, "has no string field '{}'", options.jsonl_field);
    out.push_back({where, field->as_string()});
  }
}

void read_one(const std::string& path, const CorpusOptions& options, std::vector<Document>& out) {
  std::string text;
  if (path == "-") {
    text = slurp(std::cin);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) bad_input(path, "cannot open");
    text = slurp(in);
  }
  if (fs::path(path).extension() == ".jsonl")
    read_jsonl(path, text, options, out);
  else
    out.push_back({path, std::move(text)});
}

}  // namespace

std::vector<Document> read_corpus(const std::vector<std::string>& inputs, const CorpusOptions& options) {
  std::vector<Document> docs;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (input != "-" && !fs::exists(input, ec)) bad_input(input, "no such file or folder");
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> files;
      for (const auto& e : fs::recursive_directory_iterator(input))
        if (e.is_regular_file()) files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      if (files.empty()) bad_input(input, "folder holds no files");
      for (const std::string& f : files) read_one(f, options, docs);
    } else {
      read_one(input, options, docs);
    }
  }
  const bool any_text = std::any_of(docs.begin(), docs.end(), [](const Document& d) {
    return d.text.find_first_not_of(" \t\r\n") != std::string::npos;
  });
  if (!any_text)
    bad_input(inputs.empty() ? "input" : inputs.front(), "the input holds no text");
  return docs;
}

}  // namespace lexico
