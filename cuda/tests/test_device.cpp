#include <doctest/doctest.h>

#include "gpu_test.h"
#include "lexico/cuda/device.h"
#include "lexico/error.h"

using namespace lexico;
using namespace lexico::cuda;

TEST_CASE("device probe answers without throwing and names the device or the reason") {
  const DeviceInfo& info = device_info();
  MESSAGE("device: " << info.summary());
  if (info.usable) {
    CHECK(info.reason.empty());
    CHECK(info.major >= kMinComputeMajor);
    CHECK(info.sm_count > 0);
  } else {
    CHECK(!info.reason.empty());
  }
}

TEST_CASE("device buffers count their bytes and report out-of-memory clearly") {
  LEXICO_REQUIRE_GPU();
  const size_t before = device_bytes_in_use();
  {
    DeviceBuffer<float> buffer(1000, "test buffer");
    CHECK(device_bytes_in_use() == before + 4000);
    CHECK(device_bytes_peak() >= before + 4000);
  }
  CHECK(device_bytes_in_use() == before);
  try {
    DeviceBuffer<char> huge(size_t(1) << 50, "a petabyte");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(is_gpu_error(e));
    CHECK(std::string(e.what()).find("out of GPU memory: a petabyte") != std::string::npos);
  }
  CHECK(device_bytes_in_use() == before);
}
