// HttpApi: the routes of `soroka serve` on the bounded HTTP server (OpenAI-compatible
// transcription, jobs, health, metrics), with API keys, owners and per-key quotas.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/auth.h"
#include "engine/remote/health.h"
#include "config/settings_store.h"
#include "frontend/job_service.h"
#include "http/server.h"
#include "service/metrics.h"
#include "service/state_sweep.h"

namespace soroka::api {

// What /healthz reports besides memory: a named part that is not well, and why.
struct HealthIssue {
  std::string component;  // "store", "event_loop"...
  std::string reason;
};

struct ApiContext {
  frontend::JobService& jobs;     // every route that touches a job goes through it
  const SettingsStore& settings;  // a snapshot per request: limits, quotas, timeouts
  service::Metrics& metrics;
  std::string uploads_dir;
  std::function<service::Gauges()> gauges;             // for /metrics
  std::function<oomguard::Level()> level;              // memory level now
  std::function<bool()> accepting;                     // false once shutting down
  std::function<std::optional<HealthIssue>()> health;  // nullopt: all well
  service::InFlightFiles* in_flight = nullptr;
  // Remote engines as last checked (engine/remote/health.h); null or empty: none configured.
  // One that cannot be reached makes /healthz say "degraded" (still 200: the rest works).
  std::function<std::vector<engine::remote::EngineHealth>()> engines;
};

// The HTTP protocol mapped onto the jobs interface: routes, the key check (keys -> the
// caller's owner id), uploads (upload.h), form fields (form_fields.h), synchronous waiting
// (sync_waiter.h) and answers (responses.h).
class HttpApi {
 public:
  HttpApi(ApiContext ctx, ApiKeys keys);
  ~HttpApi();  // stops the synchronous waiters (answering them 503)
  // Adds the routes and the key check to `server`; the server must outlive this object's use.
  void install(http::Server& server);
  void set_keys(ApiKeys keys);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace soroka::api
