// HttpApi: the routes of `soroka serve` on the bounded HTTP server (OpenAI-compatible
// transcription, jobs, health, metrics), with API keys, owners and per-key quotas.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "api/auth.h"
#include "config/settings.h"
#include "http/server.h"
#include "jobs/job_store.h"
#include "service/metrics.h"
#include "service/probe_child.h"
#include "service/scheduler.h"
#include "service/state_sweep.h"

namespace soroka::api {

// Limits the routes read on every request; SIGHUP replaces them.
struct ApiLimits {
  std::uint64_t max_file_bytes = 100ull << 20;
  std::uint64_t max_queue = 64;
  std::int32_t max_attempts = 3;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};
  std::uint64_t max_sync_requests = 32;
  std::uint64_t key_max_jobs = 32;
  std::uint64_t key_submissions_per_minute = 120;
  std::uint64_t key_max_stored = 4ull << 30;
  std::uint64_t min_free_disk = 64ull << 20;
};

// What /healthz reports besides memory: a named part that is not well, and why.
struct HealthIssue {
  std::string component;  // "store", "event_loop"...
  std::string reason;
};

struct ApiContext {
  jobs::JobQueue& store;
  service::Scheduler& scheduler;
  service::Metrics& metrics;
  worker::WorkerSupervisor& supervisor;  // runs the probes
  service::ProbeParams probe;
  std::string uploads_dir;
  std::function<service::Gauges()> gauges;   // for /metrics
  std::function<oomguard::Level()> level;    // memory level now
  std::function<bool()> accepting;           // false once shutting down
  std::function<std::optional<HealthIssue>()> health;  // nullopt: all well
  service::InFlightFiles* in_flight = nullptr;
  EngineSettings engine;  // which model names a job may ask for (engine/factory.h)
};

class HttpApi {
 public:
  HttpApi(ApiContext ctx, ApiLimits limits, ApiKeys keys);
  ~HttpApi();  // stops the synchronous waiters (answering them 503)
  // Adds the routes and the key check to `server`; the server must outlive this object's use.
  void install(http::Server& server);
  void set_limits(ApiLimits limits);
  void set_keys(ApiKeys keys);
  ApiLimits limits() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace soroka::api
