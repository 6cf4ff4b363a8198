// FailureKind: what went wrong, as a value every layer passes on (media, worker, job, HTTP answer).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace soroka {

// Set where a failure is first understood (the decoder knows a file is not media; the scheduler
// knows the kernel killed a worker) and carried as is: no layer reads meaning out of a message.
enum class FailureKind : std::uint8_t {
  none,               // unset: not a failure, or one nobody classified (treated as internal)
  invalid_input,      // damaged, truncated or empty media: the user's to fix (HTTP 400)
  unsupported_media,  // not a format or codec we read (415)
  invalid_request,    // a parameter the engine refuses: language, model (400)
  too_big,            // needs more memory than this service can ever give (413)
  oom_killed,         // the kernel killed the worker at its limit (retried, cheaper)
  crashed,            // the worker died of a signal
  timed_out,          // the job ran past worker.timeout_ms
  stalled,            // the worker went silent past worker.stall_timeout_ms
  worker_failed,      // the worker reported its own failure or exited non-zero
  storage,            // disk full, database busy: the service's own storage
  internal,           // anything else of ours
};

constexpr std::string_view to_string(FailureKind k) noexcept {
  switch (k) {
    case FailureKind::none: return "none";
    case FailureKind::invalid_input: return "invalid_input";
    case FailureKind::unsupported_media: return "unsupported_media";
    case FailureKind::invalid_request: return "invalid_request";
    case FailureKind::too_big: return "too_big";
    case FailureKind::oom_killed: return "oom_killed";
    case FailureKind::crashed: return "crashed";
    case FailureKind::timed_out: return "timed_out";
    case FailureKind::stalled: return "stalled";
    case FailureKind::worker_failed: return "worker_failed";
    case FailureKind::storage: return "storage";
    case FailureKind::internal: return "internal";
  }
  return "internal";
}

constexpr std::optional<FailureKind> parse_failure_kind(std::string_view s) noexcept {
  for (auto k : {FailureKind::none, FailureKind::invalid_input, FailureKind::unsupported_media,
                 FailureKind::invalid_request, FailureKind::too_big, FailureKind::oom_killed,
                 FailureKind::crashed, FailureKind::timed_out, FailureKind::stalled,
                 FailureKind::worker_failed, FailureKind::storage, FailureKind::internal})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

// A failure as it is reported and stored: one nobody classified counts as our own (internal).
constexpr FailureKind classified(FailureKind k) noexcept {
  return k == FailureKind::none ? FailureKind::internal : k;
}

// The user's to fix: retrying the same request cannot help.
constexpr bool is_user_error(FailureKind k) noexcept {
  return k == FailureKind::invalid_input || k == FailureKind::unsupported_media ||
         k == FailureKind::invalid_request || k == FailureKind::too_big;
}

}  // namespace soroka
