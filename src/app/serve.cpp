// serve: `soroka serve` assembled: state dir, job store, memory monitor and budget, workers,
// the bounded HTTP server and its API, signals.
#include "app/serve.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <thread>

#include <fmt/format.h>

#include "api/auth.h"
#include "api/http_api.h"
#include "http/server.h"
#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "oomguard/monitor.h"
#include "oomguard/sampler.h"
#include "service/capacity.h"
#include "service/scheduler.h"
#include "service/state_sweep.h"
#include "service/systemd_notify.h"
#include "service/store_health.h"
#include "util/durable.h"
#include "util/text.h"
#include "util/log.h"
#include "worker/supervisor.h"
#include "util/units.h"

namespace soroka::service {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
// The event loop must turn at least this often (it wakes every 100 ms) to count as alive.
constexpr std::chrono::seconds kLoopAlive{5};

std::string resolve_state_dir(const ServeOptions& o, const Settings& s) {
  if (o.state_dir) return *o.state_dir;
  if (!s.service.state_dir.empty()) return s.service.state_dir;
  if (const char* d = std::getenv("STATE_DIRECTORY"); d && *d) return d;  // systemd
  return "soroka-state";
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

api::ApiLimits api_limits(const Settings& s) {
  api::ApiLimits l;
  l.max_file_bytes = s.admission.max_file_bytes;
  l.max_queue = s.service.max_queue;
  l.max_attempts = static_cast<std::int32_t>(std::clamp<std::uint64_t>(s.service.max_attempts, 1, 100));
  l.request_timeout = s.service.request_timeout;
  l.max_sync_requests = s.service.max_sync_requests;
  l.key_max_jobs = s.service.key_max_jobs;
  l.key_submissions_per_minute = s.service.key_submissions_per_minute;
  l.key_max_stored = s.service.key_max_stored;
  l.min_free_disk = s.service.min_free_disk;
  return l;
}

http::Limits http_limits(const Settings& s) {
  http::Limits l;
  l.max_connections = s.service.max_connections;
  l.max_per_client = s.service.max_connections_per_client;
  l.header_timeout = s.service.header_timeout;
  l.min_body_rate = s.service.min_body_rate;
  return l;
}

// server.api_keys_file, else the systemd credential `api_keys` when there is one.
Result<api::ApiKeys> load_keys(const Settings& s) {
  std::string file = s.service.api_keys_file;
  if (file.empty())
    if (const char* d = std::getenv("CREDENTIALS_DIRECTORY"); d && *d)
      if (std::string c = std::string(d) + "/api_keys"; ::access(c.c_str(), R_OK) == 0) file = c;
  return api::ApiKeys::load(s.service.api_keys, file);
}

bool loopback_host(const std::string& h) {
  return h == "localhost" || h == "::1" || h.starts_with("127.");
}

// Files no job refers to (a crash between writing a file and recording it, or between
// purging a job's row and its files): removed once past the grace. `always_log`: at start-up
// the line is written even when nothing was found, as a record that the sweep ran.
void sweep_state(jobs::JobQueue& store, const SweepParams& params, bool always_log) {
  auto r = sweep_orphans(store, params);
  if (!r) {
    spdlog::warn("event=sweep_failed error=\"{}\"", log_escape(r.error().message));
    return;
  }
  for (const auto& e : r->errors) spdlog::warn("event=sweep_error error=\"{}\"", log_escape(e));
  for (const auto& f : r->removed) spdlog::debug("event=sweep_removed file=\"{}\"", log_escape(f));
  if (always_log || r->files > 0) spdlog::info("event=sweep files={} bytes={}", r->files, r->bytes);
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
// Snapshot::monotonic_ns is CLOCK_MONOTONIC, as steady_clock is on Linux.
std::chrono::steady_clock::time_point steady_at(std::int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

// systemd's STATUS= line: "memory normal 412/2048 MiB (20%), queue 3, workers 1 running 2 idle".
std::string status_line(const oomguard::Monitor& mon, jobs::JobQueue& store,
                        const Scheduler& scheduler) {
  auto snap = mon.latest();
  auto queue = store.queue_length();
  return fmt::format("memory {} {}/{} MiB ({:.0f}%), queue {}, workers {} running {} idle",
                     oomguard::to_string(mon.level()), to_mib(snap.used_bytes),
                     to_mib(snap.limit_bytes), snap.used_percent,
                     queue ? fmt::format("{}", *queue) : std::string("?"), scheduler.running(),
                     scheduler.idle_workers());
}

}  // namespace

std::optional<std::pair<std::string, int>> parse_listen(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  const char* b = s.data() + colon + 1;
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, port);
  if (ec != std::errc() || p != e || port < 0 || port > 65535) return std::nullopt;
  return std::make_pair(host, port);
}

int serve(const ServeOptions& o, Settings settings) {
  // Signals are taken by one thread with sigwait; blocked before any thread starts so that
  // every thread inherits the mask. SIGPIPE: a client or worker that went away is an error
  // value on write, never the end of the service.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto listen = parse_listen(o.listen.value_or(settings.service.listen));
  if (!listen) {
    spdlog::error("invalid listen address '{}': expected HOST:PORT", o.listen.value_or(settings.service.listen));
    return 64;
  }
  auto keys = load_keys(settings);
  if (!keys) {
    spdlog::error("event=config_error error=\"{}\"", log_escape(keys.error().message));
    return 64;
  }
  if (keys->empty() && !loopback_host(listen->first)) {
    spdlog::error("refusing to listen on {} without API keys: anyone who reaches it could submit, read and "
                  "cancel jobs. Set server.api_keys or server.api_keys_file (or listen on 127.0.0.1)",
                  listen->first);
    return 64;
  }
  const std::string state = resolve_state_dir(o, settings);
  const std::string uploads = state + "/uploads", results = state + "/results";
  std::error_code ec;
  for (const auto& d : {state, uploads, results}) {
    fs::create_directories(d, ec);
    if (ec) {
      spdlog::error("cannot create state directory {}: {}", d, ec.message());
      return 1;
    }
  }

  // The kernel should pick a worker, never us: workers get 1000, we lower ours.
  // Logs its own warning when refused (no CAP_SYS_RESOURCE); workers still get 1000.
  (void)worker::protect_self(-500);

  auto store = jobs::SqliteJobStore::open(jobs::default_sqlite_params(state + "/jobs.sqlite"));
  if (!store) {
    spdlog::error("cannot open the job store: {}", store.error().message);
    return 1;
  }
  // Every write to the store from here on is checked: failures are logged, counted and make
  // the service unhealthy (/healthz) until a write commits again.
  Metrics metrics;
  StoreHealth store_health;
  HealthCheckedQueue checked_store(**store, store_health, metrics);
  const jobs::LeaseOwner owner{hostname(), static_cast<std::int64_t>(::getpid())};
  // A previous run killed with -9 left running jobs under its pid: back to the queue.
  jobs::RecoverParams rp;
  rp.owner_alive = jobs::local_owner_alive(owner.node);
  if (auto rec = checked_store.recover(jobs::now_ms(), rp); rec) {
    for (const auto& id : rec->requeued) spdlog::info("event=job_recovered job={} state=queued", id);
    for (const auto& id : rec->failed) spdlog::info("event=job_recovered job={} state=failed", id);
    for (const auto& id : rec->cancelled) spdlog::info("event=job_recovered job={} state=cancelled", id);
  } else {
    spdlog::error("event=recover_failed error=\"{}\"", log_escape(rec.error().message));
  }
  InFlightFiles in_flight;
  SweepParams sweep;
  sweep.dirs = {uploads, results};
  sweep.in_flight = &in_flight;
  sweep_state(checked_store, sweep, true);

  auto sampler = oomguard::Sampler::open(oomguard::Roots{}, oomguard::Target{});
  if (!sampler) {
    spdlog::error("cannot read memory: {}", sampler.error().message);
    return 1;
  }
  auto monitor = oomguard::Monitor::start(std::move(*sampler), settings.monitor);
  if (!monitor) {
    spdlog::error("cannot start the memory monitor: {}", monitor.error().message);
    return 1;
  }
  oomguard::MemoryBudget budget(budget_capacity((*monitor)->latest(), settings.monitor.thresholds));

  auto supervisor = worker::WorkerSupervisor::create({});
  if (!supervisor) {
    spdlog::error("cannot start the worker supervisor: {}", supervisor.error().message);
    return 1;
  }
  spdlog::info("event=start listen={}:{} state_dir={} workers_cgroup=\"{}\" budget_mib={} limit_mib={} "
               "level={} pid={}",
               listen->first, listen->second, state, (*supervisor)->cgroups().description(),
               to_mib(budget.capacity()), to_mib((*monitor)->latest().limit_bytes),
               oomguard::to_string((*monitor)->level()), ::getpid());

  SchedulerParams sp;
  sp.owner = owner;
  sp.soroka_exe = o.soroka_exe;
  sp.results_dir = results;
  sp.uploads_dir = uploads;
  sp.sandbox = settings.service.worker_sandbox;
  sp.worker_memory = settings.service.worker_memory;
  sp.worker_max_memory = settings.service.worker_max_memory;
  sp.worker_timeout = settings.service.worker_timeout;
  sp.stall_timeout = settings.service.worker_stall_timeout;
  sp.idle_ttl = settings.service.worker_idle_ttl;
  sp.worker_args = {"--log-level", settings.log_level, "--model-dir", settings.engine.model_dir};
  if (settings.engine.simulation) sp.worker_args.push_back("--simulation");
  Scheduler scheduler(checked_store, budget, **supervisor, metrics, sp);

  std::atomic<bool> accepting{true};
  oomguard::Monitor& mon = **monitor;
  auto server = http::Server::bind(listen->first, listen->second, http_limits(settings));
  if (!server) {
    spdlog::error("event=listen_failed address={}:{} error=\"{}\"", listen->first, listen->second,
                  log_escape(server.error().message));
    return 1;
  }
  http::Server& http_server = **server;
  service::ProbeParams probe;
  probe.soroka_exe = o.soroka_exe;
  api::ApiContext ctx{checked_store,
                      scheduler,
                      metrics,
                      **supervisor,
                      probe,
                      uploads,
                      [&] {
                        Gauges g;
                        g.level = mon.level();
                        g.snapshot = mon.latest();
                        if (auto c = (*store)->counts()) g.counts = *c;
                        if (auto q = (*store)->queue_length()) g.queue_length = *q;
                        g.budget_reserved = budget.reserved();
                        g.budget_capacity = budget.capacity();
                        g.budget_paused = budget.paused();
                        g.workers_running = scheduler.running();
                        g.workers_idle = scheduler.idle_workers();
                        g.store_healthy = store_health.healthy();
                        return g;
                      },
                      [&] { return mon.level(); },
                      [&] { return accepting.load(); },
                      [&]() -> std::optional<api::HealthIssue> {
                        if (!store_health.healthy()) return api::HealthIssue{"store", store_health.reason()};
                        if (!http_server.loop_alive(kLoopAlive)) return api::HealthIssue{"http", "event loop stalled"};
                        return std::nullopt;
                      },
                      &in_flight,
                      settings.engine};
  spdlog::info("event=api_keys count={}", keys->size());
  api::HttpApi api(ctx, api_limits(settings), std::move(*keys));
  api.install(http_server);
  scheduler.start();
  if (auto r = http_server.start(); !r) {
    spdlog::error("event=listen_failed error=\"{}\"", log_escape(r.error().message));
    return 1;
  }
  spdlog::info("event=listening address={}:{} max_connections={}", listen->first, http_server.port(),
               http_server.limits().max_connections);

  // systemd (Type=notify): READY=1 now that the port listens; STATUS= and, while healthy,
  // WATCHDOG=1 (see systemd_notify.h). The housekeeping loop below is one liveness check.
  std::atomic<std::int64_t> housekeeping_beat{steady_ns()};
  SystemdNotifier notifier(
      {.status_interval = 5s,
       .max_sample_age = std::max<std::chrono::milliseconds>(5s, 10 * settings.monitor.poll_interval),
       .last_sample = [&] { return steady_at(mon.latest().monotonic_ns); },
       .status = [&] { return status_line(mon, **store, scheduler); }});
  // The loop wakes every 250 ms; a purge and sweep take well under a second, so 10 s without
  // a beat means it is stuck (a store call hung).
  notifier.add_liveness_check(
      "housekeeping", [&] { return steady_ns() - housekeeping_beat.load() < 10'000'000'000; });
  notifier.add_liveness_check("http", [&] { return http_server.loop_alive(kLoopAlive); });
  notifier.ready();

  // Housekeeping: memory level -> scheduler (every 250 ms: the monitor itself samples every
  // 100 ms at warning), budget capacity, expired leases, retention.
  std::atomic<bool> stop{false};
  std::thread housekeeping([&] {
    auto last_purge = std::chrono::steady_clock::now() - 1h;
    auto last_capacity = std::chrono::steady_clock::now();
    while (!stop) {
      housekeeping_beat = steady_ns();
      scheduler.on_level(mon.level());
      auto now = std::chrono::steady_clock::now();
      if (now - last_capacity >= 5s) {
        last_capacity = now;
        // Our own RSS and the limit may change; reserved jobs keep what they hold.
        budget.set_capacity(budget_capacity(mon.latest(), settings.monitor.thresholds));
        jobs::RecoverParams r;
        r.owner_alive = jobs::local_owner_alive(owner.node);
        if (auto rec = checked_store.recover(jobs::now_ms(), r); rec && !rec->requeued.empty()) scheduler.wake();
      }
      if (now - last_purge >= 60s) {
        last_purge = now;
        auto cutoff = jobs::now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(settings.service.retention);
        if (auto free = durable::free_bytes(state); free && *free < settings.service.min_free_disk)
          spdlog::warn("event=disk_low dir={} free_mib={} floor_mib={}", state, to_mib(*free),
                       to_mib(settings.service.min_free_disk));
        if (auto p = checked_store.purge(cutoff); p && p->jobs > 0) {
          std::error_code e;
          for (const auto& f : p->files) fs::remove(f, e);
          spdlog::info("event=purge jobs={} files={}", p->jobs, p->files.size());
        }
        sweep_state(checked_store, sweep, false);
      }
      std::this_thread::sleep_for(250ms);
    }
  });

  int sig = 0;
  while (true) {
    sigwait(&sigs, &sig);
    if (sig != SIGHUP) break;
    auto fresh = load_settings(o.config_path, current_environment());
    if (!fresh) {
      spdlog::error("event=reload_failed error=\"{}\" (keeping the running configuration)", log_escape(fresh.error().message));
      continue;
    }
    // Listen address and state dir need a restart; everything else applies now.
    settings.admission = fresh->admission;
    settings.service.max_queue = fresh->service.max_queue;
    settings.service.max_attempts = fresh->service.max_attempts;
    settings.service.retention = fresh->service.retention;
    settings.service.request_timeout = fresh->service.request_timeout;
    settings.service.shutdown_timeout = fresh->service.shutdown_timeout;
    settings.service.worker_memory = fresh->service.worker_memory;
    settings.service.worker_max_memory = fresh->service.worker_max_memory;
    settings.log_level = fresh->log_level;
    spdlog::set_level(spdlog::level::from_str(settings.log_level));
    api.set_limits(api_limits(settings));
    if (auto k = load_keys(*fresh); k)
      api.set_keys(std::move(*k));
    else
      spdlog::error("event=reload_failed error=\"{}\" (keeping the running API keys)", log_escape(k.error().message));
    settings.service.worker_idle_ttl = fresh->service.worker_idle_ttl;
    scheduler.set_limits(settings.service.worker_memory, settings.service.worker_max_memory,
                         settings.service.worker_idle_ttl);
    spdlog::info("event=reloaded config=\"{}\"", fresh->loaded_from);
  }
  spdlog::info("event=stopping signal={} running={}", sig, scheduler.running());
  notifier.stopping();
  accepting = false;
  // Running jobs get the shutdown timeout; what is not done goes back to the queue, and
  // synchronous clients waiting on them get their answer (or a 504) before the server stops.
  scheduler.shutdown(settings.service.shutdown_timeout);
  http_server.stop();
  stop = true;
  housekeeping.join();
  spdlog::info("event=stopped");
  return 0;
}

}  // namespace soroka::service
