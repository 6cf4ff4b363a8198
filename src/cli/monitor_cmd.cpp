// soroka monitor: one snapshot, a continuous watch, or the --check-oom audit.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/monitor_report.h"
#include "config/settings.h"
#include "oomguard/audit.h"
#include "oomguard/monitor.h"
#include "oomguard/probe/process.h"
#include "util/file_reader.h"
#include "util/log.h"

namespace soroka::cli {

namespace {

struct MonitorOptions {
  bool once = false;
  double interval_s = 0;
  bool json = false;
  bool check_oom = false;
  std::optional<std::string> cgroup;
  std::optional<int> pid;
  std::optional<std::uint64_t> count;
  std::optional<std::string> proc_root, cgroup_v1_root, cgroup_v2_root, kmsg;
};

bool use_color() { return ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr; }

void emit(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int error(const std::string& msg, int code = kFailure) {
  std::fprintf(stderr, "soroka: %s\n", msg.c_str());
  return code;
}

int run_monitor(const MonitorOptions& o, const Global& g) {
  auto settings = load_settings(g.config_path, current_environment());
  if (!settings) return error(settings.error().message, kUsage);
  log::init(settings->log_level);
  const oomguard::Thresholds& th = settings->monitor.thresholds;

  oomguard::Roots roots;
  if (o.proc_root) roots.proc = *o.proc_root;
  if (o.cgroup_v1_root) roots.cgroup_v1_memory = *o.cgroup_v1_root;
  if (o.cgroup_v2_root) roots.cgroup_v2 = *o.cgroup_v2_root;
  oomguard::Target target;
  if (o.pid) target.pid = *o.pid;
  target.cgroup = o.cgroup;
  auto sampler = oomguard::Sampler::open(roots, target);
  if (!sampler) return error(sampler.error().message);
  const bool color = use_color() && !o.json;

  if (o.once || o.check_oom) {
    auto snap = sampler->sample();
    if (!snap) return error(snap.error().message);
    oomguard::Level level = oomguard::classify(oomguard::effective_thresholds(th, *snap), *snap);
    nlohmann::json sj = snapshot_json(*snap, sampler->info(), th, level);
    if (o.once) {
      emit(o.json ? sj.dump() : snapshot_line(*snap, sampler->info(), level, color));
      return kOk;
    }
    oomguard::AuditInput in;
    in.snapshot = *snap;
    in.target = sampler->info();
    in.thresholds = th;
    if (sampler->info().pid) {
      auto adj = read_file(roots.proc + "/" +
                           (o.pid ? std::to_string(*o.pid) : std::string("self")) +
                           "/oom_score_adj");
      if (adj)
        if (auto v = oomguard::parse_oom_score_adj(*adj); v) in.oom_score_adj = *v;
    }
    std::string memcg = snap->cgroup ? sampler->info().cgroup_path : std::string("/");
    in.kernel_log = oomguard::read_kernel_log_kills(memcg, o.kmsg.value_or("/dev/kmsg"));
    oomguard::AuditReport r = oomguard::audit(in);
    if (o.json) emit(audit_json(r, sj).dump());
    else std::fputs(audit_text(r, color).c_str(), stdout);
    return r.exit_code;
  }

  // Continuous: a line every interval, and one at once on every level change.
  double interval = o.interval_s > 0 ? o.interval_s : 5.0;
  oomguard::MonitorParams params = settings->monitor;
  auto interval_ms = std::chrono::milliseconds(static_cast<long>(interval * 1000));
  if (interval_ms < params.poll_interval)
    params.poll_interval = std::max(interval_ms, params.fast_poll_interval);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before the monitor's threads start

  const oomguard::TargetInfo info = sampler->info();
  auto monitor = oomguard::Monitor::start(std::move(*sampler), params);
  if (!monitor) return error(monitor.error().message);
  std::mutex out_mu;
  std::uint64_t lines = 0;
  auto print = [&](const oomguard::Snapshot& s, oomguard::Level level, const char* event) {
    std::lock_guard lk(out_mu);
    if (o.json) {
      auto j = snapshot_json(s, info, th, level);
      j["event"] = event;
      emit(j.dump());
    } else {
      std::string line = snapshot_line(s, info, level, color);
      if (std::string_view(event) == "level_change") line += "  << level changed";
      emit(line);
    }
    ++lines;
  };
  (*monitor)->add_listener([&](const oomguard::LevelChange& c) {
    print(c.snapshot, c.to, "level_change");
  });
  print((*monitor)->latest(), (*monitor)->level(), "sample");
  for (;;) {
    {
      std::lock_guard lk(out_mu);
      if (o.count && lines >= *o.count) break;
    }
    timespec ts{static_cast<time_t>(interval),
                static_cast<long>((interval - static_cast<double>(static_cast<time_t>(interval))) * 1e9)};
    int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    auto latest = (*monitor)->latest();
    if (target.pid != 0 && !latest.process) {
      (*monitor)->stop();
      return error(fmt::format("process {} has exited", target.pid));
    }
    print(latest, (*monitor)->level(), "sample");
  }
  (*monitor)->stop();
  return kOk;
}

}  // namespace

Runner add_monitor_command(CLI::App& app, const Global& g) {
  auto o = std::make_shared<MonitorOptions>();
  CLI::App* sub = app.add_subcommand(
      "monitor",
      "Watch the memory of this process's cgroup (or another service's) against its real "
      "limit.\nExit status with --check-oom: 0 limited and no OOM kills, 1 protection missing "
      "or weak, 2 OOM kills recorded.");
  auto* once = sub->add_flag("--once", o->once, "Print one snapshot and exit");
  auto* interval = sub->add_option("--interval", o->interval_s,
                                   "Print a snapshot every SECONDS (default 5), and one at once "
                                   "whenever the level changes")
                       ->check(CLI::PositiveNumber);
  auto* check = sub->add_flag("--check-oom", o->check_oom,
                              "Audit OOM protection: limits, thresholds, oom_score_adj, kills");
  once->excludes(interval);
  check->excludes(interval);
  check->excludes(once);
  sub->add_flag("--json", o->json, "One JSON object per line");
  auto* cg = sub->add_option("--cgroup", o->cgroup,
                             "Watch this cgroup: a path as /proc/PID/cgroup shows it "
                             "(/system.slice/x.service) or a directory under the cgroup mount");
  auto* pid = sub->add_option("--pid", o->pid, "Watch this process and its memory cgroup")
                  ->check(CLI::PositiveNumber);
  cg->excludes(pid);
  sub->add_option("--count", o->count, "Stop after N lines (continuous mode)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--proc-root", o->proc_root, "Read /proc from DIR (containers, tests)")
      ->group("Advanced");
  sub->add_option("--cgroup-v1-root", o->cgroup_v1_root,
                  "cgroup v1 memory mount (default: from mountinfo)")
      ->group("Advanced");
  sub->add_option("--cgroup-v2-root", o->cgroup_v2_root,
                  "cgroup v2 mount (default: from mountinfo)")
      ->group("Advanced");
  sub->add_option("--kmsg", o->kmsg, "Kernel log: /dev/kmsg (default) or a saved dmesg/journalctl -k file")->group("Advanced");
  return [o, &g] { return run_monitor(*o, g); };
}

}  // namespace soroka::cli
