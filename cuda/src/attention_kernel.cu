// Decode-attention kernels; see lexico/cuda/attention.h for the method.
//
// Sparse path, three kernels:
//  qd_kernel       qD[b][kv][j][g] = D_kᵀq / √m for every head slot (zero in
//                  the slots that pad a group to a multiple of HB), SIMT,
//                  16 or 32 atoms × 32 slots a block.
//  partial_kernel  grid (P+1, n_kv·groups, batch): block p < P takes a token
//                  range of the compressed rows, keeps qD of its HB heads in
//                  shared memory; per token: score by gathering qD at the s
//                  indices, lazily rescaled running max (rescale only when a
//                  chunk's max exceeds the running one by 8), p = exp(score −
//                  max), accumulator += p·c at the value indices. Thread i
//                  owns atoms i + 512·k and keeps their N×HB accumulators in
//                  registers; the value pairs of a 1024-token chunk (512 for
//                  an s other than 8 and 16) are staged in shared memory,
//                  sorted by atom with a counting sort, and each thread
//                  applies its atoms' pairs: no float atomics (on sm_90
//                  shared float atomics are compare-and-swap loops) and no
//                  accumulator traffic through shared memory.
//                  Block P does the FP16 buffer exactly (m-dim output) and
//                  zeroes out.
//  apply_kernel    merges the P partials with their max/sum weights into the
//                  normalised coefficients Â of its atoms, and adds
//                  D_v·Â + w·buffer_out into out: a K-split SIMT GEMM, 32
//                  columns a block, float4 atomics.
// Dense path: flash-decoding over FP16 K/V, then a small combine.
// Every kernel here is a chained launch (common.cuh): it may start while the
// previous one ends, and waits for it before reading its results.
#include <cfloat>

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "attention_kernel.cuh"
#include "common.cuh"
#include "sparse_rows.cuh"

namespace lexico::cuda::attn_detail {

namespace {

using dev::kFull;

constexpr float kRescaleSlack = 8.0f;  // exp(8) ≈ 2981: headroom before the running max must move
constexpr int kWarps = kSparseThreads / 32;
// The value pass sorts a chunk's pairs by atom (a counting sort over N ≤ 4096
// atoms). Thread i owns atoms i + 512·k, k < 8, and keeps their accumulators
// in registers: a pair is applied by its atom's owner alone, so there are no
// float atomics (on sm_90 shared float atomics are compare-and-swap loops)
// and, the pairs being sorted by atom, no register indexing.
constexpr int kMaxAtoms = 4096;
constexpr int kSlots = kMaxAtoms / kSparseThreads;
// Tokens a thread takes per chunk: two where the rows stay packed, which
// halves the chunk's barriers per token and puts two independent rows in flight.
__host__ __device__ constexpr int tokens_per_thread(int sv) { return sv > 0 ? 2 : 1; }

// ---- qD = D_kᵀ q · scale ----
// One value per head slot: slot (kv, g) for g < gpad, zero where g ≥ group
// (the padding of a group that HB does not divide). A block: 16·R atoms × 32
// slots, a thread R atoms × 4 slots. R = 1 spreads one sequence over the SMs
// (N / 16 blocks); R = 2 halves the slots' reloads when there are many.
constexpr int kQdSlots = 32, kQdThreads = 128;

template <int M, int R>
__global__ void __launch_bounds__(kQdThreads) qd_kernel(const SparseArgs a) {
  constexpr int A = 16 * R, DR = M + 4;  // padded row: the 8 atoms of a quarter-warp fall in distinct bank groups
  __shared__ __align__(16) float d_s[A][DR];
  __shared__ __align__(16) float q_s[kQdSlots][M];
  const int b = blockIdx.z, slot0 = blockIdx.y * kQdSlots, j0 = blockIdx.x * A;
  const int tid = threadIdx.x, atom = tid % 16, quad = tid / 16;  // 8 quads of 4 slots
  const int n_slots = a.n_kv * a.gpad;
  const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int i = tid; i < A * M / 4; i += kQdThreads) {
    const int r = i / (M / 4), e4 = i % (M / 4), j = j0 + r;
    *reinterpret_cast<float4*>(&d_s[r][e4 * 4]) =
        j < a.n_atoms ? dev::load_half4(a.kv.key_dictionary + size_t(j) * M + e4 * 4) : zero;
  }
  dev::wait_prior_grid();  // the dictionary rows load while the previous kernel ends
  dev::release_next_grid();
  for (int i = tid; i < kQdSlots * M / 4; i += kQdThreads) {
    const int r = i / (M / 4), e4 = i % (M / 4), slot = slot0 + r;
    const int kv = slot / a.gpad, g = slot % a.gpad;
    float4 v = zero;
    if (slot < n_slots && g < a.group) {
      v = reinterpret_cast<const float4*>(a.q + (size_t(b) * a.n_heads + kv * a.group + g) * M)[e4];
      v = make_float4(v.x * a.scale, v.y * a.scale, v.z * a.scale, v.w * a.scale);
    }
    *reinterpret_cast<float4*>(&q_s[r][e4 * 4]) = v;
  }
  __syncthreads();
  float acc[R][4] = {};
#pragma unroll 8
  for (int e = 0; e < M; e += 4) {
    float4 d[R];
#pragma unroll
    for (int r = 0; r < R; ++r) d[r] = *reinterpret_cast<const float4*>(&d_s[atom + 16 * r][e]);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float4 q = *reinterpret_cast<const float4*>(&q_s[quad * 4 + k][e]);
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r][k] += d[r].x * q.x + d[r].y * q.y + d[r].z * q.z + d[r].w * q.w;
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int j = j0 + atom + 16 * r;
    if (j >= a.n_atoms) break;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int slot = slot0 + quad * 4 + k;
      if (slot >= n_slots) break;
      const int kv = slot / a.gpad, g = slot % a.gpad;
      a.qd[((size_t(b) * a.n_kv + kv) * a.n_atoms + j) * a.gpad + g] = acc[r][k];
    }
  }
}

// Shared-memory layout of partial_kernel: qD, the chunk's weights, then
// either the buffer block's softmax weights (up to N tokens) or the sort's
// counts, cursors and sorted pairs.
struct PartialLayout {
  size_t qd, p, red, weights, counts, cursors, warp_totals, entries, bytes;
  __host__ __device__ PartialLayout(int n_atoms, int hb, int s) {
    const size_t np = (size_t(n_atoms) + 3) / 4 * 4;
    qd = 0;
    const size_t chunk = size_t(kSparseThreads) * tokens_per_thread(vector_s(s));
    p = qd + np * hb * 4;
    red = p + chunk * hb * 4;
    weights = counts = red + size_t(kWarps) * hb * 4;
    cursors = counts + size_t(kMaxAtoms) * 4;
    warp_totals = cursors + size_t(kMaxAtoms) * 4;
    entries = warp_totals + size_t(kWarps) * 4;
    const size_t sort_end = entries + chunk * s * 4;
    const size_t weights_end = weights + np * hb * 4;
    bytes = sort_end > weights_end ? sort_end : weights_end;
  }
};

template <int HB, int SV, int M>
__global__ void __launch_bounds__(kSparseThreads, 1) partial_kernel(const SparseArgs a) {
  extern __shared__ __align__(16) unsigned char smb[];
  const int N = a.n_atoms, s = a.s;
  const PartialLayout L(N, HB, s);
  float* qd_s = reinterpret_cast<float*>(smb + L.qd);     // [N][HB]
  float* p_s = reinterpret_cast<float*>(smb + L.p);       // [chunk][HB] weights of the chunk's tokens
  float* red = reinterpret_cast<float*>(smb + L.red);     // [warps][HB]
  int* counts = reinterpret_cast<int*>(smb + L.counts);             // [4096] pairs per atom
  int* cursors = reinterpret_cast<int*>(smb + L.cursors);           // [4096] next free slot per atom
  int* warp_totals = reinterpret_cast<int*>(smb + L.warp_totals);   // [16] pairs of each warp's atoms
  uint32_t* entries = reinterpret_cast<uint32_t*>(smb + L.entries);  // [chunk·s] value pairs, sorted by atom
  const int tid = threadIdx.x, nthreads = blockDim.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.z, kv = blockIdx.y / a.n_hg, hg = blockIdx.y % a.n_hg, p = blockIdx.x;
  const int head0 = kv * a.group + hg * HB, n_real = min(HB, a.group - hg * HB);  // slots past n_real pad the group
  const size_t grp = (size_t(b) * a.n_kv + kv) * a.n_hg + hg;
  float* stats = a.partial_stats + (grp * (a.splits + 1) + p) * 2 * HB;
  dev::wait_prior_grid();
  dev::release_next_grid();

  if (p == a.splits) {
    // ---- the FP16 buffer, exactly ----
    const int tb = a.kv.buffer_length ? a.kv.buffer_length[b] : 0;
    float* q_s = qd_s;   // [HB][M]
    float* w_s = reinterpret_cast<float*>(smb + L.weights);  // [b_cap][HB]
    for (int i = tid; i < HB * M; i += nthreads)
      q_s[i] = i / M < n_real ? a.q[(size_t(b) * a.n_heads + head0 + i / M) * M + i % M] * a.scale : 0.0f;
    __syncthreads();
    for (int i = tid; i < n_real * M; i += nthreads)  // the apply kernel accumulates into out
      a.out[(size_t(b) * a.n_heads + head0) * M + i] = 0.0f;
    const size_t base = (size_t(a.shared_kv ? 0 : b) * a.n_kv + kv) * a.b_cap;
    float mx[HB];
#pragma unroll
    for (int g = 0; g < HB; ++g) mx[g] = -INFINITY;
    for (int t = tid; t < tb; t += nthreads) {
      const __half* k = reinterpret_cast<const __half*>(a.kv.key_buffer) + (base + t) * M;
      float sc[HB];
#pragma unroll
      for (int g = 0; g < HB; ++g) sc[g] = 0.0f;
#pragma unroll 16
      for (int e = 0; e < M; e += 2) {
        const float2 kk = __half22float2(*reinterpret_cast<const __half2*>(k + e));
#pragma unroll
        for (int g = 0; g < HB; ++g) sc[g] += kk.x * q_s[g * M + e] + kk.y * q_s[g * M + e + 1];
      }
#pragma unroll
      for (int g = 0; g < HB; ++g) {
        w_s[t * HB + g] = sc[g];
        mx[g] = fmaxf(mx[g], sc[g]);
      }
    }
    block_reduce<HB, kWarps>(mx, red, true);
    float sum[HB];
#pragma unroll
    for (int g = 0; g < HB; ++g) sum[g] = 0.0f;
    for (int t = tid; t < tb; t += nthreads)
#pragma unroll
      for (int g = 0; g < HB; ++g) {
        const float e = __expf(w_s[t * HB + g] - mx[g]);
        w_s[t * HB + g] = e;
        sum[g] += e;
      }
    block_reduce<HB, kWarps>(sum, red, false);  // its barriers also publish w_s
    float* bout = a.buffer_out + grp * HB * M;
    for (int i = tid; i < HB * M; i += nthreads) {
      const int g = i / M, e = i % M;
      float o = 0.0f;
      const __half* vcol = reinterpret_cast<const __half*>(a.kv.value_buffer) + base * M + e;
#pragma unroll 16
      for (int t = 0; t < tb; ++t) o += w_s[t * HB + g] * __half2float(vcol[size_t(t) * M]);
      bout[i] = o;
    }
#pragma unroll
    for (int g = 0; g < HB; ++g)  // unrolled: a register array indexed by tid would go to local memory
      if (tid == g) {
        stats[g] = tb > 0 ? mx[g] : -INFINITY;
        stats[HB + g] = tb > 0 ? sum[g] : 0.0f;
      }
    return;
  }

  // ---- compressed rows [t0, t1) ----
  const int64_t tc = a.kv.compressed_length[b];
  const int64_t t0 = int64_t(p) * a.tokens_per_split;
  const int64_t t1 = min(tc, t0 + a.tokens_per_split);
  if (t0 >= t1) {
    if (tid < HB) {
      stats[tid] = -INFINITY;
      stats[HB + tid] = 0.0f;
    }
    return;
  }
  {
    const float* qd = a.qd + (size_t(b) * a.n_kv + kv) * size_t(N) * a.gpad + hg * HB;
    if constexpr (HB == 4) {
#pragma unroll 8
      for (int j = tid; j < N; j += nthreads)
        reinterpret_cast<float4*>(qd_s)[j] = *reinterpret_cast<const float4*>(qd + size_t(j) * a.gpad);
    } else {
      for (int i = tid; i < N * HB; i += nthreads) qd_s[i] = qd[size_t(i / HB) * a.gpad + i % HB];
    }
  }
  __syncthreads();
  const size_t row0 = (size_t(a.shared_kv ? 0 : b) * a.n_kv + kv) * a.t_cap;
  float run_max[HB], part_sum[HB], acc[kSlots][HB];
#pragma unroll
  for (int g = 0; g < HB; ++g) {
    run_max[g] = -INFINITY;
    part_sum[g] = 0.0f;
#pragma unroll
    for (int k = 0; k < kSlots; ++k) acc[k][g] = 0.0f;
  }
  constexpr int TPT = tokens_per_thread(SV);
  for (int64_t c0 = t0; c0 < t1; c0 += TPT * kSparseThreads) {
#pragma unroll
    for (int k = 0; k < kSlots; ++k) counts[tid + k * kSparseThreads] = 0;  // published by the max reduction's barriers
    // Token u·512 + tid of the chunk, u < TPT: its value row stays in registers until the sort.
    bool valid[TPT];
    Row<SV> vrow[TPT];
    float sc[TPT][HB];
#pragma unroll
    for (int u = 0; u < TPT; ++u) {
      const int64_t t = c0 + u * kSparseThreads + tid;
      valid[u] = t < t1;
      if (valid[u]) vrow[u].load(a.kv.value_indices + (row0 + t) * s, a.kv.value_codes + (row0 + t) * s, s);
    }
#pragma unroll
    for (int u = 0; u < TPT; ++u) {
      const int64_t t = c0 + u * kSparseThreads + tid;
      if (valid[u]) {
        Row<SV> krow;
        krow.load(a.kv.key_indices + (row0 + t) * s, a.kv.key_codes + (row0 + t) * s, s);
        score_row<HB, SV>(krow, s, qd_s, sc[u]);
      } else {
#pragma unroll
        for (int g = 0; g < HB; ++g) sc[u][g] = -INFINITY;
      }
    }
    float cmax[HB];
#pragma unroll
    for (int g = 0; g < HB; ++g) {
      cmax[g] = sc[0][g];
#pragma unroll
      for (int u = 1; u < TPT; ++u) cmax[g] = fmaxf(cmax[g], sc[u][g]);
    }
    block_reduce<HB, kWarps>(cmax, red, true);
    bool rescale = false;
#pragma unroll
    for (int g = 0; g < HB; ++g) rescale |= cmax[g] > run_max[g] + kRescaleSlack;
    if (rescale) {  // block-uniform
#pragma unroll
      for (int g = 0; g < HB; ++g) {
        const float nm = fmaxf(run_max[g], cmax[g]);
        const float f = run_max[g] == -INFINITY ? 0.0f : __expf(run_max[g] - nm);
        run_max[g] = nm;
        part_sum[g] *= f;
#pragma unroll
        for (int k = 0; k < kSlots; ++k) acc[k][g] *= f;
      }
    }
#pragma unroll
    for (int u = 0; u < TPT; ++u)
#pragma unroll
      for (int g = 0; g < HB; ++g) {
        const float pw = valid[u] ? __expf(sc[u][g] - run_max[g]) : 0.0f;
        part_sum[g] += pw;
        p_s[(u * kSparseThreads + tid) * HB + g] = pw;
      }
    // Counting sort of the chunk's value pairs by atom.
    const int n_pairs = SV > 0 ? SV : s;
#pragma unroll
    for (int u = 0; u < TPT; ++u)
      if (valid[u])
#pragma unroll
        for (int i = 0; i < n_pairs; ++i) atomicAdd(&counts[vrow[u].index(i)], 1);
    __syncthreads();  // counts, weights and any rescale are complete
    // Exclusive scan: thread i's atoms i + 512·k get consecutive ranges
    // start[k] .. start[k + 1], after the pairs of threads < i.
    int start[kSlots + 1];
    {
      int total = 0;
#pragma unroll
      for (int k = 0; k < kSlots; ++k) {
        start[k] = total;
        total += counts[tid + k * kSparseThreads];
      }
      int incl = total;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += y;
      }
      if (lane == 31) warp_totals[warp] = incl;
      __syncthreads();
      int before = incl - total;
      for (int w = 0; w < warp; ++w) before += warp_totals[w];
#pragma unroll
      for (int k = 0; k < kSlots; ++k) {
        start[k] += before;
        cursors[tid + k * kSparseThreads] = start[k];
      }
      start[kSlots] = before + total;
    }
    __syncthreads();
#pragma unroll
    for (int u = 0; u < TPT; ++u)
      if (valid[u])
#pragma unroll
        for (int i = 0; i < n_pairs; ++i) {
          const int slot = atomicAdd(&cursors[vrow[u].index(i)], 1);
          entries[slot] = pack_pair(uint32_t(u * kSparseThreads + tid), vrow[u].code(i));
        }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSlots; ++k) apply_atom<HB>(start[k], start[k + 1], entries, p_s, acc[k]);
    __syncthreads();  // the next chunk overwrites the counts, pairs and weights
  }
  block_reduce<HB, kWarps>(part_sum, red, false);
  float* out = a.partial_acc + (grp * a.splits + p) * size_t(N) * HB;
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    const int j = tid + k * kSparseThreads;
    if (j >= N) break;
    if constexpr (HB == 4) {
      reinterpret_cast<float4*>(out)[j] = make_float4(acc[k][0], acc[k][1], acc[k][2], acc[k][3]);
    } else {
#pragma unroll
      for (int g = 0; g < HB; ++g) out[size_t(j) * HB + g] = acc[k][g];
    }
  }
#pragma unroll
  for (int g = 0; g < HB; ++g)
    if (tid == g) {
      stats[g] = run_max[g];
      stats[HB + g] = part_sum[g];
    }
}

// ---- out[c][e] = Σ_j D_v[j][e] Â[c][j] + w_P·buffer_out, Â merged on the fly ----
// Â[c][j] = Σ_p w_p acc_p[j][g] with w_p = e^{M_p − M}/S, the softmax merge of
// the P partials and the buffer's. A block: 32 columns (batch × head) × all m
// outputs over a.apply_atoms atoms. It first turns its columns' statistics
// into weights (a warp a column), then reads the partial accumulators at its
// atoms only: the merge needs no kernel of its own. A thread: 4 consecutive
// outputs × 4 (M = 128) or 2 (M = 64) columns. The K split (chosen on the
// host) spreads even one column tile over the SMs; the blocks of one tile
// meet in `out` through float4 atomics (zeroed by the partial kernel).
constexpr int kApplySub = 32, kApplyCols = 32, kApplyThreads = 256;

// Column (b, h) of the output: its head group's block index and slot in it.
struct ColumnSlot {
  size_t grp;
  int g;
};
__device__ __forceinline__ ColumnSlot column_slot(const SparseArgs& a, int col) {
  const int b = col / a.n_heads, h = col % a.n_heads;
  const int kv = h / a.group, hg = (h % a.group) / a.hb, g = (h % a.group) % a.hb;
  return {(size_t(b) * a.n_kv + kv) * a.n_hg + hg, g};
}

template <int M>
__global__ void __launch_bounds__(kApplyThreads) apply_kernel(const SparseArgs a) {
  constexpr int kE4 = M / 4;                       // threads along the outputs
  constexpr int kCpt = kApplyCols * kE4 / kApplyThreads;  // columns a thread: 4 or 2
  __shared__ __align__(16) float d_s[kApplySub][M];
  __shared__ __align__(16) float a_s[kApplySub][kApplyCols + 4];  // [atom][column], padded against conflicts
  __shared__ float w_s[kApplyCols][kMaxSplits + 1];                 // [column][p]: merge weights, p = P the buffer's
  const int tid = threadIdx.x, e4 = tid % kE4, cg = tid / kE4, lane = tid & 31, warp = tid >> 5;
  const int N = a.n_atoms, n_cols = a.batch * a.n_heads, col0 = blockIdx.y * kApplyCols;
  const int k0 = blockIdx.x * a.apply_atoms, k1 = min(N, k0 + a.apply_atoms);
  const int P = a.splits, HB = a.hb;
  float acc[kCpt][4];
#pragma unroll
  for (int i = 0; i < kCpt; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
  // The next 32 atoms' rows of D_v and Â are fetched into registers while the
  // current ones are multiplied.
  constexpr int kDLoads = kApplySub * M / 4 / kApplyThreads, kALoads = kApplyCols * kApplySub / kApplyThreads;
  float4 d_next[kDLoads];
  float a_next[kALoads];
  const auto fetch_d = [&](int j0) {
#pragma unroll
    for (int r = 0; r < kDLoads; ++r) {
      const int i = tid + r * kApplyThreads, jj = i / (M / 4), q = i % (M / 4);
      d_next[r] = j0 + jj < k1 ? dev::load_half4(a.kv.value_dictionary + size_t(j0 + jj) * M + q * 4)
                               : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  // Load r of a thread: column c_r = (tid + 256·r) / 32, atom j0 + tid % 32
  // (consecutive atoms of a column); its partials start at src_r.
  const int my_atom = tid % kApplySub;
  const float* src[kALoads];
  const auto fetch_a = [&](int j0) {
    const float* at[kALoads];
#pragma unroll
    for (int r = 0; r < kALoads; ++r) {
      a_next[r] = 0.0f;
      at[r] = src[r] && j0 + my_atom < k1 ? src[r] + size_t(j0 + my_atom) * HB : nullptr;
    }
    // Eight partials of every load in flight at once: the merge is a chain of
    // L2 reads (up to 32 partials), latency-bound at small batches.
    constexpr int kInFlight = 8;
    for (int p0 = 0; p0 < P; p0 += kInFlight) {
      float x[kInFlight][kALoads];
#pragma unroll
      for (int u = 0; u < kInFlight; ++u)
#pragma unroll
        for (int r = 0; r < kALoads; ++r) x[u][r] = at[r] && p0 + u < P ? at[r][size_t(p0 + u) * N * HB] : 0.0f;
#pragma unroll
      for (int u = 0; u < kInFlight; ++u)
#pragma unroll
        for (int r = 0; r < kALoads; ++r)
          if (p0 + u < P) a_next[r] = fmaf(w_s[(tid + r * kApplyThreads) / kApplySub][p0 + u], x[u][r], a_next[r]);
    }
  };
  if (k0 < k1) fetch_d(k0);  // while the previous kernel ends
  dev::wait_prior_grid();
  dev::release_next_grid();
  {  // weights: a warp per column, a lane per partial; a warp's 4 columns load at once
    constexpr int kCols = kApplyCols / (kApplyThreads / 32);
    float m[kCols][2], sv[kCols][2];
#pragma unroll
    for (int i = 0; i < kCols; ++i) {
      const int col = col0 + warp + i * (kApplyThreads / 32);
      const ColumnSlot cs = column_slot(a, min(col, n_cols - 1));
      const float* st = a.partial_stats + cs.grp * (P + 1) * 2 * HB + cs.g;
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int p = lane + 32 * u;
        const bool in = col < n_cols && p <= P;
        m[i][u] = in ? st[p * 2 * HB] : -INFINITY;
        sv[i][u] = in ? st[p * 2 * HB + HB] : 0.0f;
      }
    }
#pragma unroll
    for (int i = 0; i < kCols; ++i) {
      const float mx = dev::warp_max(fmaxf(m[i][0], m[i][1]));
      float e[2], sum = 0.0f;
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        e[u] = m[i][u] == -INFINITY ? 0.0f : __expf(m[i][u] - mx);
        sum += e[u] * sv[i][u];
      }
      sum = dev::warp_sum(sum);
#pragma unroll
      for (int u = 0; u < 2; ++u)
        if (lane + 32 * u <= P) w_s[warp + i * (kApplyThreads / 32)][lane + 32 * u] = sum > 0.0f ? e[u] / sum : 0.0f;
    }
  }
#pragma unroll
  for (int r = 0; r < kALoads; ++r) {
    const int col = col0 + (tid + r * kApplyThreads) / kApplySub;
    src[r] = nullptr;
    if (col < n_cols) {
      const ColumnSlot cs = column_slot(a, col);
      src[r] = a.partial_acc + cs.grp * size_t(P) * N * HB + cs.g;
    }
  }
  __syncthreads();
  if (k0 < k1) fetch_a(k0);
  for (int j0 = k0; j0 < k1; j0 += kApplySub) {
#pragma unroll
    for (int r = 0; r < kDLoads; ++r) {
      const int i = tid + r * kApplyThreads;
      *reinterpret_cast<float4*>(&d_s[i / (M / 4)][i % (M / 4) * 4]) = d_next[r];
    }
#pragma unroll
    for (int r = 0; r < kALoads; ++r) {
      const int i = tid + r * kApplyThreads;
      a_s[i % kApplySub][i / kApplySub] = a_next[r];
    }
    __syncthreads();
    if (j0 + kApplySub < k1) {
      fetch_d(j0 + kApplySub);
      fetch_a(j0 + kApplySub);
    }
#pragma unroll 8
    for (int jj = 0; jj < kApplySub; ++jj) {
      const float4 d = *reinterpret_cast<const float4*>(&d_s[jj][e4 * 4]);
      float w[kCpt];
      if constexpr (kCpt == 4) {
        const float4 v = *reinterpret_cast<const float4*>(&a_s[jj][cg * 4]);
        w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
      } else {
        const float2 v = *reinterpret_cast<const float2*>(&a_s[jj][cg * 2]);
        w[0] = v.x, w[1] = v.y;
      }
#pragma unroll
      for (int i = 0; i < kCpt; ++i) {
        acc[i][0] = fmaf(w[i], d.x, acc[i][0]);
        acc[i][1] = fmaf(w[i], d.y, acc[i][1]);
        acc[i][2] = fmaf(w[i], d.z, acc[i][2]);
        acc[i][3] = fmaf(w[i], d.w, acc[i][3]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kCpt; ++i) {
    const int col = col0 + cg * kCpt + i;
    if (col >= n_cols) continue;
    float4 v = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    if (blockIdx.x == 0) {
      const ColumnSlot cs = column_slot(a, col);
      const float w = w_s[cg * kCpt + i][P];
      if (w != 0.0f) {
        const float4 o = reinterpret_cast<const float4*>(a.buffer_out + (cs.grp * HB + cs.g) * M)[e4];
        v.x += w * o.x, v.y += w * o.y, v.z += w * o.z, v.w += w * o.w;
      }
    }
    float* dst = a.out + size_t(col) * M + e4 * 4;
#if __CUDA_ARCH__ >= 900
    atomicAdd(reinterpret_cast<float4*>(dst), v);
#else
    atomicAdd(dst, v.x), atomicAdd(dst + 1, v.y), atomicAdd(dst + 2, v.z), atomicAdd(dst + 3, v.w);
#endif
  }
}

// ---- dense FP16 flash-decoding ----
template <int HB, int M>
__global__ void __launch_bounds__(kDenseThreads) dense_kernel(const DenseArgs a) {
  constexpr int EPL = M / 32;  // elements per lane in the value pass
  __shared__ __align__(16) float q_s[HB][M];
  __shared__ float p_s[kDenseChunk][HB];
  __shared__ __align__(16) float red[kDenseThreads / 32 * HB];
  __shared__ float o_s[kDenseThreads / 32][HB][M];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.z, kv = blockIdx.y / a.n_hg, hg = blockIdx.y % a.n_hg, p = blockIdx.x;
  const int head0 = kv * a.group + hg * HB;
  const size_t grp = (size_t(b) * a.n_kv + kv) * a.n_hg + hg;
  dev::wait_prior_grid();
  dev::release_next_grid();
  for (int i = tid; i < HB * M; i += kDenseThreads)
    q_s[i / M][i % M] = a.q[(size_t(b) * a.n_heads + head0 + i / M) * M + i % M] * a.scale;
  const int64_t len = a.length[b];
  const int64_t t0 = int64_t(p) * a.tokens_per_split, t1 = min(len, t0 + a.tokens_per_split);
  float* stats = a.partial_stats + (grp * a.splits + p) * 2 * HB;
  float* pout = a.partial_out + (grp * a.splits + p) * HB * M;
  if (t0 >= t1) {
    if (tid < HB) {
      stats[tid] = -INFINITY;
      stats[HB + tid] = 0.0f;
    }
    return;
  }
  __syncthreads();
  const size_t base = (size_t(a.shared_kv ? 0 : b) * a.n_kv + kv) * a.capacity;
  float run_max[HB], part_sum[HB], o[HB][EPL];
#pragma unroll
  for (int g = 0; g < HB; ++g) {
    run_max[g] = -INFINITY;
    part_sum[g] = 0.0f;
#pragma unroll
    for (int q = 0; q < EPL; ++q) o[g][q] = 0.0f;
  }
  for (int64_t c0 = t0; c0 < t1; c0 += kDenseChunk) {
    const int64_t t = c0 + tid;
    float sc[HB];
#pragma unroll
    for (int g = 0; g < HB; ++g) sc[g] = t < t1 ? 0.0f : -INFINITY;
    if (t < t1) {
      const uint4* k = reinterpret_cast<const uint4*>(a.k + (base + t) * M);
#pragma unroll
      for (int c = 0; c < M / 8; ++c) {
        const uint4 w = k[c];
        const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float2 kk = __half22float2(*reinterpret_cast<const __half2*>(&ws[q]));
#pragma unroll
          for (int g = 0; g < HB; ++g) sc[g] += kk.x * q_s[g][c * 8 + 2 * q] + kk.y * q_s[g][c * 8 + 2 * q + 1];
        }
      }
    }
    float cmax[HB];
#pragma unroll
    for (int g = 0; g < HB; ++g) cmax[g] = sc[g];
    block_reduce<HB, kDenseThreads / 32>(cmax, red, true);
#pragma unroll
    for (int g = 0; g < HB; ++g) {
      if (cmax[g] > run_max[g] + kRescaleSlack) {  // uniform
        const float f = run_max[g] == -INFINITY ? 0.0f : __expf(run_max[g] - cmax[g]);
        run_max[g] = cmax[g];
        part_sum[g] *= f;
#pragma unroll
        for (int q = 0; q < EPL; ++q) o[g][q] *= f;
      }
      const float pw = t < t1 ? __expf(sc[g] - run_max[g]) : 0.0f;
      part_sum[g] += pw;
      p_s[tid][g] = pw;
    }
    __syncthreads();
    // Values: warp w takes tokens w, w+8, ...; lane holds EPL elements.
    const int n_here = int(min(int64_t(kDenseChunk), t1 - c0));
    for (int tt = warp; tt < n_here; tt += kDenseThreads / 32) {
      const __half* v = reinterpret_cast<const __half*>(a.v) + (base + c0 + tt) * M + lane * EPL;
      float vf[EPL];
      dev::load_halves(v, vf);
#pragma unroll
      for (int g = 0; g < HB; ++g) {
        const float pw = p_s[tt][g];
#pragma unroll
        for (int q = 0; q < EPL; ++q) o[g][q] += pw * vf[q];
      }
    }
    __syncthreads();
  }
  block_reduce<HB, kDenseThreads / 32>(part_sum, red, false);
  // Each warp's o covers its tokens: sum over warps.
#pragma unroll
  for (int g = 0; g < HB; ++g)
#pragma unroll
    for (int q = 0; q < EPL; ++q) o_s[warp][g][lane * EPL + q] = o[g][q];
  __syncthreads();
  for (int i = tid; i < HB * M; i += kDenseThreads) {
    float s = 0.0f;
    for (int w = 0; w < kDenseThreads / 32; ++w) s += o_s[w][i / M][i % M];
    pout[i] = s;
  }
#pragma unroll
  for (int g = 0; g < HB; ++g)
    if (tid == g) {
      stats[g] = run_max[g];
      stats[HB + g] = part_sum[g];
    }
}

template <int M>
__global__ void dense_combine_kernel(const DenseArgs a) {
  const int col = blockIdx.x;  // (b, h)
  const int b = col / a.n_heads, h = col % a.n_heads;
  const int kv = h / a.group, hg = (h % a.group) / a.hb, g = h % a.hb;
  const size_t grp = (size_t(b) * a.n_kv + kv) * a.n_hg + hg;
  const int HB = a.hb, P = a.splits;
  dev::wait_prior_grid();
  dev::release_next_grid();
  const float* st = a.partial_stats + grp * P * 2 * HB;
  float mx = -INFINITY;
  for (int p = 0; p < P; ++p) mx = fmaxf(mx, st[p * 2 * HB + g]);
  float sum = 0.0f;
  for (int p = 0; p < P; ++p)
    if (st[p * 2 * HB + g] != -INFINITY) sum += __expf(st[p * 2 * HB + g] - mx) * st[p * 2 * HB + HB + g];
  for (int e = threadIdx.x; e < M; e += blockDim.x) {
    float o = 0.0f;
    for (int p = 0; p < P; ++p) {
      const float m = st[p * 2 * HB + g];
      if (m != -INFINITY) o += __expf(m - mx) * a.partial_out[((grp * P + p) * HB + g) * M + e];
    }
    a.out[size_t(col) * M + e] = sum > 0.0f ? o / sum : 0.0f;
  }
}

template <int HB, int SV, int M>
void launch_partial(const SparseArgs& a, cudaStream_t stream) {
  const size_t bytes = sparse_partial_smem(a.n_atoms, HB, a.s);
  static int configured = -1;
  if (configured < int(bytes)) {
    LEXICO_CUDA_CHECK(cudaFuncSetAttribute(partial_kernel<HB, SV, M>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(bytes)));
    configured = int(bytes);
  }
  const dim3 grid(a.splits + 1, a.n_kv * a.n_hg, a.batch);
  dev::launch_chained(partial_kernel<HB, SV, M>, grid, kSparseThreads, bytes, stream, a);
}

template <int HB, int M>
void launch_partial_s(const SparseArgs& a, cudaStream_t stream) {
  static_assert(vector_s(16) == 16 && vector_s(8) == 8, "the layout's chunk follows this dispatch");
  if (a.s == 16) launch_partial<HB, 16, M>(a, stream);
  else if (a.s == 8) launch_partial<HB, 8, M>(a, stream);
  else launch_partial<HB, 0, M>(a, stream);
}

template <int M>
void launch_sparse_m(const SparseArgs& a, cudaStream_t stream) {
  {
    const int slot_tiles = (a.n_kv * a.gpad + kQdSlots - 1) / kQdSlots;
    if (slot_tiles * a.batch >= 4) {
      const dim3 grid((a.n_atoms + 31) / 32, slot_tiles, a.batch);
      dev::launch_chained(qd_kernel<M, 2>, grid, kQdThreads, 0, stream, a);
    } else {
      const dim3 grid((a.n_atoms + 15) / 16, slot_tiles, a.batch);
      dev::launch_chained(qd_kernel<M, 1>, grid, kQdThreads, 0, stream, a);
    }
  }
  if (a.hb == 4) launch_partial_s<4, M>(a, stream);
  else if (a.hb == 2) launch_partial_s<2, M>(a, stream);
  else launch_partial_s<1, M>(a, stream);
  const dim3 grid((a.n_atoms + a.apply_atoms - 1) / a.apply_atoms, (a.batch * a.n_heads + kApplyCols - 1) / kApplyCols);
  dev::launch_chained(apply_kernel<M>, grid, kApplyThreads, 0, stream, a);
}

template <int HB, int M>
void launch_dense_hb(const DenseArgs& a, cudaStream_t stream) {
  const dim3 grid(a.splits, a.n_kv * a.n_hg, a.batch);
  dev::launch_chained(dense_kernel<HB, M>, grid, kDenseThreads, 0, stream, a);
  dev::launch_chained(dense_combine_kernel<M>, dim3(a.batch * a.n_heads), dim3(M), 0, stream, a);
}

template <int M>
void launch_dense_m(const DenseArgs& a, cudaStream_t stream) {
  switch (a.hb) {
    case 8: launch_dense_hb<8, M>(a, stream); break;
    case 4: launch_dense_hb<4, M>(a, stream); break;
    case 2: launch_dense_hb<2, M>(a, stream); break;
    case 1: launch_dense_hb<1, M>(a, stream); break;
    default: internal_error("dense attention", "no kernel for {} heads a block", a.hb);
  }
}

}  // namespace

size_t sparse_partial_smem(int n_atoms, int hb, int s) { return PartialLayout(n_atoms, hb, s).bytes; }

void launch_sparse(const SparseArgs& a, cudaStream_t stream) {
  if (a.m == 64) launch_sparse_m<64>(a, stream);
  else launch_sparse_m<128>(a, stream);
}

void launch_dense(const DenseArgs& a, cudaStream_t stream) {
  if (a.m == 64) launch_dense_m<64>(a, stream);
  else launch_dense_m<128>(a, stream);
}

}  // namespace lexico::cuda::attn_detail
