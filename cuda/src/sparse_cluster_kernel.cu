// Decode attention over the compressed cache in one launch: a cluster of
// kClusterBlocks (8) blocks per (sequence, KV head, head group).
//
// At short context the three-kernel path (attention_kernel.cu) is bound by
// its fixed work, not by the tokens: qD over all N atoms, a partial pass that
// writes N accumulators a block, and a merge that reads them back and applies
// D_v, each a dependent launch. Here block r of the cluster owns atoms
// [r·N/8, (r+1)·N/8) and an eighth of the rows:
//  1. qD at its atoms (a warp: 8 atoms × 4 quarters of m, 32 contiguous bytes
//     of FP16 a quarter), stored into every block's shared memory;
//  2. the scores of its compressed and buffer rows, stored likewise, and its
//     maxima; every block then holds all the scores and takes the same max;
//  3. the softmax weights of all rows (each block the same, made as the
//     pass reaches them), and every compressed row's value pairs at its
//     atoms (about s/8 a row), sorted by atom a chunk of 512 rows at a time
//     (integer counts and cursors: shared float atomics are compare-and-swap
//     loops on sm_90); thread i sums atom i's pairs of Â in registers;
//  4. D_v·Â over its atoms plus its eighth of the buffer's rows, summed into
//     block 0's shared memory, which divides by the softmax sum and writes out.
// Four cluster barriers, the first split (arrived at the start, waited for
// before the first write into another block); the dictionaries' and the
// cache's rows are prefetched towards L2 while the previous kernel ends (a
// chained launch, common.cuh).
#include <cooperative_groups.h>

#include "attention_kernel.cuh"
#include "common.cuh"
#include "lexico/error.h"
#include "sparse_rows.cuh"

namespace lexico::cuda::attn_detail {

namespace {

namespace cg = cooperative_groups;

constexpr int C = kClusterBlocks;
constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

__host__ __device__ inline int atoms_per_block(int n_atoms) { return (n_atoms + C - 1) / C; }
__host__ __device__ inline size_t round4(size_t n) { return (n + 3) / 4 * 4; }

// Shared memory of a block (every offset a multiple of 16 bytes).
struct ClusterLayout {
  size_t q, qd, w, acc, slots, maxima, red, counts, cursors, warp_totals, entries, bytes;
  __host__ __device__ ClusterLayout(int n_atoms, int hb, int m, int s, int64_t rows) {
    const size_t subs = kThreads / (m / 4), qd_bytes = round4(n_atoms) * hb * 4, part_bytes = subs * hb * m * 4;
    q = 0;                                                       // [HB][M] the scaled queries
    qd = q + size_t(hb) * m * 4;                                 // [N][HB] qD; then [subs][HB][M] output sums
    w = qd + (qd_bytes > part_bytes ? qd_bytes : part_bytes);    // [rows][HB] scores, then weights
    acc = w + round4(size_t(rows)) * hb * 4;                     // [N/8][HB] Â at the block's atoms
    slots = acc + round4(atoms_per_block(n_atoms)) * hb * 4;     // [C][HB][M] the blocks' outputs (block 0's)
    maxima = slots + size_t(C) * hb * m * 4;                     // [C][HB] the blocks' score maxima
    red = maxima + size_t(C) * hb * 4;                           // [warps][HB]
    counts = red + size_t(kWarps) * hb * 4;                      // [512] the chunk's pairs per atom
    cursors = counts + size_t(kThreads) * 4;                     // [512] next free entry per atom
    warp_totals = cursors + size_t(kThreads) * 4;                // [warps]
    entries = warp_totals + size_t(kWarps) * 4;                  // [512·s] the chunk's pairs, sorted by atom
    bytes = entries + size_t(kThreads) * s * 4;
  }
};

template <int HB>
__device__ __forceinline__ void store_hb(float* dst, const float (&v)[HB]) {
  if constexpr (HB == 4) *reinterpret_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
  else if constexpr (HB == 2) *reinterpret_cast<float2*>(dst) = make_float2(v[0], v[1]);
  else dst[0] = v[0];
}
template <int HB>
__device__ __forceinline__ void load_hb(const float* src, float (&v)[HB]) {
  if constexpr (HB == 4) {
    const float4 x = *reinterpret_cast<const float4*>(src);
    v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
  } else if constexpr (HB == 2) {
    const float2 x = *reinterpret_cast<const float2*>(src);
    v[0] = x.x, v[1] = x.y;
  } else {
    v[0] = src[0];
  }
}

__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

template <int HB, int SV, int M>
__global__ void __launch_bounds__(kThreads, 1) cluster_kernel(const SparseArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(16) unsigned char smb[];
  const int N = a.n_atoms, s = a.s;
  const ClusterLayout L(N, HB, M, s, a.cluster_rows);
  float* q_s = reinterpret_cast<float*>(smb + L.q);
  float* qd_s = reinterpret_cast<float*>(smb + L.qd);
  float* w_s = reinterpret_cast<float*>(smb + L.w);
  float* acc_s = reinterpret_cast<float*>(smb + L.acc);
  float* slots = reinterpret_cast<float*>(smb + L.slots);
  float* maxima = reinterpret_cast<float*>(smb + L.maxima);
  float* red = reinterpret_cast<float*>(smb + L.red);
  int* counts = reinterpret_cast<int*>(smb + L.counts);
  int* cursors = reinterpret_cast<int*>(smb + L.cursors);
  int* warp_totals = reinterpret_cast<int*>(smb + L.warp_totals);
  uint32_t* entries = reinterpret_cast<uint32_t*>(smb + L.entries);
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = int(cluster.block_rank());
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.z, kv = blockIdx.y / a.n_hg, hg = blockIdx.y % a.n_hg;
  const int head0 = kv * a.group + hg * HB, n_real = min(HB, a.group - hg * HB);
  const int per = atoms_per_block(N), j0 = min(N, rank * per), j1 = min(N, j0 + per);

  const size_t code_row0 = (size_t(a.shared_kv ? 0 : b) * a.n_kv + kv) * a.t_cap;
  const size_t buffer_row0 = (size_t(a.shared_kv ? 0 : b) * a.n_kv + kv) * a.b_cap;
  {  // Before the previous kernel's results are needed, towards L2: this block's
     // dictionary rows, and the rows the cluster may read. A prefetch reads
     // nothing into the block, so rows a kernel of the step still writes may be in it.
    const auto prefetch = [&](const void* base, size_t bytes) {
      for (size_t off = size_t(tid) * 128; off < bytes; off += size_t(kThreads) * 128)
        prefetch_l2(static_cast<const char*>(base) + off);
    };
    prefetch(a.kv.key_dictionary + size_t(j0) * M, size_t(j1 - j0) * M * 2);
    prefetch(a.kv.value_dictionary + size_t(j0) * M, size_t(j1 - j0) * M * 2);
    const size_t code_rows = size_t(min(a.t_cap, a.cluster_rows)), buffer_rows = size_t(min(a.b_cap, a.cluster_rows));
    prefetch(a.kv.key_indices + code_row0 * s, code_rows * s * 2);
    prefetch(a.kv.key_codes + code_row0 * s, code_rows * s);
    prefetch(a.kv.value_indices + code_row0 * s, code_rows * s * 2);
    prefetch(a.kv.value_codes + code_row0 * s, code_rows * s);
    prefetch(a.kv.key_buffer + buffer_row0 * M, buffer_rows * M * 2);
    prefetch(a.kv.value_buffer + buffer_row0 * M, buffer_rows * M * 2);
  }
  counts[tid] = 0;
  // Every block must run before another writes its shared memory: arrive
  // now, wait before the first such write (after qD).
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory");
  dev::wait_prior_grid();
  dev::release_next_grid();
  const int64_t tc = a.kv.compressed_length[b];
  const int64_t tb = a.kv.buffer_length ? a.kv.buffer_length[b] : 0;
  for (int i = tid; i < HB * M; i += kThreads)
    q_s[i] = i / M < n_real ? a.q[(size_t(b) * a.n_heads + head0 + i / M) * M + i % M] * a.scale : 0.0f;
  float* out = a.out + (size_t(b) * a.n_heads + head0) * M;
  if (tc + tb > a.cluster_rows) {  // outside the host's plan: loud, never a silently wrong answer
    if (rank == 0)
      for (int i = tid; i < n_real * M; i += kThreads) out[i] = __int_as_float(0x7FC00000);
    asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory");
    return;  // the same in every block: no shared memory of the cluster is touched after this
  }
  __syncthreads();

  // ---- 1. qD at the block's atoms, into every block ----
  // A warp takes 8 atoms a round, U rounds' rows loaded at once.
  constexpr int U = M == 64 ? 2 : 1, kRound = kWarps * 8;
  bool waited = false;
  for (int j8 = j0 + warp * 8; j8 < j1; j8 += U * kRound) {  // warp-uniform
    const int quarter = lane % 4;
    float4 d[U][M / 16];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j8 + u * kRound + lane / 4;
#pragma unroll
      for (int k = 0; k < M / 16; ++k)
        d[u][k] = j < j1 ? dev::load_half4(a.kv.key_dictionary + size_t(j) * M + (k * 4 + quarter) * 4)
                         : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    if (!waited) {
      asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory");
      waited = true;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j8 + u * kRound + lane / 4;
      float part[HB];
#pragma unroll
      for (int g = 0; g < HB; ++g) {
        const float4* q4 = reinterpret_cast<const float4*>(q_s + g * M) + quarter;
        float x = 0.0f;
#pragma unroll
        for (int k = 0; k < M / 16; ++k) {
          const float4 qv = q4[k * 4];
          x += d[u][k].x * qv.x + d[u][k].y * qv.y + d[u][k].z * qv.z + d[u][k].w * qv.w;
        }
        x += __shfl_xor_sync(dev::kFull, x, 1);
        part[g] = x + __shfl_xor_sync(dev::kFull, x, 2);
      }
      if (j < j1)  // the atom's four lanes write two blocks each
#pragma unroll
        for (int r = quarter; r < C; r += 4) store_hb<HB>(cluster.map_shared_rank(qd_s, r) + size_t(j) * HB, part);
    }
  }
  if (!waited) asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory");  // a warp without atoms
  cluster.sync();

  // ---- 2. scores of the block's rows, into every block ----
  const int64_t c_per = (tc + C - 1) / C, c0 = min(tc, rank * c_per), c1 = min(tc, c0 + c_per);
  const int64_t b_per = (tb + C - 1) / C, u0 = min(tb, rank * b_per), u1 = min(tb, u0 + b_per);
  float mx[HB];
#pragma unroll
  for (int g = 0; g < HB; ++g) mx[g] = -INFINITY;
  for (int64_t t = c0 + tid; t < c1; t += kThreads) {
    Row<SV> krow;
    krow.load(a.kv.key_indices + (code_row0 + t) * s, a.kv.key_codes + (code_row0 + t) * s, s);
    float sc[HB];
    score_row<HB, SV>(krow, s, qd_s, sc);
#pragma unroll
    for (int g = 0; g < HB; ++g) mx[g] = fmaxf(mx[g], sc[g]);
#pragma unroll
    for (int r = 0; r < C; ++r) store_hb<HB>(cluster.map_shared_rank(w_s, r) + t * HB, sc);
  }
  for (int64_t t = u0 + warp; t < u1; t += kWarps) {  // a buffer row a warp: lanes over its FP16 key
    constexpr int E = M / 32;                         // elements a lane
    const __half* k = reinterpret_cast<const __half*>(a.kv.key_buffer + (buffer_row0 + t) * M) + lane * E;
    float kk[E];
    dev::load_halves(k, kk);
    float sc[HB];
#pragma unroll
    for (int g = 0; g < HB; ++g) {
      float x = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e) x += kk[e] * q_s[g * M + lane * E + e];
      sc[g] = dev::warp_sum(x);
      mx[g] = fmaxf(mx[g], sc[g]);
    }
    if (lane < C) store_hb<HB>(cluster.map_shared_rank(w_s, lane) + (tc + t) * HB, sc);
  }
  block_reduce<HB, kWarps>(mx, red, true);
  if (tid < C) store_hb<HB>(cluster.map_shared_rank(maxima, tid) + rank * HB, mx);
  cluster.sync();

  // ---- 3. weights of all rows (the same in every block), Â at the block's atoms ----
#pragma unroll
  for (int g = 0; g < HB; ++g) {
    mx[g] = maxima[g];
    for (int r = 1; r < C; ++r) mx[g] = fmaxf(mx[g], maxima[r * HB + g]);
  }
  // Each row's weight is made where the pass below first needs it: the
  // buffer's here, a chunk's compressed rows in the chunk's loop.
  float sum[HB];
#pragma unroll
  for (int g = 0; g < HB; ++g) sum[g] = 0.0f;
  const auto weigh = [&](int64_t row) {
    float e[HB];
    load_hb<HB>(w_s + row * HB, e);
#pragma unroll
    for (int g = 0; g < HB; ++g) {
      e[g] = __expf(e[g] - mx[g]);
      sum[g] += e[g];
    }
    store_hb<HB>(w_s + row * HB, e);
  };
  for (int64_t t = tid; t < tb; t += kThreads) weigh(tc + t);
  // Â at the block's atoms: thread i owns atom j0 + i (≤ 512 atoms a block).
  const int n_pairs = SV > 0 ? SV : s;
  float acc[HB];
#pragma unroll
  for (int g = 0; g < HB; ++g) acc[g] = 0.0f;
  const auto load_value_row = [&](Row<SV>& row, int64_t t) {
    if (t < tc) row.load(a.kv.value_indices + (code_row0 + t) * s, a.kv.value_codes + (code_row0 + t) * s, s);
  };
  Row<SV> vrow;  // the thread's row of the chunk, in registers until sorted; the next chunk's loads meanwhile
  load_value_row(vrow, tid);
  for (int64_t chunk = 0; chunk < tc; chunk += kThreads) {
    const bool valid = chunk + tid < tc;
    Row<SV> next;
    load_value_row(next, chunk + kThreads + tid);
    if (valid) {
      weigh(chunk + tid);
#pragma unroll
      for (int i = 0; i < n_pairs; ++i) {
        const int j = int(vrow.index(i)) - j0;
        if (unsigned(j) < unsigned(j1 - j0)) atomicAdd(&counts[j], 1);
      }
    }
    __syncthreads();  // the chunk's counts and weights are complete
    // Exclusive scan: atom i's pairs go to [begin, end), after those of atoms < i.
    const int n = counts[tid];
    counts[tid] = 0;  // for the next chunk: its counting starts two barriers from here
    int incl = n;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(dev::kFull, incl, o);
      if (lane >= o) incl += y;
    }
    if (lane == 31) warp_totals[warp] = incl;
    __syncthreads();
    int begin = incl - n;
    for (int w = 0; w < warp; ++w) begin += warp_totals[w];
    cursors[tid] = begin;
    __syncthreads();
    if (valid)
#pragma unroll
      for (int i = 0; i < n_pairs; ++i) {
        const int j = int(vrow.index(i)) - j0;
        if (unsigned(j) < unsigned(j1 - j0)) entries[atomicAdd(&cursors[j], 1)] = pack_pair(uint32_t(tid), vrow.code(i));
      }
    __syncthreads();
    apply_atom<HB>(begin, begin + n, entries, w_s + chunk * HB, acc);
    __syncthreads();  // the next chunk overwrites the entries and the warp totals
    vrow = next;
  }
  if (tid < j1 - j0) store_hb<HB>(acc_s + tid * HB, acc);
  if (rank == 0) block_reduce<HB, kWarps>(sum, red, false);  // the softmax sum: block 0 divides by it
  __syncthreads();  // Â and the buffer's weights are complete

  // ---- 4. D_v·Â at the block's atoms + its buffer rows' values, summed in block 0 ----
  constexpr int E4 = M / 4, kSubs = kThreads / E4;
  const int e4 = tid % E4, sub = tid / E4;
  float o[HB][4];
#pragma unroll
  for (int g = 0; g < HB; ++g) o[g][0] = o[g][1] = o[g][2] = o[g][3] = 0.0f;
#pragma unroll 8
  for (int j = j0 + sub; j < j1; j += kSubs) {  // unrolled: several rows of D_v in flight
    const float4 d = dev::load_half4(a.kv.value_dictionary + size_t(j) * M + e4 * 4);
    float wj[HB];
    load_hb<HB>(acc_s + (j - j0) * HB, wj);
#pragma unroll
    for (int g = 0; g < HB; ++g) {
      o[g][0] = fmaf(wj[g], d.x, o[g][0]);
      o[g][1] = fmaf(wj[g], d.y, o[g][1]);
      o[g][2] = fmaf(wj[g], d.z, o[g][2]);
      o[g][3] = fmaf(wj[g], d.w, o[g][3]);
    }
  }
  for (int64_t t = u0 + sub; t < u1; t += kSubs) {
    const float4 v = dev::load_half4(a.kv.value_buffer + (buffer_row0 + t) * M + e4 * 4);
    float wt[HB];
    load_hb<HB>(w_s + (tc + t) * HB, wt);
#pragma unroll
    for (int g = 0; g < HB; ++g) {
      o[g][0] = fmaf(wt[g], v.x, o[g][0]);
      o[g][1] = fmaf(wt[g], v.y, o[g][1]);
      o[g][2] = fmaf(wt[g], v.z, o[g][2]);
      o[g][3] = fmaf(wt[g], v.w, o[g][3]);
    }
  }
  float* part = qd_s;  // [subs][HB][M]: qD is read no more
#pragma unroll
  for (int g = 0; g < HB; ++g)
    *reinterpret_cast<float4*>(&part[(sub * HB + g) * M + e4 * 4]) = make_float4(o[g][0], o[g][1], o[g][2], o[g][3]);
  __syncthreads();
  float* slot0 = cluster.map_shared_rank(slots, 0) + rank * HB * M;
  for (int i = tid; i < HB * M; i += kThreads) {
    float v = 0.0f;
    for (int k = 0; k < kSubs; ++k) v += part[k * HB * M + i];
    slot0[i] = v;
  }
  cluster.sync();  // block 0 holds every block's output; no block reads another's memory after this
  if (rank == 0)
    for (int i = tid; i < n_real * M; i += kThreads) {
      float total = sum[0];
#pragma unroll
      for (int g = 1; g < HB; ++g)  // unrolled: a register array indexed at run time would go to local memory
        if (i / M == g) total = sum[g];
      float v = 0.0f;
      for (int r = 0; r < C; ++r) v += slots[r * HB * M + i];
      out[i] = total > 0.0f ? v / total : 0.0f;
    }
#endif
}

template <int HB, int SV, int M>
void launch_hb(const SparseArgs& a, cudaStream_t stream) {
  const size_t bytes = sparse_cluster_smem(a.n_atoms, HB, M, a.s, a.cluster_rows);
  static int configured = -1;
  if (configured < int(bytes)) {
    LEXICO_CUDA_CHECK(
        cudaFuncSetAttribute(cluster_kernel<HB, SV, M>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    configured = int(bytes);
  }
  cudaLaunchAttribute attrs[2] = {};
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = C;
  attrs[0].val.clusterDim.y = 1;
  attrs[0].val.clusterDim.z = 1;
  attrs[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;  // chained, as dev::launch_chained
  attrs[1].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(C, unsigned(a.n_kv * a.n_hg), unsigned(a.batch));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = bytes;
  config.stream = stream;
  config.attrs = attrs;
  config.numAttrs = 2;
  LEXICO_CUDA_CHECK(cudaLaunchKernelEx(&config, cluster_kernel<HB, SV, M>, a));
}

template <int HB, int M>
void launch_s(const SparseArgs& a, cudaStream_t stream) {
  if (a.s == 16) launch_hb<HB, 16, M>(a, stream);
  else if (a.s == 8) launch_hb<HB, 8, M>(a, stream);
  else launch_hb<HB, 0, M>(a, stream);
}

template <int M>
void launch_m(const SparseArgs& a, cudaStream_t stream) {
  if (a.hb == 4) launch_s<4, M>(a, stream);
  else if (a.hb == 2) launch_s<2, M>(a, stream);
  else launch_s<1, M>(a, stream);
}

}  // namespace

size_t sparse_cluster_smem(int n_atoms, int hb, int m, int s, int64_t rows) {
  return ClusterLayout(n_atoms, hb, m, s, rows).bytes;
}

bool sparse_cluster_available() {
  static const bool ok = [] {
    if (device_info().major < 9) return false;
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, cluster_kernel<4, 16, 128>) != cudaSuccess) {
      (void)cudaGetLastError();  // not left for the next launch's check to report
      return false;
    }
    return attributes.binaryVersion >= 90;
  }();
  return ok;
}

void launch_sparse_cluster(const SparseArgs& a, cudaStream_t stream) {
  if (a.cluster_rows < 1 || a.cluster_rows > kClusterMaxRows)
    internal_error("sparse attention", "{} rows for the cluster kernel are outside 1..{}", a.cluster_rows,
                   kClusterMaxRows);
  if (a.m == 64) launch_m<64>(a, stream);
  else launch_m<128>(a, stream);
}

}  // namespace lexico::cuda::attn_detail
