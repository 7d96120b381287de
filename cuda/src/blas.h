// cuBLAS failures as lexico::Error(Internal, "cuda", ...), like the runtime's
// through LEXICO_CUDA_CHECK (lexico/cuda/device.h).
#pragma once
#include <cublas_v2.h>
#include <fmt/format.h>

#include "lexico/error.h"

namespace lexico::cuda {

inline void check_blas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(ErrorKind::Internal, "cuda", fmt::format("{} failed: {}", call, cublasGetStatusString(status)));
}

}  // namespace lexico::cuda
