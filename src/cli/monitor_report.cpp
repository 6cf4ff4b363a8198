// Renders snapshots and audits for `soroka monitor`: JSON objects and compact human lines.
#include "cli/monitor_report.h"

#include <time.h>

#include <cmath>

#include <fmt/format.h>

#include "util/units.h"

namespace soroka::cli {

using nlohmann::json;
using namespace soroka::oomguard;


namespace {

json limit_json(const Limit& l) { return l ? json(*l) : json(nullptr); }

std::string wall_clock() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm tmv;
  ::gmtime_r(&ts.tv_sec, &tmv);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tmv);
  return fmt::format("{}.{:03d}Z", buf, ts.tv_nsec / 1'000'000);
}

const char* level_color(Level l) {
  switch (l) {
    case Level::normal: return "\x1b[32m";
    case Level::warning: return "\x1b[33m";
    case Level::critical: return "\x1b[1;31m";
  }
  return "";
}

}  // namespace

json snapshot_json(const Snapshot& s, const TargetInfo& t, const Thresholds& th, Level level) {
  EffectiveThresholds e = effective_thresholds(th, s);
  json j;
  j["time"] = wall_clock();
  j["level"] = to_string(level);
  j["source"] = to_string(s.source);
  j["limit_bytes"] = s.limit_bytes;
  j["used_bytes"] = s.used_bytes;
  j["available_bytes"] = s.available_bytes;
  j["used_percent"] = std::round(s.used_percent * 100.0) / 100.0;
  j["bound_by"] = s.bound_by_cgroup ? "cgroup" : "system";
  j["thresholds"] = {{"warning_percent", std::round(e.warning_percent * 100.0) / 100.0},
                     {"critical_percent", e.critical_percent},
                     {"min_available_bytes", e.min_available_bytes}};
  j["system"] = {{"total_bytes", s.system.total_bytes},
                 {"available_bytes", s.system.available_bytes},
                 {"swap_total_bytes", s.system.swap_total_bytes},
                 {"swap_free_bytes", s.system.swap_free_bytes}};
  if (s.cgroup) {
    const auto& c = *s.cgroup;
    j["cgroup"] = {{"path", t.cgroup_path},
                   {"usage_bytes", c.usage_bytes},
                   {"working_set_bytes", c.working_set_bytes},
                   {"limit_bytes", limit_json(c.limit_bytes)},
                   {"high_bytes", limit_json(c.high_bytes)},
                   {"swap_limit_bytes", limit_json(c.swap_limit_bytes)},
                   {"oom_kill_count", c.oom_kill_count}};
  } else {
    j["cgroup"] = nullptr;
  }
  if (s.process) {
    j["process"] = {{"pid", s.process->pid}, {"rss_bytes", s.process->rss_bytes}};
    if (s.process->peak_rss_bytes) j["process"]["peak_rss_bytes"] = *s.process->peak_rss_bytes;
    if (s.process->swap_bytes) j["process"]["swap_bytes"] = *s.process->swap_bytes;
  }
  else
    j["process"] = nullptr;
  if (s.psi)
    j["psi"] = {{"some_avg10", s.psi->some.avg10}, {"full_avg10", s.psi->full.avg10}};
  else
    j["psi"] = nullptr;
  return j;
}

std::string snapshot_line(const Snapshot& s, const TargetInfo& t, Level level, bool color) {
  constexpr int kBar = 20;
  int filled = static_cast<int>(std::lround(std::min(s.used_percent, 100.0) / 100.0 * kBar));
  std::string bar;
  for (int i = 0; i < kBar; ++i) bar += i < filled ? "#" : ".";
  std::string lvl = fmt::format("{:<8}", to_string(level));
  if (color) lvl = std::string(level_color(level)) + lvl + "\x1b[0m";
  std::string where = s.cgroup ? fmt::format("{} {}", to_string(s.source), t.cgroup_path)
                               : std::string("system");
  std::string line = fmt::format("{} {} [{}] {:5.1f}%  used {} of {}  avail {}  {}",
                                 wall_clock().substr(11, 12), lvl, bar, s.used_percent,
                                 format_size(s.used_bytes), format_size(s.limit_bytes),
                                 format_size(s.available_bytes), where);
  if (!s.bound_by_cgroup && s.cgroup) line += " (host binds)";
  if (s.process) line += fmt::format("  pid {} rss {}", s.process->pid, format_size(s.process->rss_bytes));
  if (s.psi) line += fmt::format("  psi {:.2f}/{:.2f}", s.psi->some.avg10, s.psi->full.avg10);
  if (s.cgroup && s.cgroup->oom_kill_count)
    line += fmt::format("  oom_kills {}", s.cgroup->oom_kill_count);
  return line;
}

json audit_json(const AuditReport& r, const json& snapshot) {
  json j;
  j["exit_code"] = r.exit_code;
  j["findings"] = json::array();
  for (const auto& f : r.findings)
    j["findings"].push_back(
        {{"check", f.check}, {"status", to_string(f.severity)}, {"message", f.message}});
  j["snapshot"] = snapshot;
  return j;
}

std::string audit_text(const AuditReport& r, bool color) {
  std::string out;
  for (const auto& f : r.findings) {
    std::string tag = fmt::format("{:<5}", to_string(f.severity));
    if (color) {
      const char* c = f.severity == Severity::ok     ? "\x1b[32m"
                      : f.severity == Severity::info ? "\x1b[36m"
                      : f.severity == Severity::warn ? "\x1b[33m"
                                                     : "\x1b[1;31m";
      tag = c + tag + "\x1b[0m";
    }
    out += fmt::format("{} {:<14} {}\n", tag, f.check, f.message);
  }
  return out;
}

}  // namespace soroka::cli
