// Batched OMP kernels. See lexico/cuda/omp.h for the method and
// lexico/omp.h (lib/sparse/omp.cpp) for the semantics matched here.
//
// One block = 256 threads = 8 warps pursues a tile of vectors of one
// dictionary (64, or 16 for launches of few vectors a dictionary; when few
// such tiles would leave SMs idle, a cluster of 2 blocks shares a tile, each
// taking half the atoms). Per step:
//  1. GEMM phase (all warps): α̃ = D̃ᵀ R̃ for the tile's scaled FP16 residuals,
//     D̃ streamed in chunks of 128 atoms (cp.async, 2 or 4 stages), mma.sync
//     m16n8k16 (f32 accumulate), for a warp's column groups up to its last
//     active vector only. Each thread keeps, per vector column, its
//     largest and second largest |α̃| (its "list") as keys: |α̃| with the low
//     mantissa bits replaced by the atom's place in the list, so that one
//     max carries the atom along.
//  2. Serial phase (warp per vector): merge the lists (a cluster's two blocks
//     exchange theirs through distributed shared memory); candidates are the
//     atoms with |α̃| ≥ max − 2ε, where ε bounds |α̃ − α| (FP16 rounding of D
//     and of the residual, f32 accumulation), widened by the keys' truncation
//     (a relative 2^(b−21) of max, b the bits of a place). The list tops in
//     that window are re-scored exactly (α_j = d_jᵀr in float), and so is
//     every atom of a list whose second value also reaches the window (at
//     most 2 such lists); this covers every atom in the window. A chosen or
//     padding atom at a top in the window, more lists or more than 8 tops:
//     the warp scans all N atoms exactly. The best (ties: lowest index) is the pick.
//     Then: Gram entries G_{I,j}, G_jj in float (as the CPU's G); Cholesky
//     growth through the inverse factor B = L⁻ᵀ in double (w = Bᵀg, pivot² =
//     G_jj − ‖w‖², v = B w, new column [−v/λ; 1/λ]); z_k = α_j/λ;
//     γ ← γ − (z_k/λ)·v, γ_k = z_k/λ; ‖r‖² −= z_k²; the residual r = x − D_I γ;
//     its FP16 copy and ε for the next step.
#include <cfloat>
#include <climits>
#include <type_traits>

#include <cooperative_groups.h>

#include "common.cuh"
#include "omp_kernel.cuh"

namespace lexico::cuda::omp_detail {

namespace {

using dev::kFull;

constexpr int kWarps = kThreads / 32;
// Two block shapes: bulk tiles of 64 vectors (2 stages of D in flight, 2
// blocks per SM) and small tiles of 16 vectors with 4 stages (1 block per SM)
// for launches of few vectors a dictionary, such as the per-token step.
template <int BV>
struct Geometry {
  static constexpr int kStages = BV == 64 ? 2 : 4;
  static constexpr int kWA = BV == 64 ? 4 : 8;  // warps along the atoms of a chunk
  static constexpr int kWV = kWarps / kWA;      // warps along the vectors
  static constexpr int kMT = kChunkAtoms / kWA / 16;  // m16 tiles per warp
  static constexpr int kNT = BV / kWV / 8;            // n8 tiles per warp
  static constexpr int kCols = kNT * 2;               // vector columns per thread
  static constexpr int kSlots = kWA * 8;              // short lists per vector column and block
  // Small tiles may split a dictionary's atoms over a cluster of 2 blocks
  // (LaunchArgs::split); the exchange then holds both blocks' lists.
  static constexpr int kMaxSplit = BV == 64 ? 1 : 2;
  static constexpr int kSlotStride = kSlots * kMaxSplit;
  static constexpr int kVectorsPerWarp = BV / kWarps;
  static_assert(kNT % 2 == 0 && kSlots % 32 == 0, "geometry");
};
constexpr double kMinPivotSq = 1e-5;       // as lib/sparse/omp.cpp
constexpr double kMinCorrelation = 1e-5;   // as lib/sparse/omp.cpp
constexpr int kMaxCandidates = 8;
constexpr int kMaxWideLists = 2;  // short lists rescanned atom by atom before a full scan is cheaper
template <int M>
constexpr int kBatchFor = M == 128 ? 4 : 8;  // independent loads issued together in the serial phase

template <int M, int S, int BV>
struct Layout {
  static constexpr int ST = Geometry<BV>::kStages;
  static constexpr int kRowHalves = M + 8;  // padded row: ldmatrix without bank conflicts
  static constexpr int kDictBuf = kChunkAtoms * kRowHalves;  // halves per stage
  static constexpr size_t kOffDict = 0;
  static constexpr size_t kDictBytes = size_t(ST) * kDictBuf * 2;
  static constexpr size_t kOffRt = kOffDict + kDictBytes;
  static constexpr size_t kRtBytes = size_t(BV) * kRowHalves * 2;
  static constexpr size_t kOffWr = kOffRt + kRtBytes;
  static constexpr size_t kWrBytes = size_t(kWarps) * M * 4;
  static constexpr size_t kOffSup = kOffWr + kWrBytes;
  static constexpr size_t kSupBytes = size_t(BV) * S * 2;
  static constexpr size_t kOffState = kOffSup + kSupBytes;
  // per vector: rsq, target (double); k, active (int); minc, eps (float)
  static constexpr size_t kStateBytes = size_t(BV) * 32;
  // Small tiles with s ≤ 16 keep each vector's residual, inverse Cholesky
  // factor and coefficients in shared memory (the bulk shape cannot afford it).
  static constexpr bool kSmemScratch = BV == 16 && S == 16;
  static constexpr size_t kOffScratch = (kOffState + kStateBytes + 15) / 16 * 16;
  static constexpr size_t kScratchBytes = kSmemScratch ? size_t(BV) * (S * S * 8 + S * 8 + M * 4) : 0;
  static constexpr size_t kBytes = kOffScratch + kScratchBytes;
  // The exchange lists alias the dictionary stages (used between GEMM phases).
  static constexpr size_t kExchangeBytes = size_t(BV) * Geometry<BV>::kSlotStride * 8;
  static_assert(kExchangeBytes <= kDictBytes, "exchange must fit the dictionary stages");
  // A warp's scratch row also broadcasts S doubles in the serial phase.
  static_assert(kOffWr % 8 == 0 && S * 8 <= M * 4, "scratch row");
};

struct VecState {
  double* rsq;
  double* target;
  int* k;
  int* active;
  float* minc;
  float* eps;
};

template <int M, int S, int BV>
struct Smem {
  __half* dict;  // ST stages
  __half* rt;    // [64][M+8]
  float* wr;     // [8][M]
  uint16_t* sup; // [64][S]
  VecState st;
  double* bs = nullptr;  // [BV][S·S] (kSmemScratch only)
  double* gs = nullptr;  // [BV][S]
  float* rs = nullptr;   // [BV][M]
  float* ex_t1;  // [64][32] list keys (aliases dict)
  float* ex_t2;
  __device__ explicit Smem(unsigned char* base) {
    using L = Layout<M, S, BV>;
    constexpr int kSlots = Geometry<BV>::kSlotStride;
    dict = reinterpret_cast<__half*>(base + L::kOffDict);
    rt = reinterpret_cast<__half*>(base + L::kOffRt);
    wr = reinterpret_cast<float*>(base + L::kOffWr);
    sup = reinterpret_cast<uint16_t*>(base + L::kOffSup);
    unsigned char* s = base + L::kOffState;
    st.rsq = reinterpret_cast<double*>(s);
    st.target = st.rsq + BV;
    st.k = reinterpret_cast<int*>(st.target + BV);
    st.active = st.k + BV;
    st.minc = reinterpret_cast<float*>(st.active + BV);
    st.eps = st.minc + BV;
    if constexpr (L::kSmemScratch) {
      bs = reinterpret_cast<double*>(base + L::kOffScratch);
      gs = bs + BV * S * S;
      rs = reinterpret_cast<float*>(gs + BV * S);
    }
    ex_t1 = reinterpret_cast<float*>(base + L::kOffDict);
    ex_t2 = ex_t1 + BV * kSlots;
  }
};

// (a & b) | c in one LOP3: written out, the compiler split it in two where c
// is a known offset from a register (the list places).
__device__ __forceinline__ uint32_t and_or(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

// Calls f(std::integral_constant<int, min(n, NA)>()): a run-time count of
// column groups as a compile-time one, so that register arrays stay indexed
// by constants.
template <int NA, typename F>
__device__ __forceinline__ void with_groups(int n, F&& f) {
  if constexpr (NA == 0) {
    f(std::integral_constant<int, 0>());
  } else {
    if (n >= NA) f(std::integral_constant<int, NA>());
    else with_groups<NA - 1>(n, f);
  }
}

// One level of transpose_reduce: lanes with bit OFF set keep the upper half
// of v[0, 2·OFF) and send the lower. OFF is a template argument so that every
// loop unrolls: with `off >>= 1` in a loop the compiler kept a loop over the
// levels, and the array, indexed at run time, went to local memory.
template <int OFF, int S>
__device__ __forceinline__ void transpose_level(float (&v)[S], int lane) {
  const bool upper = (lane & OFF) != 0;
#pragma unroll
  for (int i = 0; i < OFF; ++i) {
    const float send = upper ? v[i] : v[i + OFF];
    const float keep = upper ? v[i + OFF] : v[i];
    v[i] = keep + __shfl_xor_sync(kFull, send, OFF);
  }
  if constexpr (OFF > 1) transpose_level<OFF / 2>(v, lane);
}

// Lane l receives Σ_lanes v[l mod S] (S = 16 or 32), in S + S/2 + … shuffles.
template <int S>
__device__ __forceinline__ float transpose_reduce(float (&v)[S], int lane) {
  if constexpr (S == 16) {
#pragma unroll
    for (int i = 0; i < 16; ++i) v[i] += __shfl_xor_sync(kFull, v[i], 16);
  }
  transpose_level<S / 2>(v, lane);
  return v[0];
}

template <int EPL>
__device__ __forceinline__ void load_row(const float* p, float (&out)[EPL]) {
  if constexpr (EPL == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    out[0] = t.x; out[1] = t.y; out[2] = t.z; out[3] = t.w;
  } else {
    const float2 t = *reinterpret_cast<const float2*>(p);
    out[0] = t.x; out[1] = t.y;
  }
}
template <int EPL>
__device__ __forceinline__ void store_row(float* p, const float (&in)[EPL]) {
  if constexpr (EPL == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(in[0], in[1], in[2], in[3]);
  } else {
    *reinterpret_cast<float2*>(p) = make_float2(in[0], in[1]);
  }
}

// FP16 copy of a residual (scaled by a power of two so that max |r| < 2^14)
// into the tile's R̃ row, and the error bound ε of the next step's α̃ in the
// same scaled units: |α̃_j − s·α_j| ≤ e_max·‖s·r‖ + dn_max·ρ + acc_tol·dn_max·‖r̃‖
// with ρ = ‖s·r − r̃‖ measured here.
template <int M>
__device__ void prepare_residual(const float (&r)[M / 32], __half* rt_row, float* eps_out, int lane,
                                 const LaunchArgs& a) {
  constexpr int EPL = M / 32;
  float mx = 0.0f;
#pragma unroll
  for (int q = 0; q < EPL; ++q) mx = fmaxf(mx, fabsf(r[q]));
  mx = dev::warp_max(mx);
  __half h[EPL];
  if (!(mx > 0.0f)) {
#pragma unroll
    for (int q = 0; q < EPL; ++q) h[q] = __float2half_rn(0.0f);
    if (lane == 0) *eps_out = 0.0f;
  } else {
    // frexp's exponent and ldexp from the bits (mx > 0, finite; a subnormal mx
    // gives e = −126 here, frexp's e ≤ −126, and the clamp makes both 126).
    const int e = int(__float_as_uint(mx) >> 23) - 126;
    const float scale = __uint_as_float(uint32_t(min(14 - e, 126) + 127) << 23);
    float n2 = 0.0f, rho2 = 0.0f;
#pragma unroll
    for (int q = 0; q < EPL; ++q) {
      const float rs = r[q] * scale;
      h[q] = __float2half_rn(rs);
      const float d = rs - __half2float(h[q]);
      n2 += rs * rs;
      rho2 += d * d;
    }
    n2 = dev::warp_sum(n2);
    rho2 = dev::warp_sum(rho2);
    const float rn = sqrtf(n2), rho = sqrtf(rho2);
    const float eps = 1.03f * (a.e_max * rn + a.dn_max * rho + a.acc_tol * a.dn_max * (rn + rho)) + 1e-30f;
    if (lane == 0) *eps_out = eps;
  }
  if constexpr (EPL == 4) {
    *reinterpret_cast<uint2*>(rt_row + lane * 4) =
        make_uint2(dev::half2_bits(__halves2half2(h[0], h[1])), dev::half2_bits(__halves2half2(h[2], h[3])));
  } else {
    __half2 p0 = __halves2half2(h[0], h[1]);
    *reinterpret_cast<__half2*>(rt_row + lane * 2) = p0;
  }
}

// Writes a finished vector's slots and retires it.
template <int M, int S, int BV>
__device__ void finalize(int v, int k, int64_t vid, const Smem<M, S, BV>& sm, const double* gam, int lane,
                         const LaunchArgs& a, bool writer) {
  if (writer && lane < a.sparsity) {
    const int64_t slot = vid * a.sparsity + lane;
    uint16_t index = 0;
    float value = 0.0f;
    if (lane < k) {
      index = sm.sup[v * S + lane];
      value = float(gam[lane]);
    }
    if (a.indices) a.indices[slot] = index;
    if (a.values) a.values[slot] = value;
    if (a.fp8) a.fp8[slot] = dev::fp8_encode(value);
  }
  if (lane == 0) {
    if (writer && a.counts) a.counts[vid] = k;
    sm.st.active[v] = 0;
  }
}

// Exact correlations, lane-parallel, with the atoms atom_of(0 … count−1) for
// the residual in wr (shared, M floats): merges the best |α_j| over atoms not
// chosen into best_* (warp-uniform on return), ties to the lowest index.
// atom_of gives −1 for a padding atom (skipped).
template <int M, typename AtomOf>
__device__ void scan_atoms(const float* wr, const float* dict, int k, const uint16_t* sup, int lane, int count,
                           AtomOf atom_of, int& best_j, float& best_m, double& best_a) {
  const float4* w4 = reinterpret_cast<const float4*>(wr);
  for (int t = lane; t < count; t += 32) {
    const int j = atom_of(t);
    if (j < 0) continue;
    const float4* row = reinterpret_cast<const float4*>(dict + size_t(j) * M);
    float p0 = 0.0f, p1 = 0.0f, p2 = 0.0f, p3 = 0.0f;
#pragma unroll 8
    for (int e = 0; e < M / 4; ++e) {
      const float4 d = __ldg(row + e);
      const float4 x = w4[e];
      p0 = fmaf(d.x, x.x, p0);
      p1 = fmaf(d.y, x.y, p1);
      p2 = fmaf(d.z, x.z, p2);
      p3 = fmaf(d.w, x.w, p3);
    }
    const double p = double((p0 + p1) + (p2 + p3));
    const float mg = fabsf(float(p));
    if (mg > best_m || (mg == best_m && best_j >= 0 && j < best_j)) {
      bool chosen = false;
      for (int i = 0; i < k; ++i) chosen |= sup[i] == j;
      if (!chosen) {
        best_m = mg;
        best_j = j;
        best_a = p;
      }
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float om = __shfl_xor_sync(kFull, best_m, o);
    const int oj = __shfl_xor_sync(kFull, best_j, o);
    const double oa = __shfl_xor_sync(kFull, best_a, o);
    if (oj >= 0 && (om > best_m || (om == best_m && (best_j < 0 || oj < best_j)))) {
      best_m = om;
      best_j = oj;
      best_a = oa;
    }
  }
  __syncwarp();
}

// The cluster's barrier and the peer block's shared memory (SPLIT = 2 only;
// the host splits only where the binary runs sm_90 code).
__device__ __forceinline__ void cluster_sync() {
#if __CUDA_ARCH__ >= 900
  cooperative_groups::this_cluster().sync();
#endif
}
__device__ __forceinline__ unsigned cluster_rank() {
#if __CUDA_ARCH__ >= 900
  return cooperative_groups::this_cluster().block_rank();
#else
  return 0;
#endif
}
template <typename T>
__device__ __forceinline__ T* peer_shared(T* p, unsigned rank) {
#if __CUDA_ARCH__ >= 900
  return cooperative_groups::this_cluster().map_shared_rank(p, rank);
#else
  return p;
#endif
}

// SPLIT = 2: the two blocks of a cluster pursue the same tile, each over half
// of the dictionary's chunks, and exchange their short lists through
// distributed shared memory. Both then run the (deterministic) serial phase
// on identical data and reach identical states; only rank 0 writes results.
template <int M, int S, int BV, int SPLIT>
__global__ void __launch_bounds__(kThreads, BV == 64 ? 2 : 1) omp_kernel(const LaunchArgs a) {
  using G = Geometry<BV>;
  constexpr int ST = G::kStages;
  constexpr int EPL = M / 32;
  constexpr int RH = Layout<M, S, BV>::kRowHalves;
  constexpr int kBatch = BV == 64 ? kBatchFor<M> : 8;
  constexpr int kSlots = G::kSlotStride;  // exchange row per vector column
  static_assert(SPLIT >= 1 && SPLIT <= G::kMaxSplit, "split");
  constexpr bool kSmemScratch = Layout<M, S, BV>::kSmemScratch;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const Smem<M, S, BV> sm(smem_raw);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const unsigned rank = SPLIT > 1 ? cluster_rank() : 0;
  const bool writer = rank == 0;
  // The peer block's exchange lists (SPLIT = 2), mapped once.
  float* const peer_t1 = SPLIT > 1 ? peer_shared(sm.ex_t1, rank ^ 1) : nullptr;
  float* const peer_t2 = SPLIT > 1 ? peer_shared(sm.ex_t2, rank ^ 1) : nullptr;
  const int all_chunks = a.n_pad / kChunkAtoms;
  // Rank r of a cluster pursues chunks [rank_chunk(r), rank_chunk(r + 1)).
  auto rank_chunk = [&](int r) { return r * all_chunks / SPLIT; };
  const int chunk_begin = rank_chunk(int(rank)), chunk_end = rank_chunk(int(rank) + 1);
  const int n_chunks = chunk_end - chunk_begin;
  // A list key is |α̃| with its low place_bits mantissa bits replaced by the
  // atom's place in the thread's list (local chunk · kPerChunk + mt·2 + hh):
  // it is within a relative 2^(place_bits−23) of |α̃|.
  constexpr int kPerChunk = 2 * G::kMT;
  const int place_bits = 32 - __clz(all_chunks * kPerChunk - 1);
  const unsigned place_mask = (1u << place_bits) - 1u, key_mask = 0x7fffffffu & ~place_mask;
  const float key_slack = ldexpf(1.0f, place_bits - 21);  // 2·2^(place_bits−23), doubled for rounding
  // The atom at place t of list `list` (block rank, warp along the atoms, row g).
  auto list_atom = [&](int list, int t) {
    const int list_rank = list / G::kSlots, wa_l = (list % G::kSlots) / 8, g_l = list % 8;
    const int q = t % kPerChunk;
    return (rank_chunk(list_rank) + t / kPerChunk) * kChunkAtoms + wa_l * G::kMT * 16 + g_l +
           (q >> 1) * 16 + (q & 1) * 8;
  };
  unsigned long long my_steps = 0, my_scans = 0, my_rescans = 0;

  for (int tile_id = blockIdx.x / SPLIT; tile_id < a.n_tiles; tile_id += gridDim.x / SPLIT) {
    const Tile tile = a.tiles[tile_id];
    const __half* dh = a.dict_half + size_t(tile.dictionary) * a.n_pad * M;
    const float* df = a.dict_float + size_t(tile.dictionary) * a.n_pad * M;
    const float* df_lane = df + lane * EPL;  // the lane's EPL floats of atom 0

    // ---- init: r = x, ‖x‖², R̃ ----
    for (int i = 0; i < G::kVectorsPerWarp; ++i) {
      const int v = warp + i * kWarps;
      const size_t slot = size_t(blockIdx.x) * kTileVectors + v;
      __half* rt_row = sm.rt + v * RH;
      if (v >= tile.count) {
        for (int e = lane; e < RH; e += 32) rt_row[e] = __float2half_rn(0.0f);
        if (lane == 0) sm.st.active[v] = 0;
        continue;
      }
      const int64_t vid = int64_t(tile.first) + v;
      float x[EPL];
      double ns = 0.0;
#pragma unroll
      for (int q = 0; q < EPL; ++q) {
        const int e = lane * EPL + q;
        x[q] = e < a.dim ? a.x[vid * a.x_stride + e] : 0.0f;
        ns += double(x[q]) * x[q];
      }
      ns = dev::warp_sum(ns);
      store_row<EPL>((kSmemScratch ? sm.rs + v * M : a.r_scratch + slot * M) + lane * EPL, x);
      if (!isfinite(ns) || ns == 0.0) {
        for (int e = lane; e < RH; e += 32) rt_row[e] = __float2half_rn(0.0f);
        if (!isfinite(ns)) {
          if (lane == 0) {
            if (writer) atomicMin(&a.counters[2], (unsigned long long)vid);
            if (writer && a.counts) a.counts[vid] = -1;
            sm.st.active[v] = 0;
          }
        } else {
          finalize<M, S, BV>(v, 0, vid, sm, nullptr, lane, a, writer);
        }
        continue;
      }
      if (lane == 0) {
        sm.st.active[v] = 1;
        sm.st.k[v] = 0;
        sm.st.rsq[v] = ns;
        sm.st.target[v] = double(a.tolerance) * a.tolerance * ns;
        sm.st.minc[v] = float(kMinCorrelation * sqrt(ns));
      }
      prepare_residual<M>(x, rt_row, &sm.st.eps[v], lane, a);
    }
    __syncthreads();

    for (int step = 0; step < a.sparsity; ++step) {
      if (!__syncthreads_or(tid < BV ? sm.st.active[tid] : 0)) break;

      // ---- GEMM phase ----
      const int wa = warp % G::kWA, wv = warp / G::kWA, g = lane >> 2, t4 = lane & 3;
      float t1[G::kCols], t2[G::kCols];  // list keys
#pragma unroll
      for (int c = 0; c < G::kCols; ++c) {
        t1[c] = -1.0f;
        t2[c] = -1.0f;
      }
      // Each thread copies the same 16-byte pieces of every chunk: rows lrow +
      // i·kRowsPerPass, columns lcol…lcol+7; the offsets are fixed per thread,
      // so a chunk costs kPasses copies with immediate offsets.
      constexpr int kPiecesPerRow = M / 8;
      constexpr int kRowsPerPass = kThreads / kPiecesPerRow;
      constexpr int kPasses = kChunkAtoms / kRowsPerPass;
      static_assert(kThreads % kPiecesPerRow == 0 && kChunkAtoms % kRowsPerPass == 0, "chunk copy geometry");
      const __half* src_thread = dh + (tid / kPiecesPerRow) * M + (tid % kPiecesPerRow) * 8;
      __half* dst_thread = sm.dict + (tid / kPiecesPerRow) * RH + (tid % kPiecesPerRow) * 8;
      auto load_chunk = [&](int chunk, int stage) {
        const __half* src = src_thread + size_t(chunk_begin + chunk) * kChunkAtoms * M;
        __half* dst = dst_thread + stage * Layout<M, S, BV>::kDictBuf;
#pragma unroll
        for (int i = 0; i < kPasses; ++i) dev::cp_async16(dst + i * kRowsPerPass * RH, src + i * kRowsPerPass * M);
      };
      // ST-stage pipeline: chunks c+1 … c+ST−1 are in flight while c is used.
#pragma unroll
      for (int c = 0; c < ST - 1; ++c) {
        if (c < n_chunks) load_chunk(c, c);
        dev::cp_async_commit();
      }
      // Small tiles: the residual fragments are the same for every chunk of
      // the step; load them once (the bulk shape lacks the registers).
      constexpr bool kHoistB = BV != 64;
      uint32_t bh[kHoistB ? M / 16 : 1][G::kNT / 2][4];
      if constexpr (kHoistB) {
        __syncthreads();  // R̃ of this step is complete (it is before the chunk loop's barriers too)
#pragma unroll
        for (int ks = 0; ks < M / 16; ++ks)
#pragma unroll
          for (int np = 0; np < G::kNT / 2; ++np)
            dev::ldmatrix_x4(bh[ks][np], sm.rt + (wv * G::kNT * 8 + np * 16 + (lane & 7) + (lane >> 4) * 8) * RH +
                                             ks * 16 + ((lane >> 3) & 1) * 8);
      }
      // Only the warp's n8 column groups up to its last active vector run
      // MMAs (NA of kNT): a partly filled tile, or one whose vectors met the
      // tolerance, costs the tensor cores and the epilogue what it holds.
      const unsigned live = __ballot_sync(kFull, lane < G::kNT * 8 && sm.st.active[wv * G::kNT * 8 + lane]);
      const int n_live_groups = (32 - __clz(live) + 7) / 8;
      // One chunk's products for NA column groups, folded into the list keys.
      auto chunk_keys = [&](const __half* buf, int chunk, auto na_constant) {
        constexpr int NA = decltype(na_constant)::value;
        constexpr int NP = (NA + 1) / 2;  // ldmatrix_x4 fragments of 16 columns
        float acc[G::kMT][NA][4];
#pragma unroll
        for (int mt = 0; mt < G::kMT; ++mt)
#pragma unroll
          for (int nt = 0; nt < NA; ++nt)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[mt][nt][q] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < M / 16; ++ks) {
          uint32_t af[G::kMT][4], bf[NP][4];
#pragma unroll
          for (int mt = 0; mt < G::kMT; ++mt)
            dev::ldmatrix_x4(af[mt], buf + (wa * G::kMT * 16 + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * RH +
                                         ks * 16 + (lane >> 4) * 8);
#pragma unroll
          for (int np = 0; np < NP; ++np) {
            if constexpr (kHoistB) {
#pragma unroll
              for (int q = 0; q < 4; ++q) bf[np][q] = bh[ks][np][q];
            } else {
              dev::ldmatrix_x4(bf[np], sm.rt + (wv * G::kNT * 8 + np * 16 + (lane & 7) + (lane >> 4) * 8) * RH +
                                           ks * 16 + ((lane >> 3) & 1) * 8);
            }
          }
#pragma unroll
          for (int mt = 0; mt < G::kMT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NA; ++nt)
              dev::mma_16816(acc[mt][nt], af[mt], bf[nt >> 1][(nt & 1) * 2], bf[nt >> 1][(nt & 1) * 2 + 1]);
        }
        // Epilogue: per column, the thread's top two keys, without branches
        // (a warp-wide test for "anything new" is almost always true for some
        // lane, so branching paid for both paths). Four instructions a value.
#pragma unroll
        for (int mt = 0; mt < G::kMT; ++mt)
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const unsigned place = unsigned(chunk * kPerChunk + mt * 2 + hh);
#pragma unroll
            for (int nt = 0; nt < NA; ++nt)
#pragma unroll
              for (int h = 0; h < 2; ++h) {
                const int c = nt * 2 + h;
                const float key = __uint_as_float(and_or(__float_as_uint(acc[mt][nt][2 * hh + h]), key_mask, place));
                t2[c] = fmaxf(t2[c], fminf(key, t1[c]));
                t1[c] = fmaxf(t1[c], key);
              }
          }
      };
      // The chunk loop, one instance per NA: a switch inside it cost the full
      // tiles 1–6 % (m = 128, 64).
      auto chunk_loop = [&](auto na_constant) {
        for (int chunk = 0; chunk < n_chunks; ++chunk) {
          dev::cp_async_wait<ST - 2>();
          __syncthreads();
          if (chunk + ST - 1 < n_chunks) load_chunk(chunk + ST - 1, (chunk + ST - 1) % ST);
          dev::cp_async_commit();
          if constexpr (decltype(na_constant)::value > 0)
            chunk_keys(sm.dict + (chunk % ST) * Layout<M, S, BV>::kDictBuf, chunk, na_constant);
        }
      };
      with_groups<G::kNT>(n_live_groups, chunk_loop);
      dev::cp_async_wait_all();
      __syncthreads();  // every warp is done with the stages: the exchange may overwrite them
      if constexpr (SPLIT > 1) cluster_sync();  // so is the peer: its exchange may be written
#pragma unroll
      for (int nt = 0; nt < G::kNT; ++nt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int c = nt * 2 + h;
          const int col = wv * G::kNT * 8 + nt * 8 + 2 * t4 + h;
          const int at = col * kSlots + int(rank) * G::kSlots + wa * 8 + g;
          sm.ex_t1[at] = t1[c];
          sm.ex_t2[at] = t2[c];
          if constexpr (SPLIT > 1) {
            peer_t1[at] = t1[c];
            peer_t2[at] = t2[c];
          }
        }
      if constexpr (SPLIT > 1) cluster_sync();
      else __syncthreads();

      // ---- serial phase: one warp per vector ----
      float* const wr = sm.wr + warp * M;  // the warp's scratch row: the residual for scans, S doubles to broadcast
      for (int i = 0; i < G::kVectorsPerWarp; ++i) {
        const int v = warp + i * kWarps;
        if (!sm.st.active[v]) continue;  // warp-uniform
        const int64_t vid = int64_t(tile.first) + v;
        const size_t slot = size_t(blockIdx.x) * kTileVectors + v;
        float* rsc = kSmemScratch ? sm.rs + v * M : a.r_scratch + slot * M;
        double* Bc = kSmemScratch ? sm.bs + v * S * S : a.b_scratch + slot * S * S;  // B[row t][col l] at l·S + t
        double* gam = kSmemScratch ? sm.gs + v * S : a.g_scratch + slot * S;
        const uint16_t* sup = sm.sup + v * S;
        int k = sm.st.k[v];
        ++my_steps;
        // The support held one atom a lane, lanes ≥ k repeating the last one:
        // a row of D_I is then one shuffle away, and a batch of rows past k
        // repeats the last row (whose terms meet zero factors).
        const int my_atom = k > 0 ? int(sup[min(lane, k - 1)]) : -1;

        // Merge the short lists (G::kSlots per vector and block; each lane takes SL).
        constexpr int SL = G::kSlots * SPLIT / 32;
        float a1[SL], a2[SL];
        int ai[SL];
        float m1 = -1.0f;
#pragma unroll
        for (int r = 0; r < SL; ++r) {
          a1[r] = sm.ex_t1[v * kSlots + lane + 32 * r];
          a2[r] = sm.ex_t2[v * kSlots + lane + 32 * r];
          ai[r] = list_atom(lane + 32 * r, int(__float_as_uint(a1[r]) & place_mask));
          m1 = fmaxf(m1, a1[r]);
        }
        const float mx = dev::warp_max(m1);
        const float thr = mx * (1.0f - key_slack) - 2.0f * sm.st.eps[v];
        // A "wide" list (its second value also reaches the window) may hold
        // more atoms in the window than its top one: all its atoms are
        // rescored exactly. A chosen or padding atom at the top of a list in
        // the window, or too many candidates, need the full exact scan.
        unsigned cmask[SL], wmask[SL];
        int n_cand = 0, n_wide = 0;
        bool bad_lane = false;
#pragma unroll
        for (int r = 0; r < SL; ++r) {
          const bool cand = a1[r] >= thr;
          cmask[r] = __ballot_sync(kFull, cand);
          wmask[r] = __ballot_sync(kFull, a2[r] >= thr);
          n_cand += __popc(cmask[r]);
          n_wide += __popc(wmask[r]);
          if (cand && ai[r] >= a.n_atoms) bad_lane = true;
        }
        // Calls f(j) for each candidate atom j, the same order in every lane.
        const auto for_each_candidate = [&](auto&& f) {
#pragma unroll
          for (int r = 0; r < SL; ++r) {
            unsigned cm = cmask[r];
            while (cm) {
              const int b = __ffs(cm) - 1;
              cm &= cm - 1;
              f(__shfl_sync(kFull, ai[r], b));
            }
          }
        };
        // Each candidate against the support (lanes ≥ k repeat a chosen atom).
        if (n_cand <= kMaxCandidates) for_each_candidate([&](int j) { bad_lane |= my_atom == j; });
        const bool bad =
            !(mx > 0.0f) || n_wide > kMaxWideLists || n_cand > kMaxCandidates || __any_sync(kFull, bad_lane);

        float r[EPL];
        load_row<EPL>(rsc + lane * EPL, r);
        // Needed later; fetched now so that the latency overlaps the search.
        const double gam_old = lane < k ? gam[lane] : 0.0;
        float xv[EPL];
#pragma unroll
        for (int q = 0; q < EPL; ++q) {
          const int e = lane * EPL + q;
          xv[q] = e < a.dim ? a.x[vid * a.x_stride + e] : 0.0f;
        }
        int best_j = -1;
        float best_m = -1.0f;
        double best_a = 0.0;
        if (!bad) {
          for_each_candidate([&](int j) {
            float d[EPL];
            load_row<EPL>(df_lane + size_t(j) * M, d);
            float pf = 0.0f;
#pragma unroll
            for (int q = 0; q < EPL; ++q) pf = fmaf(d[q], r[q], pf);
            const double p = dev::warp_sum(pf);
            const float mg = fabsf(float(p));
            if (mg > best_m || (mg == best_m && j < best_j)) {
              best_m = mg;
              best_j = j;
              best_a = p;
            }
          });
          if (n_wide > 0) {
            store_row<EPL>(wr + lane * EPL, r);
            __syncwarp();
#pragma unroll
            for (int sl = 0; sl < SL; ++sl) {
              unsigned wm = wmask[sl];
              while (wm) {
                ++my_rescans;
                const int list = sl * 32 + __ffs(wm) - 1;
                wm &= wm - 1;
                const int list_rank = list / G::kSlots;
                const int n_places = (rank_chunk(list_rank + 1) - rank_chunk(list_rank)) * kPerChunk;
                scan_atoms<M>(wr, df, k, sup, lane, n_places, [&](int t) {
                  const int j = list_atom(list, t);
                  return j < a.n_atoms ? j : -1;
                }, best_j, best_m, best_a);
              }
            }
          }
        } else {
          ++my_scans;
          store_row<EPL>(wr + lane * EPL, r);
          __syncwarp();
          scan_atoms<M>(wr, df, k, sup, lane, a.n_atoms, [](int t) { return t; }, best_j, best_m, best_a);
        }
        if (best_j < 0 || !(best_m > sm.st.minc[v])) {
          finalize<M, S, BV>(v, k, vid, sm, gam, lane, a, writer);
          continue;
        }
        const int j = best_j;

        // Gram entries G_{I,j} and G_jj in float (the CPU's G is float too).
        // Atom rows are fetched kBatch at a time so that their latencies overlap.
        float dj[EPL];
        load_row<EPL>(df_lane + size_t(j) * M, dj);
        float pjj = 0.0f;
#pragma unroll
        for (int q = 0; q < EPL; ++q) pjj = fmaf(dj[q], dj[q], pjj);
        float gv[S];
#pragma unroll
        for (int t = 0; t < S; ++t) gv[t] = 0.0f;
        // Batches of kBatch rows, whole: the entries past k (the last row again)
        // land in lanes ≥ k of g_l, which only meet zero factors below. Per-row
        // guards cost a branch each.
#pragma unroll
        for (int t0 = 0; t0 < S; t0 += kBatch) {
          if (t0 < k) {
            float di[kBatch][EPL];
#pragma unroll
            for (int u = 0; u < kBatch; ++u)
              load_row<EPL>(df_lane + size_t(unsigned(__shfl_sync(kFull, my_atom, t0 + u))) * M, di[u]);
#pragma unroll
            for (int u = 0; u < kBatch; ++u)
#pragma unroll
              for (int q = 0; q < EPL; ++q) gv[t0 + u] = fmaf(di[u][q], dj[q], gv[t0 + u]);
          }
        }
        const double g_l = double(transpose_reduce<S>(gv, lane));  // lane l: G_{I_l, j}
        const double gjj = double(dev::warp_sum(pjj));

        // w = Bᵀ g (lane l: w_l = Σ_{t≤l} B[t][l] g_t), pivot² = G_jj − ‖w‖².
        // g, then w, are broadcast through the warp's scratch row: a double
        // is one shared load there against two shuffles and two moves.
        double* const bcast = reinterpret_cast<double*>(wr);
        if (lane < S) bcast[lane] = g_l;
        __syncwarp();
        double w = 0.0;
#pragma unroll
        for (int t0 = 0; t0 < S; t0 += kBatch) {
          if (t0 < k) {
            double bcol[kBatch];
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
              const int t = t0 + u;
              bcol[u] = (t < k && t <= lane && lane < k) ? Bc[lane * S + t] : 0.0;
            }
#pragma unroll
            for (int u = 0; u < kBatch; ++u)
              w += bcol[u] * bcast[t0 + u];  // bcol[u] = 0 past k
          }
        }
        const double pivot_sq = gjj - dev::warp_sum(lane < k ? w * w : 0.0);
        if (pivot_sq <= kMinPivotSq * gjj) {  // the atom lies (numerically) in the span
          finalize<M, S, BV>(v, k, vid, sm, gam, lane, a, writer);
          continue;
        }
        const double inv_lambda = rsqrt(pivot_sq);  // 1/λ, λ the new pivot (the CPU's 1/sqrt, to an ulp)
        // v = B w (lane l: v_l = Σ_{t≥l} B[l][t] w_t).
        __syncwarp();  // every lane has read g
        if (lane < S) bcast[lane] = w;
        __syncwarp();
        double vl = 0.0;
#pragma unroll
        for (int t0 = 0; t0 < S; t0 += kBatch) {
          if (t0 < k) {
            double brow[kBatch];
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
              const int t = t0 + u;
              brow[u] = (t < k && lane <= t) ? Bc[t * S + lane] : 0.0;
            }
#pragma unroll
            for (int u = 0; u < kBatch; ++u)
              vl += brow[u] * bcast[t0 + u];  // brow[u] = 0 past k
          }
        }
        if (lane < k) Bc[k * S + lane] = -vl * inv_lambda;
        if (lane == k) Bc[k * S + k] = inv_lambda;
        const double z = best_a * inv_lambda;
        const double gamma_new = z * inv_lambda;
        const double rsq = sm.st.rsq[v] - z * z;
        double gl = lane < k ? gam_old - gamma_new * vl : 0.0;
        if (lane == k) gl = gamma_new;
        if (lane <= k) gam[lane] = gl;
        __syncwarp();
        if (lane == 0) {
          sm.sup[v * S + k] = uint16_t(j);
          sm.st.rsq[v] = rsq;
          sm.st.k[v] = k + 1;
        }
        __syncwarp();
        ++k;
        if (k == a.sparsity || rsq <= sm.st.target[v]) {
          finalize<M, S, BV>(v, k, vid, sm, gam, lane, a, writer);
          continue;
        }

        // r = x − D_I γ (float, as the CPU's α update), then its FP16 copy and ε.
        const int res_atom = lane >= k - 1 ? j : my_atom;  // I now ends with j
#pragma unroll
        for (int q = 0; q < EPL; ++q) r[q] = xv[q];
        const float gl_f = float(gl);
#pragma unroll
        for (int t0 = 0; t0 < S; t0 += kBatch) {
          if (t0 < k) {
            float di[kBatch][EPL];
#pragma unroll
            for (int u = 0; u < kBatch; ++u)
              load_row<EPL>(df_lane + size_t(unsigned(__shfl_sync(kFull, res_atom, t0 + u))) * M, di[u]);
#pragma unroll
            for (int u = 0; u < kBatch; ++u) {
              const float gt = __shfl_sync(kFull, gl_f, t0 + u);  // 0 past k: r unchanged
#pragma unroll
              for (int q = 0; q < EPL; ++q) r[q] = fmaf(-gt, di[u][q], r[q]);
            }
          }
        }
        store_row<EPL>(rsc + lane * EPL, r);
        prepare_residual<M>(r, sm.rt + v * RH, &sm.st.eps[v], lane, a);
      }
      __syncthreads();
    }
    // Vectors still active here reached s atoms in the last step's serial
    // phase and were finalized there; nothing is left to write.
    __syncthreads();
  }
  if constexpr (SPLIT > 1) cluster_sync();  // no block leaves while its peer may read or write its memory
  // Per-warp counters.
  if (lane == 0 && writer) {
    atomicAdd(&a.counters[0], my_steps);
    atomicAdd(&a.counters[1], my_scans);
    atomicAdd(&a.counters[3], my_rescans);
  }
}

// ---- FP8-aware refit: one warp per vector; lane 0 runs lib/sparse/omp.cpp's
// refit_fp8 on G_II and α⁰_I (computed in double, rounded to float as there).

__device__ bool solve_spd(double* a, double* b, int n) {
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      double sum = a[i * n + j];
      for (int t = 0; t < j; ++t) sum -= a[i * n + t] * a[j * n + t];
      if (i == j) {
        if (sum <= 0.0) return false;
        a[i * n + i] = sqrt(sum);
      } else {
        a[i * n + j] = sum / a[j * n + j];
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int t = 0; t < i; ++t) b[i] -= a[i * n + t] * b[t];
    b[i] /= a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    for (int t = i + 1; t < n; ++t) b[i] -= a[t * n + i] * b[t];
    b[i] /= a[i * n + i];
  }
  return true;
}

constexpr int kRefitWarps = 4;

template <int M, int S>
struct RefitSmem {
  double gram[S * S];
  double mat[S * S];
  double alpha0[S];
  double gamma[S];
  double rhs[S];
  int free_[S];
  int fixed[S];
  int support[S];
};

template <int M, int S>
__global__ void __launch_bounds__(kRefitWarps * 32) refit_kernel(const LaunchArgs a) {
  constexpr int EPL = M / 32;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  RefitSmem<M, S>& s = reinterpret_cast<RefitSmem<M, S>*>(smem_raw)[warp];
  const int64_t vid = int64_t(blockIdx.x) * kRefitWarps + warp;
  if (vid >= a.n_vectors) return;
  const int k = a.counts[vid];
  if (k <= 0) return;
  // The vector's dictionary: the tile that holds it.
  int lo = 0, hi = a.n_tiles - 1;  // tiles are in order of their first vector
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (a.tiles[mid].first <= vid) lo = mid;
    else hi = mid - 1;
  }
  const int dictionary = a.tiles[lo].dictionary;
  const float* df = a.dict_float + size_t(dictionary) * a.n_pad * M;
  if (lane < k) {
    s.support[lane] = a.indices[vid * a.sparsity + lane];
    s.gamma[lane] = a.values[vid * a.sparsity + lane];
  }
  __syncwarp();
  float x[EPL];
#pragma unroll
  for (int q = 0; q < EPL; ++q) {
    const int e = lane * EPL + q;
    x[q] = e < a.dim ? a.x[vid * a.x_stride + e] : 0.0f;
  }
  for (int i = 0; i < k; ++i) {
    float di[EPL];
    load_row<EPL>(df + size_t(s.support[i]) * M + lane * EPL, di);
    double p = 0.0;
#pragma unroll
    for (int q = 0; q < EPL; ++q) p += double(di[q]) * x[q];
    p = dev::warp_sum(p);
    if (lane == 0) s.alpha0[i] = double(float(p));
    for (int j = i; j < k; ++j) {
      float dj[EPL];
      load_row<EPL>(df + size_t(s.support[j]) * M + lane * EPL, dj);
      double gp = 0.0;
#pragma unroll
      for (int q = 0; q < EPL; ++q) gp += double(di[q]) * dj[q];
      gp = double(float(dev::warp_sum(gp)));
      if (lane == 0) {
        s.gram[i * S + j] = gp;
        s.gram[j * S + i] = gp;
      }
    }
  }
  __syncwarp();
  if (lane == 0) {
    for (int i = 0; i < k; ++i) s.fixed[i] = 0;
    for (int round = 0; round < k; ++round) {
      int largest = -1;
      for (int i = 0; i < k; ++i)
        if (!s.fixed[i] && (largest < 0 || fabs(s.gamma[i]) > fabs(s.gamma[largest]))) largest = i;
      s.gamma[largest] = dev::fp8_decode(dev::fp8_encode(float(s.gamma[largest])));
      s.fixed[largest] = 1;
      int n_free = 0;
      for (int i = 0; i < k; ++i)
        if (!s.fixed[i]) s.free_[n_free++] = i;
      if (n_free == 0) break;
      for (int p = 0; p < n_free; ++p) {
        const int fa = s.free_[p];
        double rhs = s.alpha0[fa];
        for (int i = 0; i < k; ++i)
          if (s.fixed[i]) rhs -= s.gram[i * S + fa] * s.gamma[i];
        s.rhs[p] = rhs;
        for (int q = 0; q < n_free; ++q) s.mat[p * n_free + q] = s.gram[s.free_[q] * S + fa];
      }
      if (!solve_spd(s.mat, s.rhs, n_free)) continue;  // keep the OMP values
      for (int p = 0; p < n_free; ++p) s.gamma[s.free_[p]] = s.rhs[p];
    }
  }
  __syncwarp();
  if (lane < k) {
    const float value = float(s.gamma[lane]);
    a.values[vid * a.sparsity + lane] = value;
    if (a.fp8) a.fp8[vid * a.sparsity + lane] = dev::fp8_encode(value);
  }
}

__global__ void fp8_encode_kernel(const float* in, uint8_t* out, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = dev::fp8_encode(in[i]);
}

template <int M, int S, int BV>
int max_grid_for() {
  static int cached = [] {
    const size_t bytes = Layout<M, S, BV>::kBytes;
    LEXICO_CUDA_CHECK(
        cudaFuncSetAttribute(omp_kernel<M, S, BV, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    int per_sm = 0;
    LEXICO_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, omp_kernel<M, S, BV, 1>, kThreads, bytes));
    if (per_sm < 1) throw Error(ErrorKind::Internal, "cuda", "the OMP kernel does not fit one multiprocessor");
    return per_sm * device_info().sm_count;
  }();
  return cached;
}

template <int M, int S, int BV>
void launch_for(const LaunchArgs& a, cudaStream_t stream) {
  max_grid_for<M, S, BV>();  // sets the shared-memory attribute once
  omp_kernel<M, S, BV, 1><<<a.grid, kThreads, Layout<M, S, BV>::kBytes, stream>>>(a);
  LEXICO_CUDA_CHECK_LAUNCH();
}

template <int M, int S>
void launch_split(const LaunchArgs& a, cudaStream_t stream) {
  constexpr int BV = kSmallTileVectors;
  static const bool configured = [] {
    LEXICO_CUDA_CHECK(cudaFuncSetAttribute(omp_kernel<M, S, BV, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(Layout<M, S, BV>::kBytes)));
    return true;
  }();
  (void)configured;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(unsigned(a.grid));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = Layout<M, S, BV>::kBytes;
  config.stream = stream;
  cudaLaunchAttribute cluster;
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = 2;
  cluster.val.clusterDim.y = 1;
  cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  LEXICO_CUDA_CHECK(cudaLaunchKernelEx(&config, omp_kernel<M, S, BV, 2>, a));
  LEXICO_CUDA_CHECK_LAUNCH();
}

template <int M, int S>
void launch_ms(const LaunchArgs& a, cudaStream_t stream) {
  if (a.split == 2) launch_split<M, S>(a, stream);
  else if (a.small_tiles) launch_for<M, S, kSmallTileVectors>(a, stream);
  else launch_for<M, S, kTileVectors>(a, stream);
}

template <int M, int S>
bool split_runs_sm90() {
  static const bool ok = [] {
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, omp_kernel<M, S, kSmallTileVectors, 2>) != cudaSuccess) {
      (void)cudaGetLastError();  // not left for the next launch's check to report
      return false;
    }
    return attributes.binaryVersion >= 90;
  }();
  return ok;
}

template <int M, int S>
void refit_for(const LaunchArgs& a, cudaStream_t stream) {
  const size_t bytes = sizeof(RefitSmem<M, S>) * kRefitWarps;
  static bool once = [&] {
    LEXICO_CUDA_CHECK(cudaFuncSetAttribute(refit_kernel<M, S>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    return true;
  }();
  (void)once;
  const int64_t blocks = (a.n_vectors + kRefitWarps - 1) / kRefitWarps;
  refit_kernel<M, S><<<unsigned(blocks), kRefitWarps * 32, bytes, stream>>>(a);
  LEXICO_CUDA_CHECK_LAUNCH();
}

}  // namespace

int omp_max_grid(int padded_dim, int max_sparsity, bool small_tiles) {
  constexpr int B = kTileVectors, b = kSmallTileVectors;
  if (small_tiles) {
    if (padded_dim == 64) return max_sparsity == 16 ? max_grid_for<64, 16, b>() : max_grid_for<64, 32, b>();
    return max_sparsity == 16 ? max_grid_for<128, 16, b>() : max_grid_for<128, 32, b>();
  }
  if (padded_dim == 64) return max_sparsity == 16 ? max_grid_for<64, 16, B>() : max_grid_for<64, 32, B>();
  return max_sparsity == 16 ? max_grid_for<128, 16, B>() : max_grid_for<128, 32, B>();
}

bool omp_split_available(int padded_dim, int max_sparsity) {
  if (device_info().major < 9) return false;
  if (padded_dim == 64) return max_sparsity == 16 ? split_runs_sm90<64, 16>() : split_runs_sm90<64, 32>();
  return max_sparsity == 16 ? split_runs_sm90<128, 16>() : split_runs_sm90<128, 32>();
}

void launch_omp(const LaunchArgs& a, cudaStream_t stream) {
  if (a.grid <= 0 || a.n_tiles <= 0) return;
  if (a.padded_dim == 64) {
    if (a.max_sparsity == 16) launch_ms<64, 16>(a, stream);
    else launch_ms<64, 32>(a, stream);
  } else {
    if (a.max_sparsity == 16) launch_ms<128, 16>(a, stream);
    else launch_ms<128, 32>(a, stream);
  }
}

void launch_refit(const LaunchArgs& a, cudaStream_t stream) {
  if (a.n_vectors <= 0) return;
  if (a.padded_dim == 64) {
    if (a.max_sparsity == 16) refit_for<64, 16>(a, stream);
    else refit_for<64, 32>(a, stream);
  } else {
    if (a.max_sparsity == 16) refit_for<128, 16>(a, stream);
    else refit_for<128, 32>(a, stream);
  }
}

namespace {

// One block (padded_dim threads) per atom: the copies, then the atom's FP16
// error and FP16 norm (double sums, as the host's construction) into bounds.
__global__ void pack_dictionary_kernel(const float* src, int dim, int padded_dim, int n_pad, int k, __half* dict_half,
                                       float* dict_float, unsigned* bounds) {
  const int j = blockIdx.x, e = threadIdx.x;
  const float value = e < dim ? src[size_t(j) * dim + e] : 0.0f;
  const __half h = __float2half_rn(value);
  const size_t at = (size_t(k) * n_pad + j) * padded_dim + e;
  dict_half[at] = h;
  dict_float[at] = value;
  const double back = double(__half2float(h)), diff = back - double(value);
  __shared__ double sums[2][4];
  double err2 = dev::warp_sum(diff * diff), n2 = dev::warp_sum(back * back);
  if ((e & 31) == 0) sums[0][e >> 5] = err2, sums[1][e >> 5] = n2;
  __syncthreads();
  if (e == 0) {
    err2 = n2 = 0.0;
    for (int w = 0; w < padded_dim / 32; ++w) err2 += sums[0][w], n2 += sums[1][w];
    // Non-negative floats order as their bit patterns.
    atomicMax(&bounds[0], __float_as_uint(float(sqrt(err2))));
    atomicMax(&bounds[1], __float_as_uint(float(sqrt(n2))));
  }
}

}  // namespace

void launch_pack_dictionary(const float* src, int dim, int n_atoms, int padded_dim, int n_pad, int k,
                            __half* dict_half, float* dict_float, unsigned* bounds, cudaStream_t stream) {
  if (n_atoms <= 0) return;
  pack_dictionary_kernel<<<unsigned(n_atoms), unsigned(padded_dim), 0, stream>>>(src, dim, padded_dim, n_pad, k,
                                                                                  dict_half, dict_float, bounds);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void fp8_encode_on_device(const float* host_in, uint8_t* host_out, size_t n) {
  if (n == 0) return;
  DeviceBuffer<float> in(n, "fp8 test input");
  DeviceBuffer<uint8_t> out(n, "fp8 test output");
  LEXICO_CUDA_CHECK(cudaMemcpy(in.data(), host_in, n * sizeof(float), cudaMemcpyHostToDevice));
  fp8_encode_kernel<<<unsigned((n + 255) / 256), 256>>>(in.data(), out.data(), n);
  LEXICO_CUDA_CHECK_LAUNCH();
  LEXICO_CUDA_CHECK(cudaMemcpy(host_out, out.data(), n, cudaMemcpyDeviceToHost));
}

}  // namespace lexico::cuda::omp_detail
