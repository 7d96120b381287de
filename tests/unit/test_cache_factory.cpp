#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "lexico/cache_factory.h"
#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/kivi_cache.h"
#include "lexico/lexico_cache.h"
#include "lexico/token_quant_cache.h"
#include "lexico/window_cache.h"
#include "test_cache_helpers.h"

using namespace lexico;
using namespace lexico::test;

namespace {

// The error a spec gives: its kind and message ("" and Internal when none).
std::pair<ErrorKind, std::string> failure(const std::string& spec, const CacheShape& shape,
                                          const Dictionary* dict = nullptr) {
  try {
    make_cache(spec, shape, dict);
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  return {ErrorKind::Internal, ""};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("make_cache builds every cache from its spec") {
  const CacheShape shape{2, 4, 2, 16};
  const Dictionary dict = random_dictionary(2, 16, 32, 1);
  CHECK(make_cache("full", shape)->name() == "full");
  CHECK(make_cache("full32", shape)->name() == "full");
  CHECK(make_cache("full16", shape)->name() == "full-fp16");
  CHECK(make_cache("lexico", shape, &dict)->name() == "lexico:s=16,buffer=128");
  CHECK(make_cache("lexico:s=8", shape, &dict)->name() == "lexico:s=8,buffer=128");
  CHECK(make_cache("lexico:delta=0.1,s=12,buffer=64", shape, &dict)->name() == "lexico:s=12,delta=0.1,buffer=64");
  auto refit = make_cache("lexico:s=4,refit", shape, &dict);
  CHECK(dynamic_cast<LexicoCache&>(*refit).options().fp8_refit);
  CHECK(make_cache("kivi2", shape)->name() == "kivi2:group=32,residual=128");
  CHECK(make_cache("kivi4:group=16,residual=64", shape)->name() == "kivi4:group=16,residual=64");
  CHECK(make_cache("int8", shape)->name() == "int8");
  CHECK(make_cache("int4:asym,residual=16", shape)->name() == "int4:asym,residual=16");
  CHECK(make_cache("window:256", shape)->name() == "window:256");
  CHECK(make_cache("window:256,sink=4", shape)->name() == "window:256,sink=4");
  CHECK(make_cache("window:size=32,sink=2", shape)->name() == "window:32,sink=2");
  CHECK(dynamic_cast<KiviCache*>(make_cache("kivi4", shape).get()) != nullptr);
  CHECK(dynamic_cast<TokenQuantCache*>(make_cache("int4", shape).get()) != nullptr);
  CHECK(dynamic_cast<WindowCache*>(make_cache("window:8", shape).get()) != nullptr);
  CHECK(dynamic_cast<FullCache*>(make_cache("full", shape, &dict).get()) != nullptr);  // dictionary ignored

  // Shared encoders: built once for many caches.
  auto shared = std::make_shared<const LexicoDictionaries>(dict, shape);
  auto a = make_cache("lexico:s=4", shape, shared), b = make_cache("lexico:s=8,buffer=0", shape, shared);
  CHECK(&dynamic_cast<LexicoCache&>(*a).dictionaries() == &dynamic_cast<LexicoCache&>(*b).dictionaries());
  CHECK(cache_needs_dictionary("lexico:s=4"));
  CHECK(!cache_needs_dictionary("kivi2"));
}

TEST_CASE("make_cache: clear errors for bad specs") {
  const CacheShape shape{2, 4, 2, 16};
  const Dictionary dict = random_dictionary(2, 16, 32, 2);

  auto [kind, msg] = failure("lexicon", shape, &dict);
  CHECK(kind == ErrorKind::Usage);
  CHECK(contains(msg, "unknown cache 'lexicon'"));
  for (const std::string& name : cache_names()) CHECK(contains(msg, name));

  std::tie(kind, msg) = failure("", shape);
  CHECK(kind == ErrorKind::Usage);
  std::tie(kind, msg) = failure("lexico:s=4", shape);
  CHECK(kind == ErrorKind::Usage);
  CHECK(contains(msg, "needs a dictionary"));
  std::tie(kind, msg) = failure("lexico:s=4,sparsity=3", shape, &dict);
  CHECK(kind == ErrorKind::Usage);
  CHECK(contains(msg, "unknown option 'sparsity'"));
  CHECK(contains(msg, "s, delta, buffer, refit"));
  std::tie(kind, msg) = failure("lexico:s=x", shape, &dict);
  CHECK(kind == ErrorKind::Usage);
  CHECK(failure("lexico:s=0", shape, &dict).first == ErrorKind::Usage);
  CHECK(failure("lexico:s=17", shape, &dict).first == ErrorKind::Usage);  // > head_dim
  CHECK(failure("lexico:delta=1", shape, &dict).first == ErrorKind::Usage);
  CHECK(failure("lexico:s=4,s=5", shape, &dict).first == ErrorKind::Usage);
  CHECK(failure("lexico:s=4,,buffer=2", shape, &dict).first == ErrorKind::Usage);
  CHECK(failure("lexico:refit=maybe", shape, &dict).first == ErrorKind::Usage);
  CHECK(failure("kivi2:bits=4", shape).first == ErrorKind::Usage);
  CHECK(failure("kivi3", shape).first == ErrorKind::Usage);
  CHECK(failure("int8:group=4", shape).first == ErrorKind::Usage);
  CHECK(failure("window", shape).first == ErrorKind::Usage);
  CHECK(failure("window:0", shape).first == ErrorKind::Usage);
  CHECK(failure("window:8,size=9", shape).first == ErrorKind::Usage);
  CHECK(failure("full:fp16", shape).first == ErrorKind::Usage);

  // A dictionary from another model.
  const Dictionary wrong_dim = random_dictionary(2, 32, 32, 3);
  std::tie(kind, msg) = failure("lexico:s=4", shape, &wrong_dim);
  CHECK(kind == ErrorKind::BadInput);
  CHECK(contains(msg, "head_dim 32"));
  CHECK(contains(msg, "another model"));
  const Dictionary wrong_layers = random_dictionary(4, 16, 32, 4);
  std::tie(kind, msg) = failure("lexico:s=4", shape, &wrong_layers);
  CHECK(kind == ErrorKind::BadInput);
  CHECK(contains(msg, "4 layers"));
}
