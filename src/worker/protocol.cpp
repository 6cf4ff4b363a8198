// Decoding of the worker line protocol: what each end makes of one JSON line it reads (pure).
#include "worker/protocol.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace soroka::worker {

namespace {
// Only type-checked access: nlohmann's value()/get() throw on a type mismatch, and a throw
// from a job's thread would end the whole service.
const nlohmann::json* member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
bool is_true(const nlohmann::json& j, const char* key) {
  const auto* m = member(j, key);
  return m && m->is_boolean() && m->get<bool>();
}
}  // namespace

Result<JobRequest> decode_job_request(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return fail("not a JSON object", EPROTO);
  JobRequest r;
  auto str = [&](const char* key, std::string& out, bool required) -> bool {
    const auto* m = member(j, key);
    if (!m) return !required;
    if (!m->is_string()) return false;
    out = m->get<std::string>();
    return true;
  };
  if (!str("job", r.id, true) || !str("input", r.input, true) || !str("result", r.result, true) ||
      !str("language", r.language, false))
    return fail("a job needs string fields job, input, result", EPROTO);
  if (const auto* d = member(j, "degrade"); d && d->is_number_integer()) {
    // is_number_integer() holds for unsigned too; compare without converting first.
    bool fits = d->is_number_unsigned()
                    ? d->get<std::uint64_t>() <= std::uint64_t{std::numeric_limits<int>::max()}
                    : d->get<std::int64_t>() >= 0 &&
                          d->get<std::int64_t>() <= std::numeric_limits<int>::max();
    if (!fits) return fail("degrade out of range", EPROTO);
    r.degrade = static_cast<int>(d->get<std::int64_t>());
  }
  if (const auto* h = member(j, "heartbeat_ms"); h && h->is_number_unsigned()) {
    const std::uint64_t ms = h->get<std::uint64_t>();
    // Up to a day: beyond, the stall watchdog could never see a line anyway.
    if (ms > 0 && ms <= 86'400'000) r.heartbeat = std::chrono::milliseconds(ms);
  }
  return r;
}

std::optional<WorkerMessage> decode_worker_message(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  WorkerMessage m;
  m.has_job = j.contains("job");
  if (const auto* p = member(j, "progress"); p && p->is_number()) {
    double v = p->get<double>();
    if (std::isfinite(v)) m.progress = v;
  }
  if (const auto* e = member(j, "error"); e && e->is_string()) {
    m.error = e->get<std::string>();
    m.user_error = is_true(j, "user_error");
  }
  m.done = is_true(j, "done");
  if (const auto* b = member(j, "peak_bytes"); b && b->is_number_unsigned())
    m.peak_bytes = b->get<std::uint64_t>();
  return m;
}

}  // namespace soroka::worker
