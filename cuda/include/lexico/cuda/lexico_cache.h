// The Lexico cache on the GPU: the twin of lexico::LexicoCache with the same
// policy (new tokens in an FP16 buffer; after each step every buffered token
// but the newest n_b is sparse-coded and moved out) and the same storage per
// vector (s uint16 atom indices and s FP8 E4M3 coefficients, fixed-s rows;
// with a tolerance δ a code that stops early is padded with zero
// coefficients, so the GPU stores 3s bytes where the CPU's CSR stores 3·nnz+2).
//
// Attention picks one of two plans a step:
//  - decode steps (one query): SparseDecodeAttention, never densifying (q·D_k
//    once, gathers, the values summed in coefficient space, D_v applied
//    once): it reads 3s bytes a vector where a dense cache reads 2m;
//  - multi-token steps (a forward call's tokens over earlier calls' codes),
//    decode steps whose buffer holds more rows than the dictionary has atoms
//    (right after a long prompt, overlapped), and, when a densify limit is
//    set, decode steps over at most that many compressed tokens that the
//    one-launch cluster kernel does not take (SparseKernel::Auto): the
//    compressed rows are reconstructed (D·ŷ, rounded to FP16) into a scratch
//    of one layer's rows, the buffer rows copied after them, and the dense
//    FP16 kernel attends; one reconstruction serves all the step's queries,
//    where the sparse kernel would gather per query. The reconstruction
//    shares the append's launch.
// While nothing is compressed yet (a prompt, however many steps it takes)
// the dense kernel attends the buffer in place. finish_step() codes the
// step's overflow of every layer, keys and values, in one GpuOmpEncoder
// launch over the 2·L dictionaries: the per-token path of the method.
//
// Overlapped encoding (the default): that launch runs on a second stream
// while the next step computes, and its codes are committed at the next
// finish_step (or earlier, when a step needs the buffer rows). Until then
// the tokens being coded are attended from the FP16 buffer, exactly; so a
// decode step sees n_b + 1 exact tokens where the CPU cache sees n_b, and
// the OMP's latency leaves the decode loop. Decode steps are coded in
// batches of encode_batch() tokens: an OMP launch streams each dictionary
// once a pursuit step whatever its vectors, so coding one token's 8 heads at
// a time (Llama-3.1-8B) moved 64 dictionaries × s steps through memory per
// token, beside the step's own weights; a batch fills a full OMP tile
// (64 vectors a dictionary) and the buffer holds up to encode_batch() − 1
// more exact tokens meanwhile. flush() commits at once; with overlap off
// every step is coded, and gives the CPU LexicoCache's state and results.
#pragma once
#include <vector>

#include "lexico/cuda/attention.h"
#include "lexico/cuda/kv_cache.h"
#include "lexico/cuda/omp.h"
#include "lexico/dictionary.h"
#include "lexico/lexico_cache.h"

namespace lexico::cuda {

class GpuLexicoCache : public GpuKvCache {
 public:
  // Same checks and messages as LexicoCache (dictionary fit, option ranges);
  // then Error(Internal, "cuda", reason) when the GPU kernels do not take
  // this shape (unsupported_reason) or it does not fit the GPU. capacity
  // bounds every layer's positions; a step holds at most max_step tokens. A
  // step's tokens stay exact in the FP16 buffer (n_b + max_step +
  // encode_batch − 1 rows) until finish_step codes all but the newest n_b
  // (at a batch's end when overlapping), so a prompt is attended exactly
  // and coded after, as LexicoCache does (a longer one through
  // begin_forward); attention over a buffer longer than the dictionary's
  // atoms (the sparse kernels' limit) takes the dense plan.
  // encode_batch: decode steps coded together when overlapping (0: as many
  // tokens as one OMP tile holds, auto_encode_batch; 1: every step, the CPU's
  // policy one step late); serial encoding takes 0 or 1 and codes every step.
  GpuLexicoCache(CacheShape shape, const Dictionary& dictionary, LexicoOptions options, int64_t capacity,
                 int max_step = 512, bool overlap_encoding = true, int encode_batch = 0);
  ~GpuLexicoCache() override;
  // Empty when the kernels take this shape and these options; else why not.
  static std::string unsupported_reason(const CacheShape& shape, int n_atoms, const LexicoOptions& options,
                                        int max_step);

  void append(int layer, const float* k, const float* v, int n_tokens, cudaStream_t stream) override;
  void attend(int layer, const float* q, int n_tokens, float* out, cudaStream_t stream) override;
  void finish_step(cudaStream_t stream) override;
  // A call of more tokens than a step (a long prompt) grows the FP16 buffer
  // to hold all of them (the memory of a full cache for the call) and codes
  // them after its last step, so the whole call is attended exactly, as
  // LexicoCache attends a prompt; the buffer shrinks back then.
  void begin_forward(int64_t n_tokens, int step_tokens, cudaStream_t stream) override;
  // Commits codes still being computed (a no-op without overlap).
  void flush(cudaStream_t stream);
  int64_t length(int layer) const override { return compressed_.at(layer) + buffered_.at(layer); }
  // Committed codes; tokens still being coded count as buffered.
  int64_t compressed_length(int layer) const { return compressed_.at(layer); }
  int64_t buffer_length(int layer) const { return buffered_.at(layer); }
  // Rows the FP16 buffer holds per layer, kind and KV head: n_b + max_step +
  // encode_batch − 1, more during a forward call longer than a step.
  int64_t buffer_capacity() const { return buffer_capacity_; }
  size_t used_bytes() const override;
  // The dictionaries on the GPU: the encoder's FP16 and float32 copies (the attention reads the FP16 one).
  size_t table_bytes() const;
  // Scratch and workspace of the two attention plans (not cache storage).
  size_t workspace_bytes() const;
  // Decode steps over at most this many compressed tokens take the dense
  // plan unless the cluster kernel takes them. The default, 0, keeps every
  // decode step sparse: with the runtime's one-token GEMV the sparse kernels
  // were the faster at every shape measured (docs/benchmarks.md). Multi-token
  // steps always take the dense plan.
  void set_densify_limit(int64_t tokens) { densify_limit_ = tokens; }
  int64_t densify_limit() const { return densify_limit_; }
  // The sparse plan's kernels (SparseDecodeAttention::set_kernel; Auto by
  // default, ThreeKernels for the reference bench_cuda_model measures).
  void set_sparse_kernel(SparseKernel kernel) { attention_.set_kernel(kernel); }
  int encode_batch() const { return encode_batch_; }
  // ⌊64 / KV heads⌋ tokens (at most one OMP tile of 64 vectors a dictionary), 1 to kMaxEncodeBatch.
  static int auto_encode_batch(const CacheShape& shape);
  static constexpr int kMaxEncodeBatch = 32;
  std::string name() const override;
  // The stored code of compressed token `token` (0 = oldest) of one head, as
  // LexicoCache::code: s indices and FP8 codes (synchronises; for tests;
  // flush() first for the newest).
  void code(int layer, int kv_head, KvKind kind, int64_t token, std::vector<uint16_t>& indices,
            std::vector<uint8_t>& coefficients) const;

 private:
  CompressedKv layer_view(int layer) const;
  // Codes buffer rows [row0, row0 + c) of every layer, head and kind into the slots.
  void encode(int64_t c, int64_t row0, cudaStream_t stream);
  // Copies the slots' c codes to compressed rows [t0, t0 + c).
  void store_codes(int64_t c, int64_t t0, cudaStream_t stream);
  // Stores the pending codes (unless stored already) and drops their rows from the buffer.
  void commit(cudaStream_t stream);
  // usage_error unless every layer holds as many tokens as layer 0.
  void check_layers_in_step() const;
  // Whether a step of n_tokens over `compressed` compressed tokens takes the dense plan.
  bool dense_plan(int64_t compressed, int n_tokens, int64_t buffered) const;
  // Moves the buffer's rows into an allocation of `rows` rows a group (synchronises the stream).
  void resize_buffer(int64_t rows, cudaStream_t stream);
  // Back to the base rows once a long call's rows are coded and dropped.
  void shrink_buffer(cudaStream_t stream);
  // Rows of the dense scratch a KV head: every position (compressed and buffered ≤ capacity) and more.
  int64_t scratch_rows() const { return capacity_ + base_buffer_capacity_; }

  LexicoOptions options_;
  int n_atoms_;
  int encode_batch_;
  int code_rows_;                 // most rows one encoding codes: max_step + encode_batch − 1
  int64_t base_buffer_capacity_;  // n_b + code_rows
  int64_t buffer_capacity_;       // the buffer's rows now: the base, or a long forward call's
  GpuOmpEncoder encoder_;  // dictionaries 0..L-1 keys, L..2L-1 values; its FP16 atoms serve the attention too
  DeviceBuffer<uint16_t> indices_;       // [kind][layer][kv head][capacity][s]
  DeviceBuffer<uint8_t> codes_;          // FP8 E4M3, same layout
  DeviceBuffer<uint16_t> buffer_;        // FP16 bits, [kind][layer][kv head][buffer_capacity][m]
  DeviceBuffer<float> encode_in_;        // [kind][layer][kv head][code_rows][m]
  DeviceBuffer<uint16_t> slot_indices_;  // encoder output, [kind][layer][kv head][code_rows][s]
  DeviceBuffer<uint8_t> slot_codes_;
  DeviceBuffer<uint16_t> shift_;         // the kept buffer rows while they move to the front
  DeviceBuffer<int32_t> compressed_lengths_, buffer_lengths_;  // [max_step], per query
  std::vector<int64_t> compressed_, buffered_;
  int64_t pending_ = 0;  // rows at the buffer's front whose codes are in the slots (or on their way)
  bool pending_stored_ = false;  // the pending codes are in the cache's rows already (a long call's)
  int64_t hold_until_ = 0;  // positions a long forward call ends at; its steps are coded after it
  bool overlap_;
  cudaStream_t side_ = nullptr;                         // the encoder's stream when overlapping
  cudaEvent_t rows_ready_ = nullptr, coded_ = nullptr;  // main → side, side → main
  int64_t densify_limit_ = 0;
  SparseDecodeAttention attention_;
  DenseDecodeAttention dense_attention_;  // the buffer in place, or the densified rows
  DeviceBuffer<uint16_t> dense_keys_, dense_values_;  // FP16, [kv head][capacity + buffer_capacity][m]
  DeviceBuffer<int32_t> dense_lengths_;               // [max_step]: compressed + buffer rows a query sees
  // What the scratch holds: append() fills it for a step the dense plan will
  // attend (one launch with the append), and attend() reuses it when the
  // layer and lengths still match.
  struct ScratchRows {
    int layer = -1;
    int64_t compressed = 0, buffered = 0;
  } scratch_;
};

}  // namespace lexico::cuda
