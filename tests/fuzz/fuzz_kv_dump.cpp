// The KV dump reader: HDF5 structure, schema attributes, shapes, tokens and
// positions, and every layer's arrays with the non-finite check.
#include "fuzz_input.h"
#include "lexico/kv_dump.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_only_bad_input([&] {
    const KvDumpReader r(path);
    r.tokens();
    r.positions();
    for (int l : r.info().layers) {
      r.read(l, KvKind::Keys);
      r.read(l, KvKind::Values);
      if (r.info().has_prerope) r.read(l, KvKind::KeysPreRope);
    }
  });
  return 0;
}
