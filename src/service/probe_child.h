// probe_child: probes an untrusted upload in a short-lived `soroka probe` child inside its own
// memory cgroup, so a crafted file that trips FFmpeg's parsers hurts that child, never us.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "util/result.h"
#include "worker/supervisor.h"

namespace soroka::service {

// From Settings (worker.probe_memory, worker.probe_timeout_ms: the numbers and why there).
struct ProbeParams {
  std::string soroka_exe;
  std::uint64_t limit_bytes = 0;
  std::chrono::milliseconds timeout{0};
};

struct ProbeOutcome {
  bool ok = false;
  // Why not, when !ok: unsupported_media (not audio we read: 415), invalid_input (a damaged
  // file: 400), internal (the child's own trouble).
  FailureKind kind = FailureKind::none;
  std::string message;
  double duration_s = 0;
  std::string container, codec;
};

// An error only when the probe itself could not run (spawn failed, child killed or hung):
// then the file's fate is unknown and the request gets a 503.
Result<ProbeOutcome> probe_in_child(worker::WorkerSupervisor& sup, const ProbeParams& p,
                                    const std::string& path);

// The child's one JSON line read back (pure, exposed for tests and fuzzing).
Result<ProbeOutcome> parse_probe_output(std::string_view line);

}  // namespace soroka::service
