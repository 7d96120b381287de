// Building blocks shared by the cache implementations (private to lib/cache):
// an FP16 row store with cheap removal at the front, FP16 rounding with a
// chosen direction, the affine (min/scale) quantizer, bit packing, dense
// causal attention over float keys and values, and spec option reading.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lexico::cache_detail {

// Rows of `width` FP16 numbers, appended at the back and dropped at the front.
// Dropping only moves a start offset; the dead prefix is reclaimed (one
// memmove) once it is as long as the live part, so a steady push-one/pop-one
// pattern does no allocation once the capacity is reached.
class HalfRows {
 public:
  explicit HalfRows(int width = 0) : width_(width) {}
  int width() const { return width_; }
  int64_t size() const { return n_; }
  // Appends n rows of width floats (contiguous), rounded to FP16.
  void push(const float* rows, int64_t n);
  void pop_front(int64_t n);
  void clear();
  const uint16_t* row(int64_t i) const { return data_.data() + static_cast<size_t>(start_ + i) * width_; }
  // Elements [col0, col0 + len) of rows [r0, r1) as floats, rows `len` apart in dst.
  void to_float(int64_t r0, int64_t r1, int col0, int len, float* dst) const;
  // Live rows only (allocator slack and the dead prefix are not counted).
  size_t bytes() const { return static_cast<size_t>(n_) * width_ * sizeof(uint16_t); }

 private:
  std::vector<uint16_t> data_;
  int64_t start_ = 0, n_ = 0;
  int width_ = 0;
};

// Grows v to at least n elements (never shrinks: no reallocation once large enough).
inline float* ensure(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// FP16 codes rounded toward -inf / +inf (inputs clamped to ±65504 first).
uint16_t half_round_down(float x);
uint16_t half_round_up(float x);

// Asymmetric quantization to `bits` bits: x ≈ code·scale + zero, scale and
// zero FP16. zero is min rounded down and scale rounded up so that the grid
// covers [lo, hi]: every x in [lo, hi] then dequantizes within scale/2.
struct Affine {
  uint16_t scale = 0, zero = 0;
};
Affine affine_params(float lo, float hi, int bits);
inline int affine_code(float x, float scale, float zero, int levels) {
  if (!(scale > 0.0f)) return 0;
  const float c = (x - zero) / scale + 0.5f;
  return c <= 0.0f ? 0 : c >= float(levels) ? levels : static_cast<int>(c);
}

// n codes of `bits` (2, 4 or 8) bits, packed LSB-first: code i sits in byte
// i·bits/8 at bit (i·bits)%8. packed_bytes(n, bits) = ⌈n·bits/8⌉.
inline size_t packed_bytes(int64_t n, int bits) { return static_cast<size_t>((n * bits + 7) / 8); }
void pack_codes(const uint8_t* codes, int64_t n, int bits, uint8_t* out);
inline int unpack_code(const uint8_t* packed, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (packed[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

// Which rows of a dense key/value block query i (0-based in its block) sees:
// the sink rows [0, min(n_sink, sink0 + i)) and the rows
// [max(lo0 + lo_step·i, n_sink), hi0 + i). Plain causal attention over rows
// in position order: n_sink = 0, lo0 = 0, lo_step = 0, hi0 = 1 + the first
// query's row.
struct Visibility {
  int64_t n_sink = 0, sink0 = 0;
  int64_t lo0 = 0;
  int lo_step = 0;
  int64_t hi0 = 0;
};

// Softmax attention of n_queries queries (rows q_stride floats apart) over
// dense keys/values [n_rows, head_dim] (row-major, contiguous), scores scaled
// by `scale`, max-subtracted; out rows out_stride floats apart. Processes the
// queries in blocks; every query must see at least one row.
void dense_attend(const float* q, int64_t q_stride, int n_queries, const float* keys, const float* values,
                  int head_dim, float scale, const Visibility& vis, float* out, int64_t out_stride);

// Attention for caches that materialize float keys and values per KV head
// (the quantization and eviction baselines): for each KV head, in parallel,
// fill(kv_head, keys, values) writes `rows` rows [rows, head_dim] of each;
// then every query head of the group attends with dense_attend and `vis`.
// q and out are [n_tokens, n_heads, head_dim].
struct CacheShapeRef {
  int n_heads, n_kv_heads, head_dim;
};
template <typename Fill>
void attend_heads(const CacheShapeRef& shape, const float* q, int n_tokens, int64_t rows, const Visibility& vis,
                  float* out, Fill&& fill);

// Options of a cache spec "name:opt,opt=value,...", read one key at a time so
// that unknown or repeated keys and malformed values give a usage error.
class SpecOptions {
 public:
  // `text` is what follows the colon (may be empty); `spec` is the whole
  // spec, for messages.
  SpecOptions(const std::string& spec, const std::string& text);
  // A leading item without '=' (e.g. the 256 of "window:256"), once.
  bool take_positional(std::string& value);
  bool has(const std::string& key) const;
  int get_int(const std::string& key, int fallback, int min, int max);
  double get_double(const std::string& key, double fallback, double min, double max, bool max_open = false);
  bool get_flag(const std::string& key, bool fallback);
  // Throws a usage error naming the first item not read, listing `allowed`.
  void finish(const std::string& allowed) const;

 private:
  const std::string* find(const std::string& key);
  std::string spec_;
  std::vector<std::pair<std::string, std::string>> items_;  // key, value ("" for a bare key)
  std::vector<bool> used_;
  bool positional_ = false;  // items_[0] is a bare value
};

template <typename Fill>
void attend_heads(const CacheShapeRef& shape, const float* q, int n_tokens, int64_t rows, const Visibility& vis,
                  float* out, Fill&& fill) {
  const int nh = shape.n_heads, nkv = shape.n_kv_heads, hd = shape.head_dim, group = nh / nkv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
#pragma omp parallel
  {
    std::vector<float> keys(static_cast<size_t>(rows) * hd), values(static_cast<size_t>(rows) * hd);
#pragma omp for schedule(dynamic)
    for (int g = 0; g < nkv; ++g) {
      fill(g, keys.data(), values.data());
      for (int h = g * group; h < (g + 1) * group; ++h)
        dense_attend(q + static_cast<size_t>(h) * hd, int64_t(nh) * hd, n_tokens, keys.data(), values.data(), hd,
                     scale, vis, out + static_cast<size_t>(h) * hd, int64_t(nh) * hd);
    }
  }
}

}  // namespace lexico::cache_detail
