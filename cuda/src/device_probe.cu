// A trivial kernel whose attributes tell whether this binary holds code for
// the current device (see device_info()).
#include <cuda_runtime.h>

namespace lexico::cuda::detail {

namespace {
__global__ void probe_kernel(int* out) {
  if (out) *out = 1;
}
}  // namespace

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes{};
  return cudaFuncGetAttributes(&attributes, probe_kernel);
}

}  // namespace lexico::cuda::detail
