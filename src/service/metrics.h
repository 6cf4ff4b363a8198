// Metrics: the service's counters and their Prometheus text exposition.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "jobs/job_store.h"
#include "oomguard/levels.h"
#include "oomguard/snapshot.h"

namespace soroka::service {

// Why an upload was refused; the label of soroka_admission_rejections_total.
enum class Rejection { too_large, bad_media, unsupported_media, bad_request, queue_full, memory };
inline constexpr std::size_t kRejectionCount = 6;
const char* to_string(Rejection r) noexcept;

// Counters only; gauges are read when /metrics is asked. Thread-safe (relaxed atomics).
struct Metrics {
  std::atomic<std::uint64_t> worker_starts{0};
  std::atomic<std::uint64_t> worker_reuses{0};  // jobs given to a warm worker
  std::atomic<std::uint64_t> worker_crashes{0};
  std::atomic<std::uint64_t> worker_oom_kills{0};
  std::atomic<std::uint64_t> worker_preemptions{0};  // stopped at critical memory, re-queued
  std::atomic<std::uint64_t> worker_stalls{0};    // killed after worker.stall_timeout_ms silent
  std::atomic<std::uint64_t> worker_timeouts{0};  // stopped at worker.timeout_ms
  std::atomic<std::uint64_t> store_errors{0};     // job store writes that failed (disk, I/O)
  std::array<std::atomic<std::uint64_t>, kRejectionCount> rejections{};
  std::atomic<std::uint64_t> requests{0};

  void reject(Rejection r) noexcept {
    rejections[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
};

struct Gauges {
  oomguard::Level level = oomguard::Level::normal;
  std::optional<oomguard::Snapshot> snapshot;
  std::optional<jobs::StateCounts> counts;
  std::int64_t queue_length = 0;
  std::uint64_t budget_reserved = 0, budget_capacity = 0;
  bool budget_paused = false;
  std::size_t workers_running = 0;  // busy with a job
  std::size_t workers_idle = 0;     // warm, holding a model
  bool store_healthy = true;        // StoreHealth::healthy()
};

std::string render_prometheus(const Metrics& m, const Gauges& g);

// One metric in the exposition format: HELP, TYPE and its value.
void append_metric(std::string& out, const char* name, const char* type, const char* help,
                   std::uint64_t value);

}  // namespace soroka::service
