#include "lexico/cuda/select.h"

#include "lexico/cuda/device.h"
#include "lexico/cuda/dictionary_learner.h"
#include "lexico/cuda/omp.h"
#include "lexico/error.h"

namespace lexico::cuda {

struct OmpBackend::Gpu {
  GpuOmpEncoder encoder;
};

OmpBackend::OmpBackend(Eigen::Ref<const Eigen::MatrixXf> dictionary, Device device) : dictionary_(dictionary) {
  if (device == Device::Cpu) {
    cpu();  // the same bad_input as OmpEncoder for a bad dictionary, now
    return;
  }
  if (!gpu_usable()) {
    note_ = "no usable GPU (" + device_info().reason + "): OMP runs on the CPU";
  } else if (dictionary.rows() > kGpuOmpMaxDim) {
    note_ = GpuOmpEncoder::unsupported_reason(int(dictionary.rows()), int(dictionary.cols()), OmpOptions{}) +
            ": OMP runs on the CPU";
  } else {
    try {
      gpu_ = std::make_unique<Gpu>(Gpu{GpuOmpEncoder(dictionary)});
      last_on_gpu_ = true;
      return;
    } catch (const Error& e) {
      if (!is_gpu_error(e)) throw;
      note_ = std::string(e.what()) + ": OMP runs on the CPU";
    }
  }
  cpu();
}

OmpBackend::~OmpBackend() = default;

const OmpEncoder& OmpBackend::cpu() const {
  std::call_once(cpu_once_, [&] { cpu_ = std::make_unique<OmpEncoder>(dictionary_); });
  return *cpu_;
}

SparseCoefs OmpBackend::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                               const OmpOptions& options) const {
  if (gpu_) {
    const std::string why =
        GpuOmpEncoder::unsupported_reason(int(dictionary_.rows()), int(dictionary_.cols()), options);
    if (why.empty()) {
      try {
        SparseCoefs coefs = gpu_->encoder.encode(vectors, options);
        last_on_gpu_ = true;
        note_.clear();
        return coefs;
      } catch (const Error& e) {
        if (!is_gpu_error(e)) throw;  // bad input or options: the CPU would say the same
        note_ = std::string(e.what()) + ": OMP runs on the CPU";
      }
    } else {
      note_ = why + ": OMP runs on the CPU";
    }
  }
  last_on_gpu_ = false;
  return cpu().encode(vectors, options);
}

namespace {

// Passes a backend's whereabouts to `notice` when they differ from the last.
class NoticedBackend final : public SparseEncoder {
 public:
  struct Log {
    std::mutex mutex;
    std::string last;
    std::function<void(const std::string&)> notice;
    void say(const std::string& line) {
      const std::lock_guard lock(mutex);
      if (line == last || !notice) return;
      last = line;
      notice(line);
    }
  };
  NoticedBackend(std::unique_ptr<OmpBackend> backend, std::shared_ptr<Log> log)
      : backend_(std::move(backend)), log_(std::move(log)) {}
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const OmpOptions& options) const override {
    SparseCoefs coefs = backend_->encode(vectors, options);
    log_->say(backend_->on_gpu() ? "OMP runs on " + device_info().summary() : backend_->note());
    return coefs;
  }

 private:
  std::unique_ptr<OmpBackend> backend_;
  std::shared_ptr<Log> log_;
};

}  // namespace

EncoderFactory encoder_factory(Device device, std::function<void(const std::string&)> notice) {
  if (device == Device::Cpu) return {};
  auto log = std::make_shared<NoticedBackend::Log>();
  log->notice = std::move(notice);
  return [device, log](Eigen::Ref<const Eigen::MatrixXf> dictionary) -> std::unique_ptr<SparseEncoder> {
    return std::make_unique<NoticedBackend>(std::make_unique<OmpBackend>(dictionary, device), log);
  };
}

LearnerFactory learner_factory(Device device, std::function<void(const std::string&)> notice) {
  if (device == Device::Cpu) return {};
  auto log = std::make_shared<NoticedBackend::Log>();
  log->notice = notice;
  const EncoderFactory encoders = encoder_factory(device, std::move(notice));
  return [log, encoders](Eigen::MatrixXf init, const LearnerOptions& options) -> std::unique_ptr<DictionaryLearner> {
    LearnerOptions cpu = options;
    cpu.encoders = encoders;
    if (gpu_usable()) {
      // The GPU learner takes the shapes the GPU's OMP takes.
      const std::string why = GpuDictionaryLearner::unsupported_reason(int(init.rows()), int(init.cols()), options);
      if (why.empty()) {
        try {
          auto learner = std::make_unique<GpuDictionaryLearner>(init, options);
          log->say("OMP, gradient and Adam run on " + device_info().summary());
          return learner;
        } catch (const Error& e) {
          if (!is_gpu_error(e)) throw;
          log->say(std::string(e.what()) + ": the training step runs on the CPU");  // the OMP may still fit
        }
      } else {
        log->say(why + ": the training step, OMP included, runs on the CPU");
        cpu.encoders = {};
      }
    }
    return make_learner({}, std::move(init), cpu);
  };
}

}  // namespace lexico::cuda
