// The GPU seen by lexico's CUDA kernels: one probe (never throws), error
// reporting through lexico::Error, and an owning device buffer that counts
// what it holds (benchmarks report the peak).
//
// Errors. Every CUDA failure becomes lexico::Error(ErrorKind::Internal,
// "cuda", ...) naming the call and the runtime's message; an allocation that
// does not fit says so with the sizes ("out of GPU memory: ..."), so callers
// that can fall back to the CPU recognise it with is_gpu_error().
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <cuda_runtime_api.h>

#include "lexico/error.h"

namespace lexico::cuda {

// Lowest compute capability the kernels are written for (mma.sync f16,
// cp.async, ldmatrix: Ampere); the binary must also hold code for the device
// (CMAKE_CUDA_ARCHITECTURES, default 90).
inline constexpr int kMinComputeMajor = 8;

struct DeviceInfo {
  bool usable = false;  // the kernels can run here
  int device = -1;
  std::string name;
  int major = 0, minor = 0;
  int sm_count = 0;
  size_t total_memory = 0;
  size_t shared_per_block_optin = 0;  // largest dynamic shared memory a block may ask for
  int driver_version = 0;             // as cudaDriverGetVersion (13000 = 13.0)
  int runtime_version = 0;
  std::string reason;  // why not usable (empty when usable)
  std::string summary() const;  // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB, driver 13.0)"
};

// Probes the current device once and caches the answer. Never throws: no
// driver, no device, an old one, or a binary without code for it all give
// usable = false and a reason.
const DeviceInfo& device_info();
inline bool gpu_usable() { return device_info().usable; }
// Throws Error(Internal, "cuda", "<what> needs a CUDA GPU: <reason>") unless usable.
void require_gpu(const std::string& what);

// True for the errors this library throws for GPU trouble (no device, out of
// memory, launch failure): where = "cuda". Bad input and usage errors are not.
bool is_gpu_error(const Error& error);

// Throws the Error described above when status is not cudaSuccess.
void check(cudaError_t status, const char* call, const char* file, int line);
#define LEXICO_CUDA_CHECK(call) ::lexico::cuda::check((call), #call, __FILE__, __LINE__)
// After a launch: a bad configuration shows up here, a fault at the next sync.
#define LEXICO_CUDA_CHECK_LAUNCH() LEXICO_CUDA_CHECK(cudaGetLastError())

// Bytes held by DeviceBuffers now, and the most held at once since the last reset.
size_t device_bytes_in_use();
size_t device_bytes_peak();
void reset_device_bytes_peak();

// cudaMalloc'd array of T; move-only. An allocation that does not fit throws
// "out of GPU memory: <what> needs X MiB, Y MiB free of Z MiB".
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count, const char* what = "buffer") { resize(count, what); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  // Discards the contents when the size changes.
  void resize(size_t count, const char* what = "buffer");
  // Grows (discarding the contents) only when smaller than count.
  void reserve(size_t count, const char* what = "buffer") {
    if (count > count_) resize(count, what);
  }
  void release();
  T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
};

namespace detail {
void* device_alloc(size_t bytes, const char* what);
void device_free(void* ptr, size_t bytes);
}  // namespace detail

template <typename T>
void DeviceBuffer<T>::resize(size_t count, const char* what) {
  if (count == count_) return;
  release();
  if (count == 0) return;
  data_ = static_cast<T*>(detail::device_alloc(count * sizeof(T), what));
  count_ = count;
}

template <typename T>
void DeviceBuffer<T>::release() {
  if (data_) detail::device_free(data_, count_ * sizeof(T));
  data_ = nullptr;
  count_ = 0;
}

}  // namespace lexico::cuda
