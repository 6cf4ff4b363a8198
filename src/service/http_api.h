// HttpApi: the routes of `soroka serve` (OpenAI-compatible transcription, jobs, health, metrics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "jobs/job_store.h"
#include "service/metrics.h"
#include "service/scheduler.h"
#include "service/state_sweep.h"

namespace httplib {
class Server;
}

namespace soroka::service {

// Limits the routes read on every request; SIGHUP replaces them.
struct ApiLimits {
  std::uint64_t max_file_bytes = 100ull << 20;
  std::uint64_t max_queue = 64;
  std::int32_t max_attempts = 3;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};
};

struct ApiContext {
  jobs::JobQueue& store;
  Scheduler& scheduler;
  Metrics& metrics;
  std::string uploads_dir;
  std::function<Gauges()> gauges;           // for /metrics
  std::function<oomguard::Level()> level;   // memory level now
  std::function<bool()> accepting;          // false once shutting down
  InFlightFiles* in_flight = nullptr;       // uploads being received, for the state-dir sweep
};

class HttpApi {
 public:
  explicit HttpApi(ApiContext ctx, ApiLimits limits);
  void install(httplib::Server& server);
  void set_limits(ApiLimits limits);
  ApiLimits limits() const;

 private:
  ApiContext ctx_;
  mutable std::mutex mu_;
  ApiLimits limits_;
};

}  // namespace soroka::service
