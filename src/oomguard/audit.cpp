// Audit of OOM protection (soroka monitor --check-oom): limits, thresholds, oom_score_adj,
// OOM kills in the cgroup and the kernel log.
#include "oomguard/audit.h"

#include <algorithm>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "util/fd.h"
#include "util/file_reader.h"
#include "util/parse.h"
#include "util/units.h"

namespace soroka::oomguard {

const char* to_string(Severity s) noexcept {
  switch (s) {
    case Severity::ok: return "ok";
    case Severity::info: return "info";
    case Severity::warn: return "warn";
    case Severity::weak: return "weak";
    case Severity::oom: return "oom";
  }
  return "?";
}

namespace {

// The findings so far, each check adding its own.
struct Findings {
  std::vector<Finding>& out;
  void add(std::string check, Severity sev, std::string msg) {
    out.push_back({std::move(check), sev, std::move(msg)});
  }
};

// "cgroup_v2 /system.slice/soroka.service", or "the host" outside any limited cgroup.
std::string where_of(const AuditInput& in) {
  return in.snapshot.cgroup ? fmt::format("{} {}", to_string(in.snapshot.source), in.target.cgroup_path)
                            : "the host";
}

// 1. A memory limit.
void check_limit(const AuditInput& in, const std::string& where, Findings& f) {
  const Snapshot& s = in.snapshot;
  std::optional<std::uint64_t> limit = s.cgroup ? s.cgroup->limit_bytes : std::nullopt;
  if (limit && *limit < s.system.total_bytes) {
    f.add("memory_limit", Severity::ok,
          fmt::format("memory limit {} on {} (host has {})", format_size(*limit), where,
                      format_size(s.system.total_bytes)));
  } else if (limit) {
    f.add("memory_limit", Severity::weak,
          fmt::format("memory limit {} on {} is not below the host's {}: it protects nothing; "
                      "set MemoryMax= in the unit",
                      format_size(*limit), where, format_size(s.system.total_bytes)));
  } else {
    f.add("memory_limit", Severity::weak,
          fmt::format("no memory limit on {}: the service can take all {} of the host and the "
                      "OOM killer picks among every process; set MemoryMax= (e.g. MemoryMax=2G) "
                      "in the unit",
                      where, format_size(s.system.total_bytes)));
  }
}

// 2. memory.high (MemoryHigh): throttling before the hard limit.
void check_high(const AuditInput& in, Findings& f) {
  const Snapshot& s = in.snapshot;
  if (!s.cgroup || !s.cgroup->limit_bytes) return;
  const std::uint64_t limit = *s.cgroup->limit_bytes;
  if (s.cgroup->high_bytes && *s.cgroup->high_bytes < limit) {
    f.add("memory_high", Severity::ok,
          fmt::format("memory.high {} ({:.0f} % of the limit): the kernel throttles and "
                      "reclaims before the hard limit",
                      format_size(*s.cgroup->high_bytes),
                      100.0 * static_cast<double>(*s.cgroup->high_bytes) / static_cast<double>(limit)));
  } else if (s.source == Source::cgroup_v2) {
    f.add("memory_high", Severity::info,
          "no memory.high below the limit: consider MemoryHigh= at about 75 % of MemoryMax");
  }
}

// 3. Swap.
void check_swap(const AuditInput& in, Findings& f) {
  const Snapshot& s = in.snapshot;
  if (s.system.swap_total_bytes == 0) {
    f.add("swap_limit", Severity::ok, "the host has no swap: nothing to limit");
  } else if (s.cgroup && s.cgroup->swap_limit_bytes) {
    f.add("swap_limit", Severity::ok,
          fmt::format("swap limit {} (host swap {})", format_size(*s.cgroup->swap_limit_bytes),
                      format_size(s.system.swap_total_bytes)));
  } else {
    f.add("swap_limit", Severity::warn,
          fmt::format("no swap limit with {} of swap on the host: a leak can thrash swap for "
                      "minutes before the OOM killer acts; set MemorySwapMax=",
                      format_size(s.system.swap_total_bytes)));
  }
}

// 4. Thresholds relative to the limit.
void check_thresholds(const AuditInput& in, Findings& f) {
  const Snapshot& s = in.snapshot;
  EffectiveThresholds e = effective_thresholds(in.thresholds, s);
  double lim = static_cast<double>(s.limit_bytes);
  auto warn_b = static_cast<std::uint64_t>(lim * e.warning_percent / 100.0);
  auto crit_b = static_cast<std::uint64_t>(lim * e.critical_percent / 100.0);
  std::string msg = fmt::format(
      "warning at {:.1f} % ({}), critical at {:.1f} % ({}) or under {} available, of {}",
      e.warning_percent, format_size(warn_b), e.critical_percent, format_size(crit_b),
      format_size(e.min_available_bytes), format_size(s.limit_bytes));
  if (e.warning_percent < in.thresholds.warning_percent) msg += "; memory.high lowers warning";
  if (s.limit_bytes <= 2 * e.min_available_bytes) {
    f.add("thresholds", Severity::weak,
          msg + fmt::format(": a limit of {} leaves no room above the {} minimum",
                            format_size(s.limit_bytes), format_size(e.min_available_bytes)));
  } else if (s.limit_bytes > crit_b && s.limit_bytes - crit_b < e.min_available_bytes) {
    f.add("thresholds", Severity::info,
          msg + ": the minimum-available rule turns critical before the percentage does");
  } else {
    f.add("thresholds", Severity::ok, msg);
  }
}

// 5. oom_score_adj: who the kernel kills first.
void check_oom_score_adj(const AuditInput& in, Findings& f) {
  if (!in.oom_score_adj) return;
  int adj = *in.oom_score_adj;
  Severity sev = adj < 0 ? Severity::ok : adj >= 500 ? Severity::warn : Severity::info;
  std::string advice =
      adj < 0 ? "the kernel prefers other victims"
      : adj >= 500
          ? "the kernel picks this process early; that suits a worker, not the service"
          : "neutral; Soroka's service lowers its own score and raises its workers' to 1000";
  f.add("oom_score_adj", sev,
        fmt::format("pid {} has oom_score_adj {}: {}", in.snapshot.process ? in.snapshot.process->pid : 0,
                    adj, advice));
}

// 6. OOM kills: the cgroup's counter, then the kernel log.
void check_oom_kills(const AuditInput& in, const std::string& where, Findings& f) {
  const Snapshot& s = in.snapshot;
  if (s.cgroup) {
    if (s.cgroup->oom_kill_count > 0)
      f.add("oom_kills", Severity::oom,
            fmt::format("{} OOM kill(s) recorded in {}", s.cgroup->oom_kill_count, where));
    else
      f.add("oom_kills", Severity::ok, fmt::format("no OOM kills recorded in {}", where));
  }
  if (!in.kernel_log.readable) {
    f.add("kernel_log", Severity::info,
          "kernel log not readable (" + in.kernel_log.detail + "); run as root to check it");
  } else if (in.kernel_log.kills > 0) {
    std::string last = in.kernel_log.lines.empty() ? "" : ": " + in.kernel_log.lines.back();
    f.add("kernel_log", Severity::oom,
          fmt::format("{} OOM kill(s) for {} in the kernel log{}", in.kernel_log.kills, where, last));
  } else {
    f.add("kernel_log", Severity::ok, fmt::format("no OOM kills for {} in the kernel log", where));
  }
}

}  // namespace

AuditReport audit(const AuditInput& in) {
  AuditReport r;
  Findings f{r.findings};
  const std::string where = where_of(in);
  check_limit(in, where, f);
  check_high(in, f);
  check_swap(in, f);
  check_thresholds(in, f);
  check_oom_score_adj(in, f);
  check_oom_kills(in, where, f);
  auto any = [&](Severity sev) {
    return std::any_of(r.findings.begin(), r.findings.end(), [&](const Finding& x) { return x.severity == sev; });
  };
  r.exit_code = any(Severity::oom) ? 2 : any(Severity::weak) ? 1 : 0;
  return r;
}

KernelLogKills parse_kernel_log_kills(std::string_view text, std::string_view cgroup_path) {
  KernelLogKills k;
  k.readable = true;
  const bool any = cgroup_path.empty() || cgroup_path == "/";
  // Since 4.19 the kernel logs one summary line per kill:
  //   "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
  //    oom_memcg=/x,task_memcg=/x/y,task=stress,pid=123,uid=0"
  // followed by "Memory cgroup out of memory: Killed process 123 (stress) ...".
  // We count the summary lines; older kernels only have "Killed process" lines.
  bool saw_summary = false;
  std::string_view scan = text;
  while (!scan.empty()) {
    std::string_view line = parse::next_line(scan);
    if (line.find("oom-kill:") != std::string_view::npos) saw_summary = true;
  }
  while (!text.empty()) {
    std::string_view line = parse::next_line(text);
    bool match = false;
    if (line.find("oom-kill:") != std::string_view::npos) {
      if (any) {
        match = true;
      } else {
        auto pos = line.find("task_memcg=");
        if (pos != std::string_view::npos) {
          std::string_view memcg = line.substr(pos + 11);
          memcg = memcg.substr(0, memcg.find(','));
          match = memcg == cgroup_path ||
                  (memcg.size() > cgroup_path.size() && memcg.starts_with(cgroup_path) &&
                   memcg[cgroup_path.size()] == '/');
        }
      }
    } else if (!saw_summary && any && line.find("Killed process") != std::string_view::npos) {
      match = true;
    }
    if (match) {
      ++k.kills;
      if (k.lines.size() < 20) k.lines.emplace_back(parse::trim(line));
    }
  }
  return k;
}

KernelLogKills read_kernel_log_kills(std::string_view cgroup_path, const std::string& kmsg_path) {
  struct stat st;
  if (::stat(kmsg_path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    // A saved log (dmesg output, journalctl -k): plain lines.
    auto text = read_file(kmsg_path);
    if (text) return parse_kernel_log_kills(*text, cgroup_path);
    KernelLogKills k;
    k.detail = text.error().message;
    return k;
  }
  int fd = ::open(kmsg_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    KernelLogKills k;
    k.detail = fmt::format("open {}: errno {}", kmsg_path, errno);
    return k;
  }
  Fd guard(fd);
  std::string text;
  char buf[8192];  // one record per read; records are at most ~1 KiB
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EPIPE) continue;  // records overwritten while reading: skip ahead
      break;                         // EAGAIN: the end
    }
    if (n == 0) break;
    std::string_view rec(buf, static_cast<std::size_t>(n));
    auto semi = rec.find(';');  // "pri,seq,ts,flags;message\n"
    if (semi != std::string_view::npos) rec.remove_prefix(semi + 1);
    rec = rec.substr(0, rec.find('\n'));  // continuation lines start with a space
    text.append(rec);
    text.push_back('\n');
  }
  return parse_kernel_log_kills(text, cgroup_path);
}

}  // namespace soroka::oomguard
