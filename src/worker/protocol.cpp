// The worker line protocol, both ends: message types, their encoding and decoding, exit codes.
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

nlohmann::json to_json(const pipeline::SpeakerRequest& d) {
  nlohmann::json known = nlohmann::json::array();
  for (const auto& k : d.known) known.push_back({{"name", k.name}, {"clip", k.path}});
  return {{"speakers", d.speakers}, {"min_speakers", d.min_speakers}, {"max_speakers", d.max_speakers},
          {"known", std::move(known)}};
}

Result<pipeline::SpeakerRequest> diarize_from_json(const nlohmann::json& j) {
  // Generous bounds on the shape only: pipeline::speaker_params says what is allowed (at most
  // 32 speakers, 10 clips), with a message for the user.
  constexpr std::int64_t kMaxCount = 1000;
  constexpr std::size_t kMaxKnown = 16;
  if (!j.is_object()) return fail("diarize is not an object", EPROTO);
  pipeline::SpeakerRequest d;
  for (auto [key, out] : {std::pair{"speakers", &d.speakers}, std::pair{"min_speakers", &d.min_speakers},
                          std::pair{"max_speakers", &d.max_speakers}}) {
    const auto* m = member(j, key);
    if (!m) continue;
    if (!m->is_number_integer() || m->get<std::int64_t>() < 0 || m->get<std::int64_t>() > kMaxCount)
      return fail(std::string("diarize: ") + key + " is not an integer in 0..1000", EPROTO);
    *out = static_cast<int>(m->get<std::int64_t>());
  }
  if (const auto* k = member(j, "known")) {
    if (!k->is_array() || k->size() > kMaxKnown) return fail("diarize: known is not a short array", EPROTO);
    for (const auto& e : *k) {
      const auto* name = e.is_object() ? member(e, "name") : nullptr;
      const auto* clip = e.is_object() ? member(e, "clip") : nullptr;
      if (!name || !clip || !name->is_string() || !clip->is_string())
        return fail("diarize: a known speaker needs string name and clip", EPROTO);
      d.known.push_back({name->get<std::string>(), clip->get<std::string>()});
    }
  }
  return d;
}

std::string encode(const JobRequest& r) {
  nlohmann::json j = {{"job", r.id},           {"input", r.input},
                      {"result", r.result},    {"language", r.language},
                      {"degrade", r.degrade},  {"heartbeat_ms", r.heartbeat.count()}};
  if (r.duration_s > 0) j["duration_s"] = r.duration_s;
  if (r.diarize) j["diarize"] = to_json(*r.diarize);
  return j.dump();
}

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
  if (const auto* d = member(j, "duration_s"); d && d->is_number()) {
    const double v = d->get<double>();
    if (std::isfinite(v) && v > 0) r.duration_s = v;
  }
  if (const auto* d = member(j, "diarize")) {
    auto dr = diarize_from_json(*d);
    if (!dr) return std::unexpected(dr.error());
    r.diarize = std::move(*dr);
  }
  return r;
}

std::string encode_engine(const RemoteEngineSettings& e) {
  nlohmann::json j = {{"name", e.name},
                      {"type", to_string(e.type)},
                      {"urls", e.urls},
                      {"api_key", e.api_key},
                      {"api_key_file", e.api_key_file},
                      {"model", e.model},
                      {"languages", e.languages},
                      {"max_concurrency", e.max_concurrency},
                      {"timeout_ms", e.timeout.count()},
                      {"max_request_bytes", e.max_request_bytes},
                      {"chunk_seconds", e.chunk_seconds},
                      {"max_tries", e.max_tries},
                      {"unreachable_wait_ms", e.unreachable_wait.count()},
                      {"audio_format", e.audio_format},
                      {"fallback", e.fallback}};
  return nlohmann::json{{"engine", std::move(j)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// Type-checked copies out of the engine object: false on a wrong type, true when absent.
bool take(const nlohmann::json& j, const char* key, std::string& out) {
  const auto* m = member(j, key);
  if (m && !m->is_string()) return false;
  if (m) out = m->get<std::string>();
  return true;
}
bool take(const nlohmann::json& j, const char* key, std::vector<std::string>& out) {
  const auto* m = member(j, key);
  if (!m) return true;
  if (!m->is_array()) return false;
  std::vector<std::string> v;
  for (const auto& el : *m) {
    if (!el.is_string()) return false;
    v.push_back(el.get<std::string>());
  }
  out = std::move(v);
  return true;
}
bool take(const nlohmann::json& j, const char* key, std::uint64_t& out) {
  const auto* m = member(j, key);
  if (m && !m->is_number_unsigned()) return false;
  if (m) out = m->get<std::uint64_t>();
  return true;
}
bool take(const nlohmann::json& j, const char* key, std::chrono::milliseconds& out) {
  std::uint64_t v = static_cast<std::uint64_t>(out.count());
  // Durations as the config file allows them: up to what a signed count holds.
  if (!take(j, key, v) || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(v));
  return true;
}
bool take(const nlohmann::json& j, const char* key, double& out) {
  const auto* m = member(j, key);
  if (m && (!m->is_number() || !std::isfinite(m->get<double>()))) return false;
  if (m) out = m->get<double>();
  return true;
}

}  // namespace

Result<RemoteEngineSettings> decode_engine(std::string_view line) {
  auto doc = nlohmann::json::parse(line, nullptr, false);
  const auto* j = doc.is_object() ? member(doc, "engine") : nullptr;
  if (!j || !j->is_object()) return fail("the engine line is not {\"engine\":{...}}", EPROTO);
  RemoteEngineSettings e;
  std::string type = to_string(e.type);
  const bool ok = take(*j, "name", e.name) && take(*j, "type", type) && take(*j, "urls", e.urls) &&
                  take(*j, "api_key", e.api_key) && take(*j, "api_key_file", e.api_key_file) &&
                  take(*j, "model", e.model) && take(*j, "languages", e.languages) &&
                  take(*j, "max_concurrency", e.max_concurrency) && take(*j, "timeout_ms", e.timeout) &&
                  take(*j, "max_request_bytes", e.max_request_bytes) && take(*j, "chunk_seconds", e.chunk_seconds) &&
                  take(*j, "max_tries", e.max_tries) && take(*j, "unreachable_wait_ms", e.unreachable_wait) &&
                  take(*j, "audio_format", e.audio_format) && take(*j, "fallback", e.fallback);
  if (!ok || e.name.empty()) return fail("the engine line has a missing name or a field of the wrong type", EPROTO);
  if (type == "whisper.cpp") e.type = RemoteProtocol::whisper_cpp;
  else if (type != "openai") return fail("the engine line's type is neither openai nor whisper.cpp", EPROTO);
  return e;
}

std::optional<WorkerMessage> decode_worker_message(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  WorkerMessage m;
  m.ready = is_true(j, "ready");
  if (const auto* r = member(j, "rss_bytes"); r && r->is_number_unsigned())
    m.rss_bytes = r->get<std::uint64_t>();
  m.has_job = j.contains("job");
  if (const auto* p = member(j, "progress"); p && p->is_number()) {
    double v = p->get<double>();
    if (std::isfinite(v)) m.progress = v;
  }
  if (const auto* e = member(j, "error"); e && e->is_string()) {
    m.error = e->get<std::string>();
    m.kind = FailureKind::worker_failed;
    if (const auto* k = member(j, "kind"); k && k->is_string())
      if (auto parsed = parse_failure_kind(k->get<std::string>()); parsed && *parsed != FailureKind::none)
        m.kind = *parsed;
  }
  m.done = is_true(j, "done");
  if (const auto* b = member(j, "peak_bytes"); b && b->is_number_unsigned())
    m.peak_bytes = b->get<std::uint64_t>();
  return m;
}

std::string encode_ready(std::uint64_t rss_bytes, std::string_view sandbox_json) {
  auto sandbox = nlohmann::json::parse(sandbox_json, nullptr, false);
  if (!sandbox.is_object()) sandbox = nlohmann::json::object();
  return nlohmann::json{{"ready", true}, {"rss_bytes", rss_bytes}, {"sandbox", sandbox}}.dump();
}

std::string encode_progress(std::string_view job, double fraction) {
  return nlohmann::json{{"job", job}, {"progress", fraction}}.dump();
}

std::string encode_done(std::string_view job, std::uint64_t peak_bytes) {
  return nlohmann::json{{"job", job}, {"done", true}, {"peak_bytes", peak_bytes}}.dump();
}

// Messages come from FFmpeg and file names: dump() with replacement keeps invalid UTF-8 from
// throwing.
std::string encode_job_error(std::string_view job, std::string_view message, FailureKind kind) {
  return nlohmann::json{{"job", job}, {"error", message}, {"kind", to_string(kind)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_load_error(std::string_view message, FailureKind kind) {
  return nlohmann::json{{"error", message}, {"kind", to_string(kind)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace soroka::worker
