#include "lexico/cuda/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "attention_kernel.cuh"
#include "lexico/error.h"

namespace lexico::cuda {

namespace {

using attn_detail::kMaxSplits;
// Fewest tokens a split takes: below, a block's fixed work (qD into shared
// memory, the sort's scan over N atoms, N partial sums out) outweighs its tokens.
constexpr int64_t kSparseMinTokens = 512, kDenseMinTokens = 512;
// Queries of one sequence's step from which the tensor-core prefill kernel
// (a block: 64 queries of a head, K and V read once a block) replaces
// flash-decoding (K and V read once a query).
constexpr int kPrefillMinQueries = 16;
// Compressed and buffer rows × s up to which SparseKernel::Auto takes the
// cluster kernel, at or a little below its crossover with the three kernels
// measured on an H200 (docs/benchmarks.md): about 2,100–2,400 rows at s = 16
// and 2,900–3,400 at s = 8, at the 1B and 8B shapes.
constexpr int64_t kClusterAutoPairs = 24576;

void check_shape(const DecodeShape& s, const char* what) {
  if (s.batch < 1 || s.n_heads < 1 || s.n_kv_heads < 1 || s.n_heads % s.n_kv_heads != 0)
    usage_error(what, "batch {}, {} query heads and {} KV heads do not form a grouped-query shape", s.batch, s.n_heads,
                s.n_kv_heads);
  if (s.head_dim != 64 && s.head_dim != 128)
    throw Error(ErrorKind::Internal, "cuda",
                fmt::format("{}: head dimension {} is not handled on the GPU (64 or 128)", what, s.head_dim));
}

// Heads of one KV group a dense block handles: the largest of 8, 4, 2, 1
// that divides the group (a group of 3 gets 1: the kernels exist for these).
int dense_heads_per_block(int group) {
  for (int hb : {8, 4, 2}) if (group % hb == 0) return hb;
  return 1;
}

// Heads of one KV group a sparse block handles: the largest of 4, 2 and 1
// that shared memory allows and the group fills more than half of. A block
// reads and sorts its tokens' rows once for all its heads, so a group of 3
// takes one block of 4 with a padding slot rather than three blocks of 1.
int heads_per_block(const DecodeShape& s, size_t smem_limit) {
  const int group = s.n_heads / s.n_kv_heads;
  for (int hb : {4, 2, 1})
    if ((hb == 1 || group > hb / 2) && attn_detail::sparse_partial_smem(s.n_atoms, hb, s.sparsity) <= smem_limit)
      return hb;
  return 0;
}

int groups_of(int group, int hb) { return (group + hb - 1) / hb; }

struct SplitPlan {
  int splits = 1;
  int64_t tokens_per_split = 0;
};

// Splits before rounding: about `slots` blocks in all (one wave), each with
// at least 512 tokens. Non-decreasing in the length, so it bounds the final
// count of any length up to `max_tokens`, which plan_splits' rounding does
// not (a capacity of 11,300 plans 12 splits where 11,000 tokens plan 22).
int64_t max_splits(int64_t max_tokens, int64_t blocks_per_split, int slots, int64_t min_tokens) {
  const int64_t want = std::max<int64_t>(1, slots / blocks_per_split);
  const int64_t by_length = std::max<int64_t>(1, (max_tokens + min_tokens - 1) / min_tokens);
  return std::min<int64_t>({want, by_length, kMaxSplits});
}

// max_splits, with each split's tokens rounded up to a multiple of min_tokens.
SplitPlan plan_splits(int64_t max_tokens, int64_t blocks_per_split, int slots, int64_t min_tokens) {
  SplitPlan plan;
  const int64_t splits = max_splits(max_tokens, blocks_per_split, slots, min_tokens);
  int64_t per = (max_tokens + splits - 1) / splits;
  per = std::max<int64_t>(min_tokens, (per + min_tokens - 1) / min_tokens * min_tokens);
  plan.tokens_per_split = per;
  plan.splits = int(std::max<int64_t>(1, (max_tokens + per - 1) / per));
  return plan;
}

// Partial slots (batch·n_kv·groups·splits) a workspace needs for every batch ≤ s.batch.
size_t max_partials(const DecodeShape& s, int n_hg, int slots, int64_t min_tokens) {
  size_t most = 0;
  for (int b = 1; b <= s.batch; ++b) {
    const int64_t blocks_per_split = int64_t(b) * s.n_kv_heads * n_hg;
    const int64_t splits = max_splits(std::max<int64_t>(s.compressed_capacity, 1), blocks_per_split, slots, min_tokens);
    most = std::max(most, size_t(blocks_per_split) * size_t(splits));
  }
  return most;
}

}  // namespace

size_t compressed_kv_bytes(const DecodeShape& s) {
  const size_t vectors = size_t(s.batch) * s.n_kv_heads;
  return vectors * size_t(s.compressed_capacity) * 2 * 3 * s.sparsity +
         vectors * size_t(s.buffer_capacity) * 2 * 2 * s.head_dim;
}

std::string SparseDecodeAttention::unsupported_reason(const DecodeShape& s) {
  if (s.head_dim != 64 && s.head_dim != 128)
    return fmt::format("head dimension {} is not handled on the GPU (64 or 128)", s.head_dim);
  if (s.n_atoms < 1 || s.n_atoms > 4096)
    return fmt::format("{} atoms is outside 1..4096 (a thread owns 8 atoms' accumulators, 512 threads a block)",
                       s.n_atoms);
  if (s.sparsity < 1 || s.sparsity > 64) return fmt::format("sparsity {} is outside 1..64", s.sparsity);
  if (s.n_atoms < s.head_dim)
    return fmt::format("{} atoms is fewer than the head dimension {}", s.n_atoms, s.head_dim);
  const int max_buffered = s.max_buffered < 0 ? s.buffer_capacity : s.max_buffered;
  if (max_buffered > s.n_atoms)
    return fmt::format("a buffer of {} tokens exceeds the {} atoms whose shared memory it reuses", max_buffered,
                       s.n_atoms);
  const DeviceInfo& info = device_info();
  if (!info.usable) return "no usable GPU: " + info.reason;
  if (heads_per_block(s, info.shared_per_block_optin) == 0)
    return fmt::format(
        "a dictionary of {} atoms is too large for shared memory: the scores and accumulator of one head need "
        "{} KiB, the GPU gives a block {} KiB",
        s.n_atoms, attn_detail::sparse_partial_smem(s.n_atoms, 1, s.sparsity) / 1024, info.shared_per_block_optin / 1024);
  return {};
}

SparseDecodeAttention::SparseDecodeAttention(const DecodeShape& max_shape) : shape_(max_shape) {
  require_gpu("GPU decode attention");
  check_shape(shape_, "sparse attention");
  const std::string why = unsupported_reason(shape_);
  if (!why.empty()) throw Error(ErrorKind::Internal, "cuda", "sparse attention: " + why);
  heads_per_block_ = heads_per_block(shape_, device_info().shared_per_block_optin);
  const int group = shape_.n_heads / shape_.n_kv_heads;
  const int n_hg = groups_of(group, heads_per_block_);
  max_partials_ = max_partials(shape_, n_hg, device_info().sm_count, kSparseMinTokens);
  const size_t groups = size_t(shape_.batch) * shape_.n_kv_heads * n_hg;
  qd_.resize(size_t(shape_.batch) * shape_.n_kv_heads * n_hg * heads_per_block_ * shape_.n_atoms, "attention qD");
  partial_acc_.resize(max_partials_ * shape_.n_atoms * heads_per_block_, "attention partial accumulators");
  partial_stats_.resize((max_partials_ + groups) * 2 * heads_per_block_, "attention partial statistics");
  buffer_out_.resize(groups * heads_per_block_ * shape_.head_dim, "attention buffer outputs");
}

size_t SparseDecodeAttention::workspace_bytes() const {
  return qd_.bytes() + partial_acc_.bytes() + partial_stats_.bytes() + buffer_out_.bytes();
}

void SparseDecodeAttention::run(const CompressedKv& kv, const float* q, float* out, int batch, int64_t max_compressed,
                                cudaStream_t stream, int64_t max_buffered) {
  if (batch < 1 || batch > shape_.batch) usage_error("sparse attention", "batch {} is outside 1..{}", batch, shape_.batch);
  if (max_compressed < 0 || max_compressed > shape_.compressed_capacity)
    usage_error("sparse attention", "{} compressed tokens exceed the capacity {}", max_compressed,
                shape_.compressed_capacity);
  if (reinterpret_cast<uintptr_t>(q) % 16 != 0 || reinterpret_cast<uintptr_t>(out) % 16 != 0)
    usage_error("sparse attention", "the query and output arrays must be 16-byte aligned");
  attn_detail::SparseArgs a;
  a.kv = kv;
  a.q = q;
  a.out = out;
  a.qd = qd_.data();
  a.partial_acc = partial_acc_.data();
  a.partial_stats = partial_stats_.data();
  a.buffer_out = buffer_out_.data();
  a.batch = batch;
  a.n_heads = shape_.n_heads;
  a.n_kv = shape_.n_kv_heads;
  a.group = shape_.n_heads / shape_.n_kv_heads;
  a.hb = heads_per_block_;
  a.n_hg = groups_of(a.group, a.hb);
  a.gpad = a.n_hg * a.hb;
  a.m = shape_.head_dim;
  a.n_atoms = shape_.n_atoms;
  a.s = shape_.sparsity;
  a.t_cap = shape_.compressed_capacity;
  a.b_cap = kv.buffer_rows > 0 ? kv.buffer_rows : shape_.buffer_capacity;
  a.shared_kv = kv.one_sequence;
  a.scale = 1.0f / std::sqrt(float(a.m));
  a.cluster_rows = cluster_rows(kv, max_compressed, max_buffered);
  if (a.cluster_rows > 0) {
    attn_detail::launch_sparse_cluster(a, stream);
    return;
  }
  const SplitPlan plan = plan_splits(std::max<int64_t>(max_compressed, 1), int64_t(batch) * a.n_kv * a.n_hg,
                                     device_info().sm_count, kSparseMinTokens);
  a.splits = plan.splits;
  a.tokens_per_split = plan.tokens_per_split;
  if (size_t(batch) * a.n_kv * a.n_hg * a.splits > max_partials_)
    internal_error("sparse attention", "split plan exceeds the workspace");
  // The apply kernel's K split: about two blocks a SM over its column tiles,
  // each over a multiple of 32 atoms.
  const int col_tiles = (batch * a.n_heads + 31) / 32;
  const int k_split = std::clamp(2 * device_info().sm_count / col_tiles, 1, (a.n_atoms + 31) / 32);
  a.apply_atoms = ((a.n_atoms + k_split - 1) / k_split + 31) / 32 * 32;
  attn_detail::launch_sparse(a, stream);
}

// Rows the cluster kernel's shared memory must hold for this call (its
// compressed rows and its buffer rows: max_buffered, else min(B_cap, N), the
// sparse path's limit); 0 where the call takes the three kernels.
int64_t SparseDecodeAttention::cluster_rows(const CompressedKv& kv, int64_t max_compressed,
                                            int64_t max_buffered) const {
  if (kernel_ == SparseKernel::ThreeKernels || !attn_detail::sparse_cluster_available()) return 0;
  const int64_t b_cap = kv.buffer_rows > 0 ? kv.buffer_rows : shape_.buffer_capacity;
  const int64_t buffered = max_buffered >= 0 ? max_buffered : std::min<int64_t>(b_cap, shape_.n_atoms);
  const int64_t rows = std::max<int64_t>(1, max_compressed + buffered);
  if (rows > attn_detail::kClusterMaxRows) return 0;
  // Every block of a cluster reads every row's value pairs; past this many
  // pairs a row-split over more blocks (the three kernels) is the faster.
  if (kernel_ == SparseKernel::Auto && rows * shape_.sparsity > kClusterAutoPairs) return 0;
  const size_t smem = attn_detail::sparse_cluster_smem(shape_.n_atoms, heads_per_block_, shape_.head_dim,
                                                        shape_.sparsity, rows);
  return smem <= device_info().shared_per_block_optin ? rows : 0;
}

bool SparseDecodeAttention::takes_cluster_kernel(const CompressedKv& kv, int64_t max_compressed,
                                                 int64_t max_buffered) const {
  return cluster_rows(kv, max_compressed, max_buffered) > 0;
}

DenseDecodeAttention::DenseDecodeAttention(const DecodeShape& max_shape) : shape_(max_shape) {
  require_gpu("GPU dense attention");
  check_shape(shape_, "dense attention");
  const int group = shape_.n_heads / shape_.n_kv_heads;
  const int hb = dense_heads_per_block(group);
  const int n_hg = group / hb;
  max_partials_ = max_partials(shape_, n_hg, device_info().sm_count * 4, kDenseMinTokens);  // as run's plan
  partial_out_.resize(max_partials_ * hb * shape_.head_dim, "dense attention partial outputs");
  partial_stats_.resize(max_partials_ * 2 * hb, "dense attention partial statistics");
}

size_t DenseDecodeAttention::workspace_bytes() const { return partial_out_.bytes() + partial_stats_.bytes(); }

void DenseDecodeAttention::run(const uint16_t* keys, const uint16_t* values, int64_t capacity, const int32_t* length,
                               const float* q, float* out, int batch, int64_t max_length, cudaStream_t stream,
                               bool one_sequence) {
  if (batch < 1 || batch > shape_.batch) usage_error("dense attention", "batch {} is outside 1..{}", batch, shape_.batch);
  if (max_length > capacity) usage_error("dense attention", "length {} exceeds the capacity {}", max_length, capacity);
  attn_detail::DenseArgs a;
  a.k = keys;
  a.v = values;
  a.capacity = capacity;
  a.shared_kv = one_sequence;
  a.length = length;
  a.q = q;
  a.out = out;
  a.partial_out = partial_out_.data();
  a.partial_stats = partial_stats_.data();
  a.batch = batch;
  a.n_heads = shape_.n_heads;
  a.n_kv = shape_.n_kv_heads;
  a.group = shape_.n_heads / shape_.n_kv_heads;
  a.hb = dense_heads_per_block(a.group);
  a.n_hg = a.group / a.hb;
  a.m = shape_.head_dim;
  a.scale = 1.0f / std::sqrt(float(a.m));
  if (prefill_kernel_ && one_sequence && batch >= kPrefillMinQueries) {
    attn_detail::launch_prefill(a, stream);
    return;
  }
  // Dense blocks are small (44 KiB, 256 threads): aim at ~8 per SM.
  const SplitPlan plan = plan_splits(std::max<int64_t>(max_length, 1), int64_t(batch) * a.n_kv * a.n_hg,
                                     device_info().sm_count * 4, kDenseMinTokens);
  a.splits = plan.splits;
  a.tokens_per_split = plan.tokens_per_split;
  if (size_t(batch) * a.n_kv * a.n_hg * a.splits > max_partials_)
    internal_error("dense attention", "split plan exceeds the workspace");
  attn_detail::launch_dense(a, stream);
}

}  // namespace lexico::cuda
