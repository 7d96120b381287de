// The HDF5 contract between the executables: KV dumps and dictionaries round-
// trip, and readers reject files of other schemas, versions and shapes.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/h5.h"
#include "lexico/atomic_file.h"
#include "lexico/cli.h"
#include "lexico/dictionary.h"
#include "lexico/error.h"
#include "lexico/half.h"
#include "lexico/kv_dump.h"
#include "lexico/sha256.h"
#include "temp_dir.h"

using namespace lexico;

namespace {

Dictionary random_dictionary(int m, int n, std::vector<int> layers, int n_layers) {
  Dictionary d;
  d.model = "test";
  d.n_layers = n_layers;
  d.head_dim = m;
  d.n_atoms = n;
  for (int l : layers) {
    Dictionary::Layer layer;
    // Materialise before normalising: Random() is re-drawn on every evaluation.
    layer.keys = Eigen::MatrixXf::Random(m, n);
    layer.values = Eigen::MatrixXf::Random(m, n);
    layer.keys.colwise().normalize();
    layer.values.colwise().normalize();
    layer.series["val_rre_keys"] = {0.5, 0.25};
    d.layers[l] = layer;
  }
  d.text_attrs["source"] = "unit test";
  d.number_attrs["train.sparsity"] = 8;
  return d;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 examples") {
  Sha256 a;
  a.update("abc", 3);
  CHECK(a.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 b;
  CHECK(b.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 c;  // 1,000,000 × 'a', fed unevenly to exercise buffering
  std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    size_t n = std::min(left, chunk.size());
    c.update(chunk.data(), n);
    left -= n;
  }
  CHECK(c.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("layer lists") {
  CHECK(parse_layer_list("", 4, "--layers") == std::vector<int>{0, 1, 2, 3});
  CHECK(parse_layer_list("all", 2, "--layers") == std::vector<int>{0, 1});
  CHECK(parse_layer_list("3,0-1,1", 5, "--layers") == std::vector<int>{0, 1, 3});
  CHECK_THROWS_AS(parse_layer_list("5", 5, "--layers"), Error);
  CHECK_THROWS_AS(parse_layer_list("2-1", 5, "--layers"), Error);
  CHECK_THROWS_AS(parse_layer_list("x", 5, "--layers"), Error);
  CHECK_THROWS_AS(parse_layer_list("1-", 5, "--layers"), Error);
}

TEST_CASE("atomic output leaves nothing behind unless committed") {
  test::TempDir dir;
  const std::string final_path = dir / "out.txt";
  { std::ofstream(final_path) << "old"; }
  {
    AtomicOutput out(final_path);
    std::ofstream(out.temp_path()) << "new";
  }  // no commit: the old file stays, the temporary is gone
  std::string content;
  std::getline(std::ifstream(final_path), content);
  CHECK(content == "old");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
  {
    AtomicOutput out(final_path);
    std::ofstream(out.temp_path()) << "new";
    out.commit();
  }
  std::getline(std::ifstream(final_path), content);
  CHECK(content == "new");
  CHECK_THROWS_AS(AtomicOutput(dir / "no-such-folder/out.txt"), Error);
  // A device or pipe under the output name is never replaced by the rename
  // (as root, -o /dev/full once replaced the device).
  const std::string fifo = dir / "pipe";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(AtomicOutput{fifo}, doctest::Contains("is not a regular file"), Error);
  CHECK(std::filesystem::is_fifo(fifo));
}

TEST_CASE("atomic output: temporaries a dead process of this host left are removed; others stay") {
  test::TempDir dir;
  const std::string final_path = dir / "out.h5";
  // A process that surely no longer exists: a child that exited and was reaped.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  REQUIRE(waitpid(child, nullptr, 0) == child);
  std::string host;
  {
    const AtomicOutput probe(final_path);  // its name shows this host's part: <final>.tmp.<host>.<pid>.<n>
    const std::string name = probe.temp_path().substr(final_path.size() + 5);
    const size_t pid_dot = name.rfind('.', name.rfind('.') - 1);
    host = name.substr(0, pid_dot);
    CHECK(name.substr(pid_dot + 1, name.rfind('.') - pid_dot - 1) == std::to_string(getpid()));
  }
  const auto touch = [](const std::string& path) { std::ofstream(path) << "partial"; };
  const std::string stale = final_path + ".tmp." + host + "." + std::to_string(child) + ".3";
  const std::string live = final_path + ".tmp." + host + "." + std::to_string(getppid()) + ".0";
  const std::string other_host = final_path + ".tmp.elsewhere-node7." + std::to_string(child) + ".0";
  const std::string not_ours = final_path + ".tmp.notes";
  const std::string other_output = std::string(dir / "out2.h5") + ".tmp." + host + "." + std::to_string(child) + ".0";
  for (const std::string& p : {stale, live, other_host, not_ours, other_output}) touch(p);
  const AtomicOutput out(final_path);
  CHECK_FALSE(std::filesystem::exists(stale));
  CHECK(std::filesystem::exists(live));
  CHECK(std::filesystem::exists(other_host));
  CHECK(std::filesystem::exists(not_ours));
  CHECK(std::filesystem::exists(other_output));
}

TEST_CASE("FP16 datasets hold numpy's IEEE roundings (not HDF5's) and read back exactly") {
  // data/golden/f16_rounding.txt (scripts/golden/f16_golden.py): float32 bits
  // and numpy's binary16 bits. HDF5 1.10's soft conversion differs on ties,
  // subnormals and values just below a power of two (0.99995 -> 0.5).
  std::ifstream in(LEXICO_SOURCE_DIR "/data/golden/f16_rounding.txt");
  REQUIRE(in);
  std::vector<float> x;
  std::vector<uint16_t> golden;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    uint32_t f = 0;
    unsigned h = 0;
    REQUIRE(std::sscanf(line.c_str(), "%x %x", &f, &h) == 2);
    x.push_back(std::bit_cast<float>(f));
    golden.push_back(uint16_t(h));
  }
  REQUIRE(x.size() > 2000);
  std::vector<uint16_t> direct(x.size());
  for (size_t i = 0; i < x.size(); ++i) direct[i] = float_to_half(x[i]);
  CHECK(direct == golden);

  const hsize_t n = x.size();
  test::TempDir dir;
  const std::string path = dir / "f16.h5";
  {
    h5::File f = h5::File::create(path);
    f.write_floats("/written", x.data(), {n}, h5::Storage::F16);
    f.write_floats("/appended", x.data(), {0, 1}, h5::Storage::F16, true);
    f.append_floats("/appended", x.data(), n);
  }
  const h5::File f = h5::File::open_read(path);
  for (const char* name : {"/written", "/appended"}) {
    CAPTURE(name);
    std::vector<uint16_t> bits(n);
    hid_t ds = H5Dopen2(f.id(), name, H5P_DEFAULT);
    REQUIRE(H5Dread(ds, h5::f16_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bits.data()) >= 0);
    H5Dclose(ds);
    CHECK(bits == golden);
    // Reading widens the halves exactly, as HDF5's own widening does.
    const std::vector<float> ours = f.read_floats(name);
    std::vector<float> theirs(n);
    ds = H5Dopen2(f.id(), name, H5P_DEFAULT);
    REQUIRE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, theirs.data()) >= 0);
    H5Dclose(ds);
    CHECK(std::memcmp(ours.data(), theirs.data(), n * sizeof(float)) == 0);
  }
}

TEST_CASE("KV dump round trip, fp32 and fp16, appended in windows") {
  test::TempDir dir;
  for (bool fp16 : {false, true}) {
    const std::string path = dir / (fp16 ? "d16.h5" : "d32.h5");
    KvDumpInfo info;
    info.model = "m";
    info.n_layers = 3;
    info.n_kv_heads = 2;
    info.head_dim = 4;
    info.fp16 = fp16;
    info.layers = {0, 2};
    std::vector<float> k(5 * 2 * 4), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = 0.25f * static_cast<float>(i);  // exact in fp16
      v[i] = -0.5f * static_cast<float>(i);
    }
    {
      KvDumpWriter w(path, info);
      w.append({7, 8, 9}, {0, 1, 2}, {k.data(), k.data()}, {v.data(), v.data()});
      w.append({10, 11}, {3, 4}, {k.data() + 24, k.data() + 24}, {v.data() + 24, v.data() + 24});
      w.close();
    }
    KvDumpReader r(path);
    CHECK(r.n_tokens() == 5);
    CHECK(r.info().layers == std::vector<int>{0, 2});
    CHECK(r.info().head_dim == 4);
    CHECK(r.tokens() == std::vector<int32_t>{7, 8, 9, 10, 11});
    CHECK(r.positions() == std::vector<int32_t>{0, 1, 2, 3, 4});
    CHECK(r.read(2, KvKind::Keys) == k);
    CHECK(r.read(0, KvKind::Values) == v);
    CHECK(r.read(0, KvKind::Values, 3, 2) == std::vector<float>(v.begin() + 24, v.end()));
    CHECK(error_of([&] { r.read(1, KvKind::Keys); }).find("has no layer 1") != std::string::npos);
  }
}

TEST_CASE("KV dump readers reject bad files with the file named") {
  test::TempDir dir;
  CHECK(error_of([&] { KvDumpReader(dir / "missing.h5"); }).find("missing.h5: no such file") != std::string::npos);
  { std::ofstream(dir / "text.h5") << "not hdf5 at all"; }
  CHECK(error_of([&] { KvDumpReader(dir / "text.h5"); }).find("not an HDF5 file") != std::string::npos);

  SyntheticDumpSpec spec;
  spec.n_tokens = 300;
  write_synthetic_dump(dir / "ok.h5", spec);
  // A dictionary is not a dump.
  write_dictionary(dir / "dict.h5", random_dictionary(64, 128, {0, 1}, 2));
  CHECK(error_of([&] { KvDumpReader(dir / "dict.h5"); }).find("is a 'lexico-dictionary' file, expected 'lexico-kv-dump'") !=
        std::string::npos);
  // A newer version.
  std::filesystem::copy_file(dir / "ok.h5", dir / "v9.h5");
  { h5::File::open_rw(dir / "v9.h5").set_attr("/", "version", int64_t{9}); }
  CHECK(error_of([&] { KvDumpReader(dir / "v9.h5"); }).find("version 9 is not supported") != std::string::npos);
  // A truncated file.
  const auto size = std::filesystem::file_size(dir / "ok.h5");
  std::filesystem::copy_file(dir / "ok.h5", dir / "cut.h5");
  std::filesystem::resize_file(dir / "cut.h5", size / 2);
  CHECK(!error_of([&] {
          KvDumpReader r(dir / "cut.h5");
          r.read(1, KvKind::Values);
        }).empty());
  // NaN in the data is found and located.
  std::filesystem::copy_file(dir / "ok.h5", dir / "nan.h5");
  {
    h5::File f = h5::File::open_rw(dir / "nan.h5");
    auto v = f.read_floats("/layers/1/keys");
    v[2 * 64 * 5 + 64 + 3] = std::nanf("");  // token 5, head 1, channel 3
    H5Ldelete(f.id(), "/layers/1/keys", H5P_DEFAULT);
    f.write_floats("/layers/1/keys", v.data(), {300, 2, 64}, h5::Storage::F32);
  }
  CHECK(error_of([&] { KvDumpReader(dir / "nan.h5").read(1, KvKind::Keys); })
            .find("non-finite value (nan) at token 5, head 1, channel 3") != std::string::npos);
}

TEST_CASE("dictionary round trip keeps atoms, metadata and checksum") {
  test::TempDir dir;
  Dictionary d = random_dictionary(16, 40, {1, 3}, 4);
  write_dictionary(dir / "d.h5", d);
  Dictionary r = read_dictionary(dir / "d.h5");
  CHECK(r.n_atoms == 40);
  CHECK(r.head_dim == 16);
  CHECK(r.n_layers == 4);
  CHECK(r.has_layer(3));
  CHECK(!r.has_layer(0));
  CHECK(r.at(1, KvKind::Keys) == d.at(1, KvKind::Keys));
  CHECK(r.at(3, KvKind::Values) == d.at(3, KvKind::Values));
  CHECK(r.text_attrs.at("source") == "unit test");
  CHECK(r.number_attrs.at("train.sparsity") == 8);
  CHECK(r.layers.at(1).series.at("val_rre_keys") == std::vector<double>{0.5, 0.25});
  CHECK(r.content_sha256() == d.content_sha256());
  Dictionary changed = d;
  changed.layers[1].keys(0, 0) += 1e-6f;
  CHECK(changed.content_sha256() != d.content_sha256());
}

TEST_CASE("dictionary reader rejects bad atoms and tampering") {
  test::TempDir dir;
  Dictionary d = random_dictionary(8, 20, {0}, 1);
  d.layers[0].keys.col(3) *= 2.f;
  write_dictionary(dir / "norm.h5", d);
  CHECK(error_of([&] { read_dictionary(dir / "norm.h5"); }).find("atom 3 has norm 2") != std::string::npos);

  Dictionary ok = random_dictionary(8, 20, {0}, 1);
  write_dictionary(dir / "ok.h5", ok);
  {
    h5::File f = h5::File::open_rw(dir / "ok.h5");
    auto v = f.read_floats("/layers/0/values");
    std::swap(v[0], v[1]);  // atom 0 keeps its norm, the content changes
    H5Ldelete(f.id(), "/layers/0/values", H5P_DEFAULT);
    f.write_floats("/layers/0/values", v.data(), {20, 8}, h5::Storage::F32);
  }
  CHECK(error_of([&] { read_dictionary(dir / "ok.h5"); }).find("checksum mismatch") != std::string::npos);

  Dictionary nan = random_dictionary(8, 20, {0}, 1);
  nan.layers[0].values(2, 5) = std::numeric_limits<float>::infinity();
  write_dictionary(dir / "inf.h5", nan);
  CHECK(error_of([&] { read_dictionary(dir / "inf.h5"); }).find("non-finite value in atom 5") != std::string::npos);
}
