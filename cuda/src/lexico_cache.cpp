#include "lexico/cuda/lexico_cache.h"

#include <algorithm>

#include <fmt/format.h>

#include "cache_kernels.cuh"
#include "lexico/error.h"
#include "omp_kernel.cuh"

namespace lexico::cuda {

namespace {

using cache_detail::RowBlock;

// LexicoCache's option checks (same messages), before anything is uploaded.
LexicoOptions checked(const CacheShape& shape, const Dictionary& dict, const LexicoOptions& o) {
  check_dictionary(dict, shape);
  const int max_s = std::min(shape.head_dim, dict.n_atoms);
  if (o.sparsity < 1 || o.sparsity > max_s)
    usage_error("lexico cache", "sparsity s={} is outside 1..{} (min of head_dim {} and {} atoms)", o.sparsity, max_s,
                shape.head_dim, dict.n_atoms);
  if (!(o.tolerance >= 0.0f && o.tolerance < 1.0f))
    usage_error("lexico cache", "tolerance delta={} is outside [0, 1)", o.tolerance);
  if (o.buffer < 0) usage_error("lexico cache", "buffer {} is negative", o.buffer);
  return o;
}

// dense_shape's step over `capacity` rows, plus the codes (N, s) and the buffer's rows.
DecodeShape decode_shape(const CacheShape& shape, int n_atoms, const LexicoOptions& o, int64_t capacity,
                         int max_step, int buffer_rows) {
  DecodeShape d = cache_detail::dense_shape(shape, capacity, max_step);
  d.n_atoms = n_atoms;
  d.sparsity = o.sparsity;
  d.buffer_capacity = buffer_rows;
  // A longer buffer (a prompt of more than N − n_b tokens, still exact) takes the dense plan.
  d.max_buffered = std::min(n_atoms, d.buffer_capacity);
  return d;
}

OmpOptions omp_options(const LexicoOptions& o) {
  OmpOptions omp;
  omp.sparsity = o.sparsity;
  omp.tolerance = o.tolerance;
  omp.fp8_refit = o.fp8_refit;
  return omp;
}

// The encoder's dictionaries: every layer's keys, then every layer's values.
GpuOmpEncoder make_encoder(const CacheShape& shape, const Dictionary& dict, const LexicoOptions& o, int max_step) {
  const std::string why = GpuLexicoCache::unsupported_reason(shape, dict.n_atoms, o, max_step);
  if (!why.empty()) throw Error(ErrorKind::Internal, "cuda", "GPU lexico cache: " + why);
  std::vector<Eigen::MatrixXf> dicts;
  for (KvKind kind : {KvKind::Keys, KvKind::Values})
    for (int l = 0; l < shape.n_layers; ++l) dicts.push_back(dict.at(l, kind));
  return GpuOmpEncoder(dicts);
}

int checked_encode_batch(const CacheShape& shape, int encode_batch, bool overlap) {
  if (encode_batch < 0 || encode_batch > GpuLexicoCache::kMaxEncodeBatch)
    usage_error("lexico cache", "an encode batch of {} tokens is outside 0..{}", encode_batch,
                GpuLexicoCache::kMaxEncodeBatch);
  if (!overlap) {
    if (encode_batch > 1)
      usage_error("lexico cache", "serial encoding codes every step; an encode batch of {} needs overlap",
                  encode_batch);
    return 1;
  }
  return encode_batch == 0 ? GpuLexicoCache::auto_encode_batch(shape) : encode_batch;
}

}  // namespace

std::string GpuLexicoCache::unsupported_reason(const CacheShape& shape, int n_atoms, const LexicoOptions& o,
                                               int max_step) {
  std::string why = GpuOmpEncoder::unsupported_reason(shape.head_dim, n_atoms, omp_options(o));
  if (why.empty())
    why = SparseDecodeAttention::unsupported_reason(decode_shape(shape, n_atoms, o, 1, max_step, o.buffer + max_step));
  return why;
}

int GpuLexicoCache::auto_encode_batch(const CacheShape& shape) {
  // Rounded down: a tile and a sliver (66 vectors at 3 KV heads) would take
  // two blocks, each streaming the dictionary every pursuit step.
  constexpr int kTile = omp_detail::kTileVectors;  // the encoder's bulk tile
  return std::clamp(kTile / shape.n_kv_heads, 1, kMaxEncodeBatch);
}

GpuLexicoCache::GpuLexicoCache(CacheShape shape, const Dictionary& dictionary, LexicoOptions options,
                               int64_t capacity, int max_step, bool overlap_encoding, int encode_batch)
    : GpuKvCache(shape, capacity, max_step), options_(checked(shape, dictionary, options)),
      n_atoms_(dictionary.n_atoms), encode_batch_(checked_encode_batch(shape, encode_batch, overlap_encoding)),
      code_rows_(max_step + encode_batch_ - 1), base_buffer_capacity_(options_.buffer + code_rows_),
      buffer_capacity_(base_buffer_capacity_),
      encoder_(make_encoder(shape, dictionary, options_, max_step)), compressed_(shape.n_layers, 0),
      buffered_(shape.n_layers, 0), overlap_(overlap_encoding),
      attention_(decode_shape(shape, dictionary.n_atoms, options_, capacity, max_step, int(base_buffer_capacity_))),
      dense_attention_(cache_detail::dense_shape(shape, scratch_rows(), max_step)) {
  const size_t L = shape.n_layers, H = shape.n_kv_heads, m = shape.head_dim, s = options_.sparsity;
  // Encoding beside the next step's kernels: one SM a tile, not two.
  encoder_.set_split_tiles(!overlap_);
  // The attention reads the encoder's FP16 atoms, [N][m] where m is 64 or 128.
  if (encoder_.atom_stride() != shape.head_dim)
    internal_error("lexico cache", "the encoder pads atoms of {} to {}", shape.head_dim, encoder_.atom_stride());
  indices_.resize(2 * L * H * capacity * s, "lexico cache indices");
  codes_.resize(indices_.size(), "lexico cache coefficients");
  buffer_.resize(2 * L * H * buffer_capacity_ * m, "lexico cache buffer");
  encode_in_.resize(2 * L * H * code_rows_ * m, "lexico cache encoder input");
  slot_indices_.resize(2 * L * H * code_rows_ * s, "lexico cache encoder indices");
  slot_codes_.resize(slot_indices_.size(), "lexico cache encoder coefficients");
  shift_.resize(2 * L * H * buffer_capacity_ * m, "lexico cache buffer shift");
  compressed_lengths_.resize(max_step, "lexico cache lengths");
  buffer_lengths_.resize(max_step, "lexico cache lengths");
  dense_lengths_.resize(max_step, "lexico cache lengths");
  // One layer's rows, reused by every layer: allocated here so that no step
  // can run out of memory halfway.
  dense_keys_.resize(H * scratch_rows() * m, "lexico cache dense scratch");
  dense_values_.resize(dense_keys_.size(), "lexico cache dense scratch");
  if (overlap_) {
    LEXICO_CUDA_CHECK(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
    LEXICO_CUDA_CHECK(cudaEventCreateWithFlags(&rows_ready_, cudaEventDisableTiming));
    LEXICO_CUDA_CHECK(cudaEventCreateWithFlags(&coded_, cudaEventDisableTiming));
  }
}

GpuLexicoCache::~GpuLexicoCache() {
  if (side_) cudaStreamSynchronize(side_);  // the encoder may still write into buffers freed below
  if (coded_) cudaEventDestroy(coded_);
  if (rows_ready_) cudaEventDestroy(rows_ready_);
  if (side_) cudaStreamDestroy(side_);
}

std::string GpuLexicoCache::name() const {
  std::string n = fmt::format("lexico:s={}", options_.sparsity);
  if (options_.tolerance > 0) n += fmt::format(",delta={}", options_.tolerance);
  n += fmt::format(",buffer={}", options_.buffer);
  if (options_.fp8_refit) n += ",refit";
  return n + " (GPU)";
}

size_t GpuLexicoCache::used_bytes() const {
  size_t n = 0;
  const size_t per_code = 3 * size_t(options_.sparsity), per_row = 2 * size_t(shape_.head_dim);
  for (int l = 0; l < shape_.n_layers; ++l)
    n += 2 * size_t(shape_.n_kv_heads) * (compressed_[l] * per_code + buffered_[l] * per_row);
  return n;
}

size_t GpuLexicoCache::table_bytes() const { return encoder_.device_bytes(); }

size_t GpuLexicoCache::workspace_bytes() const {
  return attention_.workspace_bytes() + dense_attention_.workspace_bytes() + dense_keys_.bytes() +
         dense_values_.bytes();
}

CompressedKv GpuLexicoCache::layer_view(int layer) const {
  const size_t L = shape_.n_layers, H = shape_.n_kv_heads, m = shape_.head_dim, s = options_.sparsity;
  const size_t code_layer = H * capacity_ * s, buffer_layer = H * buffer_capacity_ * m;
  CompressedKv kv;
  kv.key_indices = indices_.data() + layer * code_layer;
  kv.key_codes = codes_.data() + layer * code_layer;
  kv.value_indices = indices_.data() + (L + layer) * code_layer;
  kv.value_codes = codes_.data() + (L + layer) * code_layer;
  kv.key_buffer = buffer_.data() + layer * buffer_layer;
  kv.value_buffer = buffer_.data() + (L + layer) * buffer_layer;
  kv.compressed_length = compressed_lengths_.data();
  kv.buffer_length = buffer_lengths_.data();
  kv.buffer_rows = buffer_capacity_;
  kv.key_dictionary = encoder_.device_atoms_fp16(layer);
  kv.value_dictionary = encoder_.device_atoms_fp16(int(L) + layer);
  kv.one_sequence = true;
  return kv;
}

namespace {

// The layer as the densify kernels read it.
cache_detail::CodedLayer coded_layer(const CompressedKv& kv, int64_t code_rows, int64_t buffer_rows) {
  cache_detail::CodedLayer coded;
  coded.indices[0] = kv.key_indices, coded.indices[1] = kv.value_indices;
  coded.codes[0] = kv.key_codes, coded.codes[1] = kv.value_codes;
  coded.dictionary[0] = kv.key_dictionary, coded.dictionary[1] = kv.value_dictionary;
  coded.buffer[0] = kv.key_buffer, coded.buffer[1] = kv.value_buffer;
  coded.code_rows = code_rows;
  coded.buffer_rows = buffer_rows;
  return coded;
}

}  // namespace

void GpuLexicoCache::append(int layer, const float* k, const float* v, int n_tokens, cudaStream_t stream) {
  if (n_tokens < 1 || n_tokens > max_step_)
    usage_error(name(), "a step of {} tokens is outside 1..{}", n_tokens, max_step_);
  if (length(layer) + n_tokens > capacity_)
    usage_error(name(), "{} positions exceed the cache's capacity of {}", length(layer) + n_tokens, capacity_);
  if (pending_ > 0 && buffered_.at(layer) + n_tokens > buffer_capacity_) commit(stream);  // needs the rows now
  const int64_t b = buffered_.at(layer);
  if (b + n_tokens > buffer_capacity_)
    usage_error(name(), "layer {} was appended to twice without finish_step ({} buffered tokens, room for {})",
                layer, b + n_tokens, buffer_capacity_);
  const size_t L = shape_.n_layers, H = shape_.n_kv_heads, m = shape_.head_dim;
  const size_t buffer_layer = H * buffer_capacity_ * m;
  uint16_t* buffer_k = buffer_.data() + layer * buffer_layer;
  uint16_t* buffer_v = buffer_.data() + (L + layer) * buffer_layer;
  const int64_t c = compressed_[layer];
  const cache_detail::StepLengths lengths{buffer_lengths_.data(), compressed_lengths_.data(), c,
                                          dense_lengths_.data()};
  if (dense_plan(c, n_tokens, b + n_tokens)) {
    cache_detail::append_densify(k, v, n_tokens, coded_layer(layer_view(layer), capacity_, buffer_capacity_),
                                 buffer_k, buffer_v, int(H), c, b, options_.sparsity, int(m), lengths,
                                 dense_keys_.data(), dense_values_.data(), scratch_rows(), stream);
    scratch_ = {layer, c, b + n_tokens};
  } else {
    cache_detail::append_step(k, v, n_tokens, int(H), int(m), buffer_k, buffer_v, buffer_capacity_, b, lengths,
                              stream);
    scratch_.layer = -1;  // attend reconstructs if it takes the dense plan after all
  }
  buffered_[layer] = b + n_tokens;
  last_append_ = n_tokens;
}

bool GpuLexicoCache::dense_plan(int64_t compressed, int n_tokens, int64_t buffered) const {
  if (compressed == 0) return false;
  if (n_tokens > 1 || buffered > n_atoms_) return true;
  if (compressed > densify_limit_) return false;
  CompressedKv kv;  // the one launch of the cluster kernel beats the reconstruction's two (docs/benchmarks.md)
  kv.buffer_rows = buffer_capacity_;
  return !attention_.takes_cluster_kernel(kv, compressed, buffered);
}

void GpuLexicoCache::attend(int layer, const float* q, int n_tokens, float* out, cudaStream_t stream) {
  const int64_t b = buffered_.at(layer);
  if (n_tokens != last_append_)
    usage_error(name(), "attend for {} queries, but the step appended {} positions", n_tokens, last_append_);
  const int64_t c = compressed_[layer];
  const CompressedKv kv = layer_view(layer);
  if (c == 0) {
    dense_attention_.run(kv.key_buffer, kv.value_buffer, buffer_capacity_, buffer_lengths_.data(), q, out, n_tokens, b,
                         stream, /*one_sequence=*/true);
    return;
  }
  if (!dense_plan(c, n_tokens, b)) {
    attention_.run(kv, q, out, n_tokens, c, stream, b);  // b ≤ N here: the sparse kernels' limit
    return;
  }
  const int64_t rows = scratch_rows();
  const bool ready = scratch_.layer == layer && scratch_.compressed == c && scratch_.buffered == b;
  if (!ready) {  // the append took the other plan, rows moved since, or another layer's rows are there
    cache_detail::densify(coded_layer(kv, capacity_, buffer_capacity_), shape_.n_kv_heads, c, b, options_.sparsity,
                          shape_.head_dim, dense_keys_.data(), dense_values_.data(), rows, stream);
    scratch_ = {layer, c, b};
  }
  dense_attention_.run(dense_keys_.data(), dense_values_.data(), rows, dense_lengths_.data(), q, out, n_tokens, c + b,
                       stream, /*one_sequence=*/true);
}

void GpuLexicoCache::check_layers_in_step() const {
  for (int l = 1; l < shape_.n_layers; ++l)
    if (buffered_[l] != buffered_[0] || compressed_[l] != compressed_[0])
      usage_error(name(), "layers differ in length (layer 0 holds {}, layer {} holds {}): every layer appends and "
                          "attends in a step",
                  length(0), l, length(l));
}

void GpuLexicoCache::begin_forward(int64_t n_tokens, int step_tokens, cudaStream_t stream) {
  if (n_tokens <= step_tokens) return;  // one step: exact in the buffer until finish_step
  check_layers_in_step();
  if (length(0) + n_tokens > capacity_)
    usage_error(name(), "{} positions exceed the cache's capacity of {}", length(0) + n_tokens, capacity_);
  commit(stream);  // from here to the call's end the buffer only grows
  // Room for the call and for the next step's tokens while the call's codes
  // are still being computed (overlapped).
  const int64_t rows = buffered_[0] + n_tokens + code_rows_;
  if (rows > buffer_capacity_) resize_buffer(rows, stream);
  hold_until_ = length(0) + n_tokens;
}

void GpuLexicoCache::finish_step(cudaStream_t stream) {
  check_layers_in_step();
  commit(stream);
  if (length(0) < hold_until_) return;  // a forward call of several steps stays exact to its end
  const bool call_ended = hold_until_ > 0;
  hold_until_ = 0;
  const int64_t c = buffered_[0] - options_.buffer;  // tokens to code, per layer and KV head
  if (c < (call_ended ? 1 : encode_batch_)) {  // encode_batch ≥ 1
    shrink_buffer(stream);
    return;
  }
  cudaStream_t st = stream;
  if (overlap_) {  // the side stream starts once the main stream has written the rows
    LEXICO_CUDA_CHECK(cudaEventRecord(rows_ready_, stream));
    LEXICO_CUDA_CHECK(cudaStreamWaitEvent(side_, rows_ready_, 0));
    st = side_;
  }
  if (call_ended) {
    // All but n_b of the call, as LexicoCache codes a prompt after attending
    // it, in slices the encoder's input holds; the codes are stored as they
    // come (the rows after the compressed ones: no step reads them yet).
    for (int64_t done = 0; done < c;) {
      const int64_t slice = std::min<int64_t>(c - done, code_rows_);
      encode(slice, done, st);
      store_codes(slice, compressed_[0] + done, st);
      done += slice;
    }
  } else {
    encode(c, 0, st);
  }
  if (overlap_) LEXICO_CUDA_CHECK(cudaEventRecord(coded_, side_));
  pending_ = c;
  pending_stored_ = call_ended;
  if (!overlap_) commit(stream);
}

void GpuLexicoCache::flush(cudaStream_t stream) { commit(stream); }

void GpuLexicoCache::encode(int64_t c, int64_t row0, cudaStream_t stream) {
  const int L = shape_.n_layers, H = shape_.n_kv_heads, m = shape_.head_dim;
  const int groups = 2 * L * H;  // (kind, layer, KV head)
  // The rows stay put until their codes are committed, so the side stream may read them late.
  cache_detail::copy_rows_to_float(buffer_.data(), RowBlock{buffer_capacity_, row0}, encode_in_.data(),
                                   RowBlock{c, 0}, groups, c, m, stream);
  std::vector<int64_t> group_begin(2 * L + 1);
  for (int d = 0; d <= 2 * L; ++d) group_begin[d] = int64_t(d) * H * c;
  DeviceSlots slots;
  slots.indices = slot_indices_.data();
  slots.fp8 = slot_codes_.data();
  encoder_.encode_device(encode_in_.data(), int64_t(groups) * c, m, group_begin, omp_options(options_), slots,
                         stream);
}

void GpuLexicoCache::store_codes(int64_t c, int64_t t0, cudaStream_t stream) {
  const int groups = 2 * shape_.n_layers * shape_.n_kv_heads, s = options_.sparsity;
  cache_detail::copy_rows(slot_indices_.data(), RowBlock{c, 0}, indices_.data(), RowBlock{capacity_, t0}, groups, c,
                          s, stream);
  cache_detail::copy_rows(slot_codes_.data(), RowBlock{c, 0}, codes_.data(), RowBlock{capacity_, t0}, groups, c, s,
                          stream);
}

void GpuLexicoCache::commit(cudaStream_t stream) {
  if (pending_ == 0) return;
  check_layers_in_step();  // the rows to drop sit at the front of every layer's buffer alike
  if (overlap_) LEXICO_CUDA_CHECK(cudaStreamWaitEvent(stream, coded_, 0));
  if (!pending_stored_) store_codes(pending_, compressed_[0], stream);
  const int L = shape_.n_layers, groups = 2 * L * shape_.n_kv_heads, m = shape_.head_dim;
  const int64_t c = pending_, keep = buffered_[0] - c;
  // The rows after the coded ones move to the front (through a scratch copy: the ranges may overlap).
  if (keep > 0) {
    cache_detail::copy_rows(buffer_.data(), RowBlock{buffer_capacity_, c}, shift_.data(), RowBlock{keep, 0}, groups,
                            keep, m, stream);
    cache_detail::copy_rows(shift_.data(), RowBlock{keep, 0}, buffer_.data(), RowBlock{buffer_capacity_, 0}, groups,
                            keep, m, stream);
  }
  for (int l = 0; l < L; ++l) {
    compressed_[l] += c;
    buffered_[l] = keep;
  }
  pending_ = 0;
  if (hold_until_ == 0) shrink_buffer(stream);
}

void GpuLexicoCache::resize_buffer(int64_t rows, cudaStream_t stream) {
  const int groups = 2 * shape_.n_layers * shape_.n_kv_heads, m = shape_.head_dim;
  DeviceBuffer<uint16_t> moved(size_t(groups) * rows * m, "lexico cache buffer (a forward call's exact rows)");
  cache_detail::copy_rows(buffer_.data(), RowBlock{buffer_capacity_, 0}, moved.data(), RowBlock{rows, 0}, groups,
                          buffered_[0], m, stream);
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));  // the copy has read the old rows before they are freed
  buffer_ = std::move(moved);
  buffer_capacity_ = rows;
}

void GpuLexicoCache::shrink_buffer(cudaStream_t stream) {
  if (buffer_capacity_ > base_buffer_capacity_ && pending_ == 0 && buffered_[0] <= base_buffer_capacity_)
    resize_buffer(base_buffer_capacity_, stream);
}

void GpuLexicoCache::code(int layer, int kv_head, KvKind kind, int64_t token, std::vector<uint16_t>& indices,
                          std::vector<uint8_t>& coefficients) const {
  if (token < 0 || token >= compressed_.at(layer))
    usage_error(name(), "token {} is not compressed (layer {} holds {} compressed tokens)", token, layer,
                compressed_.at(layer));
  const size_t s = options_.sparsity;
  const size_t row = ((size_t(kind == KvKind::Keys ? 0 : 1) * shape_.n_layers + layer) * shape_.n_kv_heads + kv_head) *
                         size_t(capacity_) + size_t(token);
  indices.resize(s);
  coefficients.resize(s);
  LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
  LEXICO_CUDA_CHECK(cudaMemcpy(indices.data(), indices_.data() + row * s, s * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  LEXICO_CUDA_CHECK(cudaMemcpy(coefficients.data(), codes_.data() + row * s, s, cudaMemcpyDeviceToHost));
}

}  // namespace lexico::cuda
