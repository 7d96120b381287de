// GCC 12 flags Eigen's AVX-512 GEMM packing (_mm512_undefined_ps, GCC bug
// 105593) with a false -Wmaybe-uninitialized; the pragma must precede the
// first include of the intrinsics headers to cover the inlined code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "cache/cache_util.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <Eigen/Core>

#include "lexico/error.h"
#include "lexico/half.h"

namespace lexico::cache_detail {

namespace {
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using StridedConstMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using StridedMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
constexpr float kHalfMax = 65504.0f;
}  // namespace

void HalfRows::push(const float* rows, int64_t n) {
  if (n <= 0) return;
  if (start_ > 0 && start_ >= n_) {  // reclaim the dead prefix
    std::memmove(data_.data(), data_.data() + static_cast<size_t>(start_) * width_,
                 static_cast<size_t>(n_) * width_ * sizeof(uint16_t));
    start_ = 0;
  }
  const size_t old = static_cast<size_t>(start_ + n_) * width_;
  const size_t count = static_cast<size_t>(n) * width_;
  data_.resize(old + count);
  uint16_t* dst = data_.data() + old;
  size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= count; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(rows + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < count; ++i) dst[i] = float_to_half(rows[i]);
  n_ += n;
}

void HalfRows::pop_front(int64_t n) {
  n = std::min(n, n_);
  start_ += n;
  n_ -= n;
  if (n_ == 0) {
    start_ = 0;
    data_.clear();  // keeps the capacity
  }
}

void HalfRows::clear() {
  data_ = {};
  start_ = n_ = 0;
}

void HalfRows::to_float(int64_t r0, int64_t r1, int col0, int len, float* dst) const {
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* src = row(r) + col0;
    int i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= len; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
    for (; i < len; ++i) dst[i] = half_to_float(src[i]);
    dst += len;
  }
}

uint16_t half_round_down(float x) {
  x = std::clamp(x, -kHalfMax, kHalfMax);
  uint16_t h = float_to_half(x);
  if (half_to_float(h) > x) h = h == 0x0000u ? 0x8001u : (h & 0x8000u) ? uint16_t(h + 1) : uint16_t(h - 1);
  return h;
}

uint16_t half_round_up(float x) {
  x = std::clamp(x, -kHalfMax, kHalfMax);
  uint16_t h = float_to_half(x);
  if (half_to_float(h) < x) h = h == 0x8000u ? 0x0001u : (h & 0x8000u) ? uint16_t(h - 1) : uint16_t(h + 1);
  return h;
}

Affine affine_params(float lo, float hi, int bits) {
  const int levels = (1 << bits) - 1;
  Affine a;
  a.zero = half_round_down(lo);
  const float zero = half_to_float(a.zero);
  const float range = (std::min(hi, kHalfMax) - zero) / float(levels);
  a.scale = range > 0.0f ? half_round_up(range) : uint16_t(0);
  return a;
}

void pack_codes(const uint8_t* codes, int64_t n, int bits, uint8_t* out) {
  std::memset(out, 0, packed_bytes(n, bits));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t bit = i * bits;
    out[bit >> 3] = uint8_t(out[bit >> 3] | (codes[i] << (bit & 7)));
  }
}

void dense_attend(const float* q, int64_t q_stride, int n_queries, const float* keys, const float* values,
                  int head_dim, float scale, const Visibility& vis, float* out, int64_t out_stride) {
  constexpr int kBlock = 64;
  RowMatrix scores;
  for (int b0 = 0; b0 < n_queries; b0 += kBlock) {
    const int bt = std::min(kBlock, n_queries - b0);
    const int64_t rows = vis.hi0 + b0 + bt - 1;  // the block's last query sees up to here
    const StridedConstMap queries(q + b0 * q_stride, bt, head_dim, Eigen::OuterStride<>(q_stride));
    const ConstMap k(keys, rows, head_dim), v(values, rows, head_dim);
    StridedMap o(out + b0 * out_stride, bt, head_dim, Eigen::OuterStride<>(out_stride));
    scores.noalias() = (queries * k.transpose()) * scale;
    for (int i = 0; i < bt; ++i) {
      const int64_t qi = b0 + i;
      const int64_t n_sink = std::clamp<int64_t>(vis.sink0 + qi, 0, vis.n_sink);
      const int64_t lo = std::max<int64_t>(vis.lo0 + vis.lo_step * qi, vis.n_sink), hi = vis.hi0 + qi;
      float* row = scores.row(i).data();
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n_sink; ++j) m = std::max(m, row[j]);
      for (int64_t j = lo; j < hi; ++j) m = std::max(m, row[j]);
      float sum = 0.0f;
      for (int64_t j = 0; j < rows; ++j) {
        const bool visible = j < n_sink || (j >= lo && j < hi);
        row[j] = visible ? std::exp(row[j] - m) : 0.0f;
        sum += row[j];
      }
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < rows; ++j) row[j] *= inv;
    }
    o.noalias() = scores * v;
  }
}

// ---------------------------------------------------------------------------

SpecOptions::SpecOptions(const std::string& spec, const std::string& text) : spec_(spec) {
  if (text.empty()) return;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    if (item.empty()) usage_error(spec_, "empty option in the cache spec");
    const size_t eq = item.find('=');
    std::string key = eq == std::string::npos ? item : item.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key.empty()) usage_error(spec_, "option '{}' has no name", item);
    if (eq != std::string::npos && value.empty()) usage_error(spec_, "option '{}' has no value", key);
    for (const auto& [k, v] : items_)
      if (k == key) usage_error(spec_, "option '{}' is given twice", key);
    items_.emplace_back(std::move(key), std::move(value));
    if (end == text.size()) break;
    begin = end + 1;
  }
  used_.assign(items_.size(), false);
}

bool SpecOptions::take_positional(std::string& value) {
  if (items_.empty() || used_[0] || !items_[0].second.empty()) return false;
  const std::string& key = items_[0].first;
  if (key.empty() || !(std::isdigit(static_cast<unsigned char>(key[0])) || key[0] == '.' || key[0] == '-'))
    return false;
  value = key;
  used_[0] = true;
  positional_ = true;
  return true;
}

bool SpecOptions::has(const std::string& key) const {
  for (const auto& item : items_)
    if (item.first == key) return true;
  return false;
}

const std::string* SpecOptions::find(const std::string& key) {
  for (size_t i = 0; i < items_.size(); ++i)
    if (items_[i].first == key && !(positional_ && i == 0)) {
      used_[i] = true;
      return &items_[i].second;
    }
  return nullptr;
}

int SpecOptions::get_int(const std::string& key, int fallback, int min, int max) {
  const std::string* text = find(key);
  if (!text) return fallback;
  int value = 0;
  const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || value < min || value > max)
    usage_error(spec_, "option '{}' needs an integer in [{}, {}], got '{}'", key, min, max, *text);
  return value;
}

double SpecOptions::get_double(const std::string& key, double fallback, double min, double max, bool max_open) {
  const std::string* text = find(key);
  if (!text) return fallback;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || !std::isfinite(value) || value < min ||
      (max_open ? value >= max : value > max))
    usage_error(spec_, "option '{}' needs a number in [{}, {}{}, got '{}'", key, min, max, max_open ? ")" : "]",
                *text);
  return value;
}

bool SpecOptions::get_flag(const std::string& key, bool fallback) {
  const std::string* text = find(key);
  if (!text) return fallback;
  if (text->empty() || *text == "1" || *text == "true" || *text == "yes") return true;
  if (*text == "0" || *text == "false" || *text == "no") return false;
  usage_error(spec_, "option '{}' is a flag: give it bare or as {}=0/1, got '{}'", key, key, *text);
}

void SpecOptions::finish(const std::string& allowed) const {
  for (size_t i = 0; i < items_.size(); ++i)
    if (!used_[i])
      usage_error(spec_, "unknown option '{}' (this cache takes: {})", items_[i].first,
                  allowed.empty() ? "no options" : allowed);
}

}  // namespace lexico::cache_detail
