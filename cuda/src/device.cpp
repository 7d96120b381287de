#include "lexico/cuda/device.h"

#include <atomic>
#include <mutex>

#include <fmt/format.h>

namespace lexico::cuda {

namespace detail {
cudaError_t probe_kernel_image();  // device_probe.cu
}

namespace {

std::atomic<size_t> g_in_use{0}, g_peak{0};

DeviceInfo probe() {
  DeviceInfo info;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess || info.driver_version == 0) {
    info.reason = "no CUDA driver is installed";
    return info;
  }
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    info.reason = fmt::format("cudaGetDeviceCount failed: {}", cudaGetErrorString(status));
    cudaGetLastError();
    return info;
  }
  if (count == 0) {
    info.reason = "no CUDA device is present";
    return info;
  }
  if (cudaGetDevice(&info.device) != cudaSuccess) info.device = 0;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, info.device) != cudaSuccess) {
    info.reason = "cudaGetDeviceProperties failed";
    cudaGetLastError();
    return info;
  }
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.sm_count = prop.multiProcessorCount;
  info.total_memory = prop.totalGlobalMem;
  info.shared_per_block_optin = prop.sharedMemPerBlockOptin;
  if (prop.major < kMinComputeMajor) {
    info.reason = fmt::format("{} has compute capability {}.{}; the kernels need {}.0 or newer", prop.name,
                              prop.major, prop.minor, kMinComputeMajor);
    return info;
  }
  // A binary built without code for this device fails here, not mid-run.
  const cudaError_t image = detail::probe_kernel_image();
  if (image != cudaSuccess) {
    cudaGetLastError();
    info.reason = fmt::format(
        "this build holds no kernel code for {} (sm_{}{}): {}; rebuild with -DCMAKE_CUDA_ARCHITECTURES={}{}",
        prop.name, prop.major, prop.minor, cudaGetErrorString(image), prop.major, prop.minor);
    return info;
  }
  info.usable = true;
  return info;
}

}  // namespace

std::string DeviceInfo::summary() const {
  if (!usable && name.empty()) return "no usable GPU (" + reason + ")";
  return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB, driver {}.{}, runtime {}.{}){}", name, major, minor, sm_count,
                     double(total_memory) / (1u << 30), driver_version / 1000, driver_version % 1000 / 10,
                     runtime_version / 1000, runtime_version % 1000 / 10, usable ? "" : " — not usable: " + reason);
}

const DeviceInfo& device_info() {
  static const DeviceInfo info = probe();
  return info;
}

void require_gpu(const std::string& what) {
  const DeviceInfo& info = device_info();
  if (!info.usable) throw Error(ErrorKind::Internal, "cuda", what + " needs a CUDA GPU: " + info.reason);
}

bool is_gpu_error(const Error& error) { return error.kind() == ErrorKind::Internal && error.where() == "cuda"; }

void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls see their own
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  if (status == cudaErrorMemoryAllocation) {
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    throw Error(ErrorKind::Internal, "cuda",
                fmt::format("out of GPU memory in {} ({}:{}): {} MiB free of {} MiB", call, base, line,
                            free_bytes >> 20, total_bytes >> 20));
  }
  throw Error(ErrorKind::Internal, "cuda",
              fmt::format("{} failed ({}:{}): {} ({})", call, base, line, cudaGetErrorString(status),
                          cudaGetErrorName(status)));
}

size_t device_bytes_in_use() { return g_in_use.load(); }
size_t device_bytes_peak() { return g_peak.load(); }
void reset_device_bytes_peak() { g_peak.store(g_in_use.load()); }

namespace detail {

void* device_alloc(size_t bytes, const char* what) {
  require_gpu(what);
  void* ptr = nullptr;
  const cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    if (status == cudaErrorMemoryAllocation)
      throw Error(ErrorKind::Internal, "cuda",
                  fmt::format("out of GPU memory: {} needs {:.1f} MiB, {:.1f} MiB free of {:.1f} MiB", what,
                              bytes / 1048576.0, free_bytes / 1048576.0, total_bytes / 1048576.0));
    throw Error(ErrorKind::Internal, "cuda",
                fmt::format("cudaMalloc of {} bytes for {} failed: {}", bytes, what, cudaGetErrorString(status)));
  }
  const size_t now = g_in_use.fetch_add(bytes) + bytes;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return ptr;
}

void device_free(void* ptr, size_t bytes) {
  cudaFree(ptr);  // errors here (a dead context at exit) are not actionable
  g_in_use.fetch_sub(bytes);
}

}  // namespace detail

}  // namespace lexico::cuda
