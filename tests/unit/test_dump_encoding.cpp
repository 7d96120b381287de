// Encoding a KV dump end to end: codes round-trip through their file, scores
// computed from stored codes equal those computed while encoding, and codes
// refuse a dictionary other than their own.
#include <doctest/doctest.h>

#include "lexico/codes_file.h"
#include "lexico/dump_encoding.h"
#include "lexico/error.h"
#include "temp_dir.h"

using namespace lexico;

namespace {

Dictionary random_dictionary(int m, int n, int n_layers, unsigned seed) {
  std::srand(seed);
  Dictionary d;
  d.model = "synthetic";
  d.n_layers = n_layers;
  d.head_dim = m;
  d.n_atoms = n;
  for (int l = 0; l < n_layers; ++l) {
    Dictionary::Layer layer;
    layer.keys = Eigen::MatrixXf::Random(m, n);
    layer.values = Eigen::MatrixXf::Random(m, n);
    layer.keys.colwise().normalize();
    layer.values.colwise().normalize();
    d.layers[l] = layer;
  }
  return d;
}

}  // namespace

TEST_CASE("encode a dump, store the codes, score them again") {
  test::TempDir dir;
  SyntheticDumpSpec spec;
  spec.n_layers = 2;
  spec.n_kv_heads = 2;
  spec.head_dim = 32;
  spec.n_tokens = 700;
  write_synthetic_dump(dir / "dump.h5", spec);
  KvDumpReader dump(dir / "dump.h5");
  Dictionary dict = random_dictionary(32, 128, 2, 7);

  DumpEncodingOptions opt;
  opt.omp.sparsity = 8;
  opt.block_tokens = 256;  // several blocks, so rows are stitched across reads
  EncodingReport report;
  CodesFile codes = encode_dump(dump, dict, "dict.h5", opt, &report);
  REQUIRE(report.layers.size() == 2);
  CHECK(report.vectors() == 2 * 2 * 700 * 2);
  CHECK(report.layers[0].keys.nnz == 700 * 2 * 8);
  CHECK(report.csr_bytes() == report.vectors() * (3 * 8 + 2));
  CHECK(report.layers[1].values.rre.mean > 0.0);
  CHECK(report.layers[1].values.rre.mean < 1.0);

  write_codes(dir / "codes.h5", codes);
  CodesFile back = read_codes(dir / "codes.h5");
  CHECK(back.at(1, KvKind::Values).indices == codes.at(1, KvKind::Values).indices);
  CHECK(back.at(0, KvKind::Keys).values == codes.at(0, KvKind::Keys).values);
  CHECK(back.dictionary_sha256 == dict.content_sha256());
  // An FP8 NaN code (0x7F, which the encoder never writes: it saturates) is
  // refused with its place named, not decoded into NaN (a fuzzing finding).
  CodesFile poisoned = codes;
  poisoned.layers.at(1).values.values.at(5) = 0x7F;
  write_codes(dir / "nan.h5", poisoned);
  CHECK_THROWS_WITH_AS(read_codes(dir / "nan.h5"), doctest::Contains("values[5] (token 0, head 0) is the FP8 NaN code"),
                       Error);

  EncodingReport again = evaluate_codes(dump, dict, "dict.h5", back, "codes.h5", {});
  for (size_t i = 0; i < 2; ++i) {
    CHECK(again.layers[i].keys.rre.mean == doctest::Approx(report.layers[i].keys.rre.mean).epsilon(1e-9));
    CHECK(again.layers[i].values.rre.std == doctest::Approx(report.layers[i].values.rre.std).epsilon(1e-9));
  }

  // More atoms per vector → lower error.
  opt.omp.sparsity = 16;
  EncodingReport denser;
  encode_dump(dump, dict, "dict.h5", opt, &denser);
  CHECK(denser.overall(KvKind::Keys).mean < report.overall(KvKind::Keys).mean);

  // Another dictionary is refused by checksum.
  Dictionary other = random_dictionary(32, 128, 2, 8);
  CHECK_THROWS_WITH_AS(evaluate_codes(dump, other, "other.h5", back, "codes.h5", {}),
                       doctest::Contains("made with another dictionary"), Error);
  // A dictionary of another head_dim is refused before any work.
  Dictionary wide = random_dictionary(64, 128, 2, 9);
  CHECK_THROWS_WITH_AS(encode_dump(dump, wide, "wide.h5", opt, &denser), doctest::Contains("head_dim 64"), Error);
}

TEST_CASE("pooled statistics equal statistics over all vectors") {
  EncodingReport r;
  r.head_dim = 4;
  LayerReport a, b;
  a.keys.rre = rre_stats({0.1, 0.3});
  b.keys.rre = rre_stats({0.2, 0.6, 0.4});
  r.layers = {a, b};
  RreStats all = rre_stats({0.1, 0.3, 0.2, 0.6, 0.4});
  CHECK(r.overall(KvKind::Keys).mean == doctest::Approx(all.mean));
  CHECK(r.overall(KvKind::Keys).std == doctest::Approx(all.std));
  CHECK(r.overall(KvKind::Keys).count == 5);
}
