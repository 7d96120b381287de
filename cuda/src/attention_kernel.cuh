// Launch interface of the decode-attention kernels (attention_kernel.cu).
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

#include "lexico/cuda/attention.h"

namespace lexico::cuda::attn_detail {

constexpr int kSparseThreads = 512;  // threads of a sparse block; its chunk is 1 or 2 tokens a thread
constexpr int kDenseThreads = 256;
constexpr int kDenseChunk = 256;     // tokens per dense iteration
constexpr int kMaxSplits = 32;       // token splits P of a call (the merge's weight tables hold P + 1)

struct SparseArgs {
  CompressedKv kv;
  const float* q = nullptr;
  float* out = nullptr;
  float* qd = nullptr;          // [batch][n_kv][N][gpad]
  float* partial_acc = nullptr;  // [groups][P][N][HB]
  float* partial_stats = nullptr;  // [groups][P+1][2][HB] (max, sum); slot P = buffer
  float* buffer_out = nullptr;     // [groups][HB][m]
  int batch = 0, n_heads = 0, n_kv = 0, group = 0, hb = 0, n_hg = 0, m = 0, n_atoms = 0, s = 0;
  int gpad = 0;         // n_hg·hb ≥ group: head slots of a KV group (the last block's may pad)
  int apply_atoms = 0;  // atoms a block of the apply kernel sums over (its K split)
  int64_t t_cap = 0;
  int64_t b_cap = 0;  // buffer rows per (sequence, KV head)
  bool shared_kv = false;  // every sequence reads sequence 0's storage (one step's queries)
  int splits = 0;  // P
  int64_t tokens_per_split = 0;
  float scale = 0.0f;
  int64_t cluster_rows = 0;  // the cluster kernel's: compressed + buffer rows its shared memory holds
};

size_t sparse_partial_smem(int n_atoms, int hb, int s);
// The three kernels: qD, partials over token splits, merge and D_v·Â.
void launch_sparse(const SparseArgs& args, cudaStream_t stream);

// The same computation in one launch (sparse_cluster_kernel.cu): a cluster of
// kClusterBlocks blocks per head group shares qD, the scores and the output
// through distributed shared memory. For calls whose compressed and buffer
// rows fit shared memory (args.cluster_rows ≤ kClusterMaxRows), where the
// three kernels' fixed work outweighs the tokens'. sm_90 only.
constexpr int kClusterBlocks = 8;
constexpr int64_t kClusterMaxRows = 4096;
size_t sparse_cluster_smem(int n_atoms, int hb, int m, int s, int64_t rows);
bool sparse_cluster_available();  // the GPU and the binary run clusters (sm_90 code)
void launch_sparse_cluster(const SparseArgs& args, cudaStream_t stream);

struct DenseArgs {
  const uint16_t* k = nullptr;
  const uint16_t* v = nullptr;
  int64_t capacity = 0;
  bool shared_kv = false;
  const int32_t* length = nullptr;
  const float* q = nullptr;
  float* out = nullptr;
  float* partial_out = nullptr;    // [groups][P][HB][m]
  float* partial_stats = nullptr;  // [groups][P][2][HB]
  int batch = 0, n_heads = 0, n_kv = 0, group = 0, hb = 0, n_hg = 0, m = 0;
  int splits = 0;
  int64_t tokens_per_split = 0;
  float scale = 0.0f;
};

void launch_dense(const DenseArgs& args, cudaStream_t stream);
// The queries of one sequence's step (shared_kv, args.batch of them, each
// seeing rows < length[i]) on tensor cores (prefill_kernel.cu); no workspace.
void launch_prefill(const DenseArgs& args, cudaStream_t stream);

}  // namespace lexico::cuda::attn_detail
