// Metrics: the service's counters and their Prometheus text exposition.
#include "service/metrics.h"

#include <fmt/format.h>

namespace soroka::service {

const char* to_string(Rejection r) noexcept {
  switch (r) {
    case Rejection::too_large: return "too_large";
    case Rejection::bad_media: return "bad_media";
    case Rejection::unsupported_media: return "unsupported_media";
    case Rejection::bad_request: return "bad_request";
    case Rejection::queue_full: return "queue_full";
    case Rejection::memory: return "memory";
  }
  return "?";
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void append_metric(std::string& out, const char* name, const char* type, const char* help,
                   std::uint64_t value) {
  metric(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

std::string render_prometheus(const Metrics& m, const Gauges& g) {
  std::string out;
  metric(out, "soroka_memory_level", "gauge", "Memory level: 0 normal, 1 warning, 2 critical.");
  out += fmt::format("soroka_memory_level {}\n", static_cast<int>(g.level));
  if (g.snapshot) {
    metric(out, "soroka_memory_used_bytes", "gauge", "Working set of the service's cgroup.");
    out += fmt::format("soroka_memory_used_bytes {}\n", g.snapshot->used_bytes);
    metric(out, "soroka_memory_limit_bytes", "gauge", "Effective memory limit.");
    out += fmt::format("soroka_memory_limit_bytes {}\n", g.snapshot->limit_bytes);
    metric(out, "soroka_memory_available_bytes", "gauge", "Limit minus used.");
    out += fmt::format("soroka_memory_available_bytes {}\n", g.snapshot->available_bytes);
  }
  if (g.counts) {
    metric(out, "soroka_jobs", "gauge", "Jobs in the store by state.");
    for (auto s : jobs::kAllStates)
      out += fmt::format("soroka_jobs{{state=\"{}\"}} {}\n", jobs::to_string(s), g.counts->of(s));
  }
  metric(out, "soroka_queue_length", "gauge", "Jobs waiting to run.");
  out += fmt::format("soroka_queue_length {}\n", g.queue_length);
  metric(out, "soroka_workers_running", "gauge", "Worker processes running a job now.");
  out += fmt::format("soroka_workers_running {}\n", g.workers_running);
  metric(out, "soroka_workers_idle", "gauge", "Warm worker processes holding a model, idle.");
  out += fmt::format("soroka_workers_idle {}\n", g.workers_idle);
  metric(out, "soroka_worker_starts_total", "counter", "Worker processes started.");
  out += fmt::format("soroka_worker_starts_total {}\n", m.worker_starts.load());
  metric(out, "soroka_worker_reuses_total", "counter", "Jobs run by an already warm worker.");
  out += fmt::format("soroka_worker_reuses_total {}\n", m.worker_reuses.load());
  metric(out, "soroka_worker_crashes_total", "counter", "Workers ended by a signal (not OOM).");
  out += fmt::format("soroka_worker_crashes_total {}\n", m.worker_crashes.load());
  metric(out, "soroka_worker_oom_kills_total", "counter", "Workers killed by the OOM killer.");
  out += fmt::format("soroka_worker_oom_kills_total {}\n", m.worker_oom_kills.load());
  metric(out, "soroka_worker_preemptions_total", "counter",
         "Workers stopped at critical memory; their jobs re-queued.");
  out += fmt::format("soroka_worker_preemptions_total {}\n", m.worker_preemptions.load());
  append_metric(out, "soroka_worker_stalls_total", "counter",
                "Workers killed after reporting no progress for worker.stall_timeout_ms; jobs retried.",
                m.worker_stalls.load());
  append_metric(out, "soroka_worker_timeouts_total", "counter",
                "Jobs stopped at worker.timeout_ms; retried while attempts remain.",
                m.worker_timeouts.load());
  append_metric(out, "soroka_store_errors_total", "counter",
                "Job store writes that failed for a storage reason (disk full, I/O, locked).",
                m.store_errors.load());
  metric(out, "soroka_store_healthy", "gauge", "0 while job store writes fail, else 1.");
  out += fmt::format("soroka_store_healthy {}\n", g.store_healthy ? 1 : 0);
  metric(out, "soroka_admission_rejections_total", "counter", "Uploads refused, by reason.");
  for (std::size_t i = 0; i < kRejectionCount; ++i)
    out += fmt::format("soroka_admission_rejections_total{{reason=\"{}\"}} {}\n",
                       to_string(static_cast<Rejection>(i)), m.rejections[i].load());
  metric(out, "soroka_budget_reserved_bytes", "gauge", "Memory reserved by running jobs.");
  out += fmt::format("soroka_budget_reserved_bytes {}\n", g.budget_reserved);
  metric(out, "soroka_budget_capacity_bytes", "gauge", "Memory the scheduler may reserve.");
  out += fmt::format("soroka_budget_capacity_bytes {}\n", g.budget_capacity);
  metric(out, "soroka_budget_paused", "gauge", "1 while new jobs wait for memory to calm.");
  out += fmt::format("soroka_budget_paused {}\n", g.budget_paused ? 1 : 0);
  metric(out, "soroka_http_requests_total", "counter", "HTTP requests received.");
  out += fmt::format("soroka_http_requests_total {}\n", m.requests.load());
  return out;
}

}  // namespace soroka::service
