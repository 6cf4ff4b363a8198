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
#include "config/settings_store.h"
#include "frontend/job_service.h"
#include "frontend/runner.h"
#include "http/server.h"
#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "oomguard/monitor.h"
#include "oomguard/sampler.h"
#include "service/capacity.h"
#include "service/process_worker.h"
#include "service/probe_child.h"
#include "service/scheduler.h"
#include "engine/factory.h"
#include "engine/remote/health.h"
#include "service/state_sweep.h"
#include "service/systemd_notify.h"
#include "service/store_health.h"
#include "telegram/bot.h"
#include "telegram/webhook.h"
#include "util/durable.h"
#include "util/text.h"
#include "util/log.h"
#include "worker/protocol.h"
#include "worker/supervisor.h"
#include "util/units.h"

namespace soroka::service {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
// The event loop must turn at least this often (it wakes every 100 ms) to count as alive.
constexpr std::chrono::seconds kLoopAlive{5};

std::string resolve_state_dir(const ServeOptions& o, const Settings& s) {
  return o.state_dir ? *o.state_dir : effective_state_dir(s.service);
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
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
  if (file.empty() && !s.service.credentials_dir.empty())
    if (std::string c = s.service.credentials_dir + "/api_keys"; ::access(c.c_str(), R_OK) == 0) file = c;
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

// Webhook mode: the update route at telegram.webhook_url's path, checking its secret. false: a
// configuration error (logged); true also when there is no webhook.
bool install_telegram_webhook(const Settings& s, http::Server& server, telegram::WebhookSlot& slot) {
  if (s.telegram.webhook_url.empty() || !telegram_configured(s)) return true;
  auto path = telegram::webhook_path(s.telegram.webhook_url);
  auto secret = path ? telegram::read_webhook_secret(s) : Result<std::string>(std::unexpected(path.error()));
  if (!path || !secret) {
    spdlog::error("event=config_error key=telegram.webhook_url error=\"{}\"",
                  log_escape(path ? secret.error().message : path.error().message));
    return false;
  }
  telegram::install_webhook(server, *path, *secret, slot);
  spdlog::info("event=telegram_webhook_route path=\"{}\"", log_escape(*path));
  return true;
}

// The bot's /stats for admins: jobs by state, memory, workers' OOM kills, uptime.
std::string stats_text(const Gauges& g, const Metrics& m, std::chrono::steady_clock::time_point since) {
  std::string jobs;
  for (auto st : jobs::kAllStates)
    jobs += fmt::format("{}{} {}", jobs.empty() ? "" : ", ", jobs::to_string(st), g.counts ? g.counts->of(st) : 0);
  const auto up = std::chrono::duration_cast<std::chrono::minutes>(std::chrono::steady_clock::now() - since);
  return fmt::format("jobs: {}\nmemory: {}, {} of {} used\nworkers: {} running, {} idle, {} OOM-killed\nuptime: {} h {} min",
                     jobs, oomguard::to_string(g.level), format_size(g.snapshot ? g.snapshot->used_bytes : 0),
                     format_size(g.snapshot ? g.snapshot->limit_bytes : 0), g.workers_running, g.workers_idle,
                     m.worker_oom_kills.load(), up.count() / 60, up.count() % 60);
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

namespace {

// SIGHUP: a new Settings snapshot from the file and the environment; what needs a restart keeps
// its running value (and is named in the log). Readers holding the old snapshot keep it.
void reload(const ServeOptions& o, SettingsStore& store, api::HttpApi* api, Scheduler& scheduler) {
  auto fresh = load_settings(o.config_path, current_environment());
  if (!fresh) {
    spdlog::error("event=reload_failed kept=configuration error=\"{}\"", log_escape(fresh.error().message));
    return;
  }
  const auto running = store.current();
  std::string restart;
  for (const auto& k : keep_restart_only(*running, *fresh)) restart += (restart.empty() ? "" : ",") + k;
  if (!restart.empty()) spdlog::warn("event=reload_needs_restart keys=\"{}\"", log_escape(restart));
  if (auto k = load_keys(*fresh); !api) {
  } else if (k) {
    api->set_keys(std::move(*k));
  } else
    spdlog::error("event=reload_failed kept=api_keys error=\"{}\"", log_escape(k.error().message));
  spdlog::set_level(spdlog::level::from_str(fresh->log_level));
  scheduler.set_limits(fresh->service.worker_memory, fresh->service.worker_max_memory,
                       fresh->service.worker_idle_ttl);
  spdlog::info("event=reloaded config=\"{}\"", log_escape(fresh->loaded_from));
  store.replace(std::move(*fresh));
}

// The state dir and its uploads/ and results/; false (logged) when one cannot be made.
bool make_state_dirs(const std::string& state) {
  for (const auto& d : {state, state + "/uploads", state + "/results"}) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) {
      spdlog::error("event=start_failed reason=state_dir dir=\"{}\" error=\"{}\"", log_escape(d),
                    log_escape(ec.message()));
      return false;
    }
  }
  return true;
}

// The address to listen on and the keys, checked together: without keys only loopback.
// 0: fine; else the exit code (64: configuration).
int check_front_door(const ServeOptions& o, const Settings& s,
                     std::optional<std::pair<std::string, int>>& listen,
                     std::optional<api::ApiKeys>& keys) {
  const std::string address = o.listen.value_or(s.service.listen);
  listen = parse_listen(address);
  if (!listen) {
    spdlog::error("event=config_error key=server.listen value=\"{}\" error=\"expected HOST:PORT\"",
                  log_escape(address));
    return 64;
  }
  auto k = load_keys(s);
  if (!k) {
    spdlog::error("event=config_error error=\"{}\"", log_escape(k.error().message));
    return 64;
  }
  if (k->empty() && !loopback_host(listen->first)) {
    spdlog::error("event=config_error key=server.api_keys host=\"{}\" error=\"refusing to listen beyond loopback "
                  "without API keys: anyone who reaches it could submit, read and cancel jobs; set "
                  "server.api_keys or server.api_keys_file, or listen on 127.0.0.1\"",
                  log_escape(listen->first));
    return 64;
  }
  keys = std::move(*k);
  return 0;
}

// `soroka bot`: the token is required and the webhook is not possible. 0, else 64.
int check_bot_only(const Settings& s) {
  if (!telegram_configured(s)) {
    spdlog::error("event=config_error key=telegram.token error=\"soroka bot needs the bot's token: set "
                  "telegram.token, telegram.token_file or SOROKA_TELEGRAM_TOKEN\"");
    return 64;
  }
  if (!s.telegram.webhook_url.empty()) {
    spdlog::error("event=config_error key=telegram.webhook_url error=\"webhook mode needs the HTTP listener of "
                  "soroka serve; soroka bot polls: leave telegram.webhook_url empty\"");
    return 64;
  }
  return 0;
}

// A previous run killed with -9 left running jobs under its pid: back to the queue.
void recover_at_start(jobs::JobQueue& store, const jobs::LeaseOwner& owner) {
  jobs::RecoverParams rp;
  rp.owner_alive = jobs::local_owner_alive(owner.node);
  auto rec = store.recover(jobs::now_ms(), rp);
  if (!rec) {
    spdlog::error("event=recover_failed error=\"{}\"", log_escape(rec.error().message));
    return;
  }
  for (const auto& id : rec->requeued) spdlog::info("event=job_recovered job={} state=queued", id);
  for (const auto& id : rec->failed) spdlog::info("event=job_recovered job={} state=failed", id);
  for (const auto& id : rec->cancelled) spdlog::info("event=job_recovered job={} state=cancelled", id);
}

// How workers start; the settings are read at each start, so a reload reaches new workers.
WorkerLaunch worker_launch(const ServeOptions& o, SettingsStore& settings_store, const std::string& uploads,
                           const std::string& results) {
  // One snapshot per start: a reloaded log level or engine reaches the workers started after
  // it, and an edit of the file that was not reloaded reaches none.
  auto startup = [&settings_store](const std::string& model) {
    const auto cfg = settings_store.current();
    service::WorkerStartup s;
    s.args = {"--log-level", cfg->log_level, "--model-dir", cfg->engine.model_dir};
    if (cfg->engine.simulation) s.args.push_back("--simulation");
    if (const auto* r = find_remote(cfg->engine.remote, model)) {
      // Workers of remote engines reach their servers (worker/sandbox.h, "Remote engines").
      s.network = true;
      s.engine_line = worker::encode_engine(*r);
    }
    return s;
  };
  return {o.soroka_exe, settings_store.current()->service.worker_sandbox, uploads, results, startup};
}

// The figures /metrics and the bot's /stats show, now.
Gauges gauges_now(const oomguard::Monitor& mon, jobs::JobQueue& store, const oomguard::MemoryBudget& budget,
                  const Scheduler& scheduler, const StoreHealth& store_health) {
  Gauges g;
  g.level = mon.level();
  g.snapshot = mon.latest();
  if (auto c = store.counts()) g.counts = *c;
  if (auto q = store.queue_length()) g.queue_length = *q;
  g.budget_reserved = budget.reserved();
  g.budget_capacity = budget.capacity();
  g.budget_paused = budget.paused();
  g.workers_running = scheduler.running();
  g.workers_idle = scheduler.idle_workers();
  g.store_healthy = store_health.healthy();
  return g;
}

// What the housekeeping thread looks after, every 250 ms until `stop`.
struct Housekeeping {
  SettingsStore& settings;
  const oomguard::Monitor& mon;
  oomguard::MemoryBudget& budget;
  HealthCheckedQueue& store;
  Scheduler& scheduler;
  const jobs::LeaseOwner& owner;
  const std::string& state;
  const SweepParams& sweep;
  std::atomic<std::int64_t>& beat;  // steady_ns() of the last turn: a liveness check
};

// Budget capacity and expired leases every 5 s; retention, disk space and stray files every
// minute. Each turn reads its own settings snapshot.
void housekeeping_loop(const Housekeeping& h, const std::atomic<bool>& stop) {
  auto last_purge = std::chrono::steady_clock::now() - 1h;
  auto last_capacity = std::chrono::steady_clock::now();
  while (!stop) {
    h.beat = steady_ns();
    const auto cfg = h.settings.current();
    auto now = std::chrono::steady_clock::now();
    if (now - last_capacity >= 5s) {
      last_capacity = now;
      // Our own RSS and the limit may change; reserved jobs keep what they hold.
      h.budget.set_capacity(budget_capacity(h.mon.latest(), cfg->monitor.thresholds));
      jobs::RecoverParams r;
      r.owner_alive = jobs::local_owner_alive(h.owner.node);
      if (auto rec = h.store.recover(jobs::now_ms(), r); rec && !rec->requeued.empty()) h.scheduler.wake();
    }
    if (now - last_purge >= 60s) {
      last_purge = now;
      auto cutoff = jobs::now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(cfg->service.retention);
      if (auto free = durable::free_bytes(h.state); free && *free < cfg->service.min_free_disk)
        spdlog::warn("event=disk_low dir=\"{}\" free_mib={} floor_mib={}", log_escape(h.state), to_mib(*free),
                     to_mib(cfg->service.min_free_disk));
      if (auto p = h.store.purge(cutoff); p && p->jobs > 0) {
        for (const auto& j : p->purged)
          if (auto r = service::remove_purged(j); !r)  // the sweep finds what is left
            spdlog::warn("event=purge_remove_failed error=\"{}\"", log_escape(r.error().message));
        spdlog::info("event=purge jobs={}", p->jobs);
      }
      sweep_state(h.store, h.sweep, false);
    }
    std::this_thread::sleep_for(250ms);
  }
}

// What start-up opened and checked, for the phases after it; all of it lives in serve()'s frame.
struct Opened {
  const ServeOptions& o;
  const sigset_t& sigs;  // blocked in every thread; taken by sigwait
  SettingsStore& settings_store;
  const std::optional<std::pair<std::string, int>>& listen;  // set for `soroka serve`
  std::optional<api::ApiKeys>& keys;                         // likewise
  const std::string& state;
  jobs::JobQueue& store;             // the store itself (reads for gauges and status)
  HealthCheckedQueue& checked_store;  // every write checked (StoreHealth)
  StoreHealth& store_health;
  Metrics& metrics;
  InFlightFiles& in_flight;
  const SweepParams& sweep;
  const jobs::LeaseOwner& owner;
  oomguard::Monitor& mon;
  oomguard::MemoryBudget& budget;
  worker::WorkerSupervisor& supervisor;
};

// What is running once the front ends are up, for the signal loop and the orderly stop.
struct Running {
  const Opened& s;
  Scheduler& scheduler;
  http::Server* http;  // null for `soroka bot`
  api::HttpApi* api;   // likewise
  telegram::Bot* bot;  // null without a token
  telegram::WebhookSlot& webhook;
  std::atomic<bool>& accepting;
  oomguard::Monitor::Id level_listener;
};

// systemd (Type=notify): READY=1 now that the port listens; STATUS= and, while healthy,
// WATCHDOG=1 (see systemd_notify.h); housekeeping until a stop signal; SIGHUP reloads. Then
// the orderly stop. Returns the exit code.
int run_until_signal(const Running& r) {
  const Opened& s = r.s;
  std::atomic<std::int64_t> housekeeping_beat{steady_ns()};
  SystemdNotifier notifier(
      {.status_interval = 5s,
       .max_sample_age =
           std::max<std::chrono::milliseconds>(5s, 10 * s.settings_store.current()->monitor.poll_interval),
       .last_sample = [&] { return steady_at(s.mon.latest().monotonic_ns); },
       .status = [&] { return status_line(s.mon, s.store, r.scheduler); }});
  // The loop wakes every 250 ms; a purge and sweep take well under a second, so 10 s without
  // a beat means it is stuck (a store call hung).
  notifier.add_liveness_check(
      "housekeeping", [&] { return steady_ns() - housekeeping_beat.load() < 10'000'000'000; });
  if (r.http) notifier.add_liveness_check("http", [&] { return r.http->loop_alive(kLoopAlive); });
  notifier.ready();

  std::atomic<bool> stop{false};
  std::thread housekeeping(housekeeping_loop,
                           Housekeeping{s.settings_store, s.mon, s.budget, s.checked_store, r.scheduler, s.owner,
                                        s.state, s.sweep, housekeeping_beat},
                           std::cref(stop));
  int sig = 0;
  while (true) {
    sigwait(&s.sigs, &sig);
    if (sig != SIGHUP) break;
    reload(s.o, s.settings_store, r.api, r.scheduler);
  }
  spdlog::info("event=stopping signal={} running={}", sig, r.scheduler.running());
  notifier.stopping();
  r.accepting = false;
  // Running jobs get the shutdown timeout; what is not done goes back to the queue, and
  // synchronous clients waiting on them get their answer (or a 504) before the server stops.
  // The bot stops taking updates first; what it has taken is in its store for the next start.
  r.webhook.set(nullptr);
  if (r.bot) r.bot->stop();
  s.mon.remove(r.level_listener);
  r.scheduler.shutdown(s.settings_store.current()->service.shutdown_timeout);
  if (r.http) r.http->stop();
  stop = true;
  housekeeping.join();
  spdlog::info("event=stopped");
  return 0;
}

// `soroka serve` binds before anything is served; `soroka bot` has no HTTP server (null).
Result<std::unique_ptr<http::Server>> bind_http(const Opened& s) {
  if (!s.o.http) return std::unique_ptr<http::Server>();
  auto server = http::Server::bind(s.listen->first, s.listen->second, http_limits(*s.settings_store.current()));
  if (!server)
    spdlog::error("event=listen_failed address={}:{} error=\"{}\"", log_escape(s.listen->first), s.listen->second,
                  log_escape(server.error().message));
  return server;
}

// The scheduler's parameters: a worker of a model with figures of its own (the simulations, a
// remote engine's request buffers) is sized by them; others by worker.memory_per_job.
SchedulerParams scheduler_setup(const Opened& s) {
  SchedulerParams sp = scheduler_params(s.settings_store.current()->service);
  sp.owner = s.owner;
  sp.results_dir = s.state + "/results";
  sp.model_bytes = [&store = s.settings_store](std::string_view model) {
    return engine::worker_base_bytes(store.current()->engine, model, 0);
  };
  return sp;
}

// The HTTP API on `server`, with /healthz's view of the remote engines (also without remote
// engines at start: a reload may add one). Null after logging why when the webhook cannot be
// installed.
std::unique_ptr<api::HttpApi> install_api(const Opened& s, api::ApiContext ctx, http::Server& server,
                                          std::unique_ptr<engine::remote::RemoteHealth>& remote_health,
                                          telegram::WebhookSlot& webhook) {
  remote_health = std::make_unique<engine::remote::RemoteHealth>(
      [&store = s.settings_store] { return store.current()->engine.remote; });
  ctx.engines = [h = remote_health.get()] { return h->snapshot(); };
  spdlog::info("event=api_keys count={}", s.keys->size());
  auto api = std::make_unique<api::HttpApi>(ctx, std::move(*s.keys));
  api->install(server);
  if (!install_telegram_webhook(*s.settings_store.current(), server, webhook)) return nullptr;
  return api;
}

// The scheduler, the jobs interface, the HTTP API and the bot on what start-up opened; then
// run_until_signal. Returns the exit code.
int run_service(const Opened& s) {
  ProcessLauncher launcher(s.supervisor, s.metrics,
                           worker_launch(s.o, s.settings_store, s.state + "/uploads", s.state + "/results"));
  Scheduler scheduler(s.checked_store, s.budget, launcher, s.metrics, scheduler_setup(s));
  std::atomic<bool> accepting{true};
  telegram::WebhookSlot webhook;  // where the webhook route finds the bot; outlives the server
  auto http_server = bind_http(s);
  if (!http_server) return 1;
  http::Server* http = http_server->get();
  auto health = [&]() -> std::optional<api::HealthIssue> {
    if (!s.store_health.healthy()) return api::HealthIssue{"store", s.store_health.reason()};
    if (http && !http->loop_alive(kLoopAlive)) return api::HealthIssue{"http", "event loop stalled"};
    return std::nullopt;
  };
  // The jobs interface every front end uses: the store, the scheduler, the probe child.
  const auto settings = s.settings_store.current();
  const service::ProbeParams probe{s.o.soroka_exe, settings->service.probe_memory, settings->service.probe_timeout};
  auto runner = frontend::scheduler_runner(scheduler);
  frontend::JobService job_service(
      {s.checked_store, *runner,
       [&, probe](const std::string& path) { return service::probe_in_child(s.supervisor, probe, path); },
       {[&] { return accepting.load(); }, [&] { return s.mon.level(); },
        [&]() -> std::optional<std::string> {
          if (auto i = health()) return i->component + ": " + i->reason;
          return std::nullopt;
        }},
       &s.metrics});
  auto gauges = [&] { return gauges_now(s.mon, s.store, s.budget, scheduler, s.store_health); };
  std::unique_ptr<engine::remote::RemoteHealth> remote_health;
  std::unique_ptr<api::HttpApi> api;
  if (http) {
    api = install_api(s,
                      {job_service, s.settings_store, s.metrics, s.state + "/uploads", gauges,
                       [&] { return s.mon.level(); }, [&] { return accepting.load(); }, health, &s.in_flight, {}},
                      *http, remote_health, webhook);
    if (!api) return 64;
  }
  // Memory levels reach the scheduler as they change (the monitor's listener, on its callback
  // thread); the current one first.
  scheduler.on_level(s.mon.level());
  const auto level_listener = s.mon.add_listener([&](const oomguard::LevelChange& c) { scheduler.on_level(c.to); });
  scheduler.start();
  auto stop_early = [&] {
    s.mon.remove(level_listener);
    scheduler.shutdown(std::chrono::milliseconds(0));
    if (http) http->stop();
    return 1;
  };
  if (http) {
    if (auto r = http->start(); !r) {
      spdlog::error("event=listen_failed error=\"{}\"", log_escape(r.error().message));
      return stop_early();
    }
    spdlog::info("event=listening address={}:{} max_connections={}", log_escape(s.listen->first), http->port(),
                 http->limits().max_connections);
  }
  // The Telegram bot, beside the HTTP API on the same jobs interface, when configured.
  std::unique_ptr<telegram::Bot> bot;
  if (telegram_configured(*settings)) {
    const auto started_at = std::chrono::steady_clock::now();
    auto b = telegram::Bot::start({job_service, s.settings_store, s.state, [&] { return s.mon.level(); },
                                   [&, started_at] { return stats_text(gauges(), s.metrics, started_at); }});
    if (!b) {
      spdlog::error("event=start_failed reason=telegram error=\"{}\"", log_escape(b.error().message));
      return stop_early();
    }
    bot = std::move(*b);
    webhook.set(bot.get());
  }
  return run_until_signal({s, scheduler, http, api.get(), bot.get(), webhook, accepting, level_listener});
}

// The memory monitor (its sampler first); null after logging why not.
std::unique_ptr<oomguard::Monitor> start_monitor(const Settings& settings) {
  auto sampler = oomguard::Sampler::open(oomguard::Roots{}, oomguard::Target{});
  if (!sampler) {
    spdlog::error("event=start_failed reason=memory_sampler error=\"{}\"", log_escape(sampler.error().message));
    return nullptr;
  }
  auto monitor = oomguard::Monitor::start(std::move(*sampler), settings.monitor);
  if (!monitor) {
    spdlog::error("event=start_failed reason=memory_monitor error=\"{}\"", log_escape(monitor.error().message));
    return nullptr;
  }
  return std::move(*monitor);
}

}  // namespace

int serve(const ServeOptions& o, Settings initial) {
  // Signals are taken by one thread with sigwait; blocked before any thread starts so that
  // every thread inherits the mask. SIGPIPE: a client or worker that went away is an error
  // value on write, never the end of the service.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, sig);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Every thread reads the configuration through snapshots of this store; SIGHUP swaps them.
  SettingsStore settings_store(std::move(initial));
  const auto settings = settings_store.current();  // start-up's own snapshot
  std::optional<std::pair<std::string, int>> listen;
  std::optional<api::ApiKeys> keys;
  if (int rc = o.http ? check_front_door(o, *settings, listen, keys) : check_bot_only(*settings); rc != 0)
    return rc;
  const std::string state = resolve_state_dir(o, *settings);
  if (!make_state_dirs(state)) return 1;
  // The kernel should pick a worker, never us: workers get 1000, we lower ours.
  // Logs its own warning when refused (no CAP_SYS_RESOURCE); workers still get 1000.
  (void)worker::protect_self(-500);

  auto store = jobs::SqliteJobStore::open(jobs::default_sqlite_params(state + "/jobs.sqlite"));
  if (!store) {
    spdlog::error("event=start_failed reason=job_store error=\"{}\"", log_escape(store.error().message));
    return 1;
  }
  // Every write to the store from here on is checked: failures are logged, counted and make
  // the service unhealthy (/healthz) until a write commits again.
  Metrics metrics;
  StoreHealth store_health;
  HealthCheckedQueue checked_store(**store, store_health, metrics);
  const jobs::LeaseOwner owner{hostname(), static_cast<std::int64_t>(::getpid())};
  recover_at_start(checked_store, owner);
  InFlightFiles in_flight;
  SweepParams sweep;
  sweep.dirs = {state + "/uploads", state + "/results"};
  sweep.in_flight = &in_flight;
  sweep_state(checked_store, sweep, true);

  auto monitor = start_monitor(*settings);
  if (!monitor) return 1;
  oomguard::MemoryBudget budget(budget_capacity(monitor->latest(), settings->monitor.thresholds));
  auto supervisor = worker::WorkerSupervisor::create({});
  if (!supervisor) {
    spdlog::error("event=start_failed reason=worker_supervisor error=\"{}\"", log_escape(supervisor.error().message));
    return 1;
  }
  spdlog::info("event=start listen={}:{} state_dir=\"{}\" workers_cgroup=\"{}\" budget_mib={} limit_mib={} "
               "level={} pid={}",
               listen ? log_escape(listen->first) : std::string("none"), listen ? listen->second : 0,
               log_escape(state), log_escape((*supervisor)->cgroups().description()), to_mib(budget.capacity()),
               to_mib(monitor->latest().limit_bytes), oomguard::to_string(monitor->level()), ::getpid());
  return run_service({o, sigs, settings_store, listen, keys, state, **store, checked_store, store_health, metrics,
                      in_flight, sweep, owner, *monitor, budget, **supervisor});
}

}  // namespace soroka::service
