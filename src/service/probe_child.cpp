// probe_child: probes an untrusted upload in a short-lived `soroka probe` child inside its own
// memory cgroup, so a crafted file that trips FFmpeg's parsers hurts that child, never us.
#include "service/probe_child.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace soroka::service {

namespace {
// The child prints one line of a few hundred bytes; more is not a probe's answer.
constexpr std::size_t kMaxOutput = 64 * 1024;
}  // namespace

Result<ProbeOutcome> parse_probe_output(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
    return fail("the probe's answer is not understood", EPROTO);
  ProbeOutcome o;
  o.ok = j["ok"].get<bool>();
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (o.ok) {
    auto d = j.find("duration_s");
    if (d == j.end() || !d->is_number() || !(d->get<double>() >= 0)) return fail("the probe gave no duration", EPROTO);
    o.duration_s = d->get<double>();
    o.container = str("container");
    o.codec = str("codec");
  } else {
    // A kind the parent does not know (or none) is the file's fault as far as we can tell.
    auto kind = parse_failure_kind(str("kind"));
    o.kind = kind && *kind != FailureKind::none ? *kind : FailureKind::invalid_input;
    o.message = str("message");
    if (o.message.empty()) o.message = "not a readable media file";
  }
  return o;
}

Result<ProbeOutcome> probe_in_child(worker::WorkerSupervisor& sup, const ProbeParams& p,
                                    const std::string& path) {
  worker::WorkerSpec spec;
  spec.name = "probe";
  spec.argv = {p.soroka_exe, "probe", path};
  spec.limit_bytes = p.limit_bytes;
  spec.timeout = p.timeout;
  spec.kill_grace = std::chrono::milliseconds(0);
  spec.stderr_to_null = true;
  spec.env = {"SOROKA_LOG_LEVEL=off"};
  spec.inherit_env = true;
  auto h = sup.spawn(std::move(spec));
  if (!h) return std::unexpected(std::move(h.error()).with_context("starting the probe"));
  h->input().reset();  // stdin: nothing to say
  std::string out;
  char buf[4096];
  while (out.size() < kMaxOutput) {
    ssize_t n = ::read(h->output().get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  h->output().reset();
  auto exit = h->wait();
  if (exit.kind != worker::ExitKind::exited)
    return fail("the probe ended abnormally: " + exit.detail, ECHILD);
  auto nl = out.find('\n');
  return parse_probe_output(std::string_view(out).substr(0, nl));
}

}  // namespace soroka::service
