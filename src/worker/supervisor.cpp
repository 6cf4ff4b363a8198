// WorkerSupervisor: runs workers in their own memory cgroups, reaps them, says why they ended.
#include "worker/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/file_reader.h"
#include "util/parse.h"
#include "util/text.h"
#include "util/units.h"

extern char** environ;

namespace soroka::worker {

namespace {

using Clock = std::chrono::steady_clock;

// Where pidfd_open is missing (< 5.3) exits are found by polling wait4 at this interval.
constexpr auto kNoPidfdPoll = std::chrono::milliseconds(20);
std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::optional<std::uint64_t> host_oom_kills(const std::string& proc) {
  auto text = read_file(proc + "/vmstat");
  if (!text) return std::nullopt;
  return parse::keyed_u64(*text, "oom_kill");  // 4.13+
}

std::vector<std::string> worker_env(const WorkerSpec& spec) {
  std::vector<std::string> env;
  if (spec.inherit_env)
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  for (const auto& kv : spec.env) {
    std::string_view key = std::string_view(kv).substr(0, kv.find('='));
    std::erase_if(env, [&](const std::string& have) {
      return have.size() > key.size() && have.compare(0, key.size(), key) == 0 &&
             have[key.size()] == '=';
    });
    env.push_back(kv);
  }
  return env;
}

}  // namespace

const char* to_string(ExitKind k) noexcept {
  switch (k) {
    case ExitKind::exited:
      return "exited";
    case ExitKind::crashed:
      return "crashed";
    case ExitKind::oom_killed:
      return "oom_killed";
    case ExitKind::timed_out:
      return "timed_out";
    case ExitKind::cancelled:
      return "cancelled";
  }
  return "?";
}

Verdict classify_exit(const ExitFacts& f) {
  Verdict v;
  const int st = f.wait_status;
  const bool exited = WIFEXITED(st);
  if (exited) v.exit_code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) v.signal = WTERMSIG(st);
  std::string how =
      exited ? fmt::format("exited with {}", v.exit_code)
             : "killed by " + signal_name(v.signal) + (WCOREDUMP(st) ? " (core dumped)" : "");
  const std::uint64_t ooms = f.slot_oom_kills.value_or(0);
  const bool clean = exited && v.exit_code == 0;
  if (ooms > 0 && !clean) {
    v.kind = ExitKind::oom_killed;
    v.detail = fmt::format("{}; the kernel OOM-killed {} task(s) in its cgroup", how, ooms);
  } else if (!f.slot_oom_kills && v.signal == SIGKILL && f.stop == StopReason::none &&
             f.host_oom_kills > 0) {
    v.kind = ExitKind::oom_killed;
    v.detail = fmt::format("{}; no cgroup, but the host's oom_kill counter rose by {}", how,
                           f.host_oom_kills);
  } else if (f.stop == StopReason::timeout) {
    v.kind = ExitKind::timed_out;
    v.detail = "timed out; " + how;
  } else if (f.stop == StopReason::cancel) {
    v.kind = ExitKind::cancelled;
    v.detail = "cancelled; " + how;
  } else if (v.signal != 0) {
    v.kind = ExitKind::crashed;
    v.detail = how;
    if (v.signal == SIGKILL && f.slot_oom_kills)
      v.detail += "; not by the OOM killer (its counter did not move)";
  } else {
    v.kind = ExitKind::exited;
    v.detail = how;
    if (ooms > 0) v.detail += fmt::format("; {} of its tasks were OOM-killed", ooms);
  }
  return v;
}

namespace detail {

// An eventfd that wakes the supervisor thread; shared so handles may outlive the supervisor.
struct Waker {
  Fd efd;
  void wake() const {
    std::uint64_t one = 1;
    ssize_t n = ::write(efd.get(), &one, sizeof one);
    (void)n;  // EAGAIN: the counter is already non-zero, a wake-up is pending anyway
  }
  void drain() const {
    std::uint64_t v;
    ssize_t n = ::read(efd.get(), &v, sizeof v);
    (void)n;
  }
};

struct WorkerState {
  // Fixed before the handle is published.
  std::string name;
  pid_t pid = -1;
  Fd pidfd;
  std::string cgroup_dir;
  Clock::time_point started;
  std::chrono::milliseconds timeout{0}, kill_grace{0};
  std::function<void(const WorkerExit&)> on_exit;
  std::optional<std::uint64_t> oom_before;       // the cgroup's counter at spawn
  std::optional<std::uint64_t> host_oom_before;  // without a cgroup
  std::promise<WorkerExit> promise;
  std::shared_future<WorkerExit> future;
  std::shared_ptr<const Waker> waker;

  mutable std::mutex mu;             // guards everything below
  std::unique_ptr<CgroupSlot> slot;  // until reaped
  StopReason stop = StopReason::none;
  std::optional<Clock::time_point> term_at, kill_at;
  bool term_sent = false, kill_sent = false, done = false;

  // Caller holds mu.
  void request_stop(StopReason why, std::chrono::milliseconds grace, Clock::time_point now) {
    if (done) return;
    if (stop == StopReason::none) stop = why;
    if (grace.count() > 0 && !term_sent) term_at = term_at ? std::min(*term_at, now) : now;
    auto k = now + grace;
    kill_at = kill_at ? std::min(*kill_at, k) : k;
  }

  // On the supervisor thread only: the pid is ours and unreaped, so it is not reused.
  void signal(int sig) const {
    if (pidfd && ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) == 0) return;
    ::kill(pid, sig);
  }
};

struct SupervisorCore {
  struct Request {
    WorkerSpec spec;
    std::promise<Result<WorkerHandle>> result;
  };

  SupervisorParams params;
  CgroupManager cgroups;
  std::shared_ptr<const Waker> waker;
  std::thread thread;
  std::thread::id thread_id;
  std::atomic<std::size_t> live_count{0};

  std::mutex mu;  // guards pending and stopping
  std::vector<std::shared_ptr<Request>> pending;
  bool stopping = false;

  // Supervisor thread only. New workers wait in `born` so that a spawn from on_exit (while
  // `live` is being walked) never invalidates the walk.
  std::vector<std::shared_ptr<WorkerState>> live, born;
  std::uint64_t seq = 0;

  SupervisorCore(SupervisorParams p, CgroupManager cg)
      : params(std::move(p)), cgroups(std::move(cg)) {}

  Result<WorkerHandle> do_spawn(WorkerSpec spec);
  Clock::time_point drive(WorkerState& w, Clock::time_point now);
  bool try_reap(WorkerState& w, Clock::time_point woke);
  void finish(WorkerState& w, int status, const struct rusage& ru, Clock::time_point woke,
              bool status_lost);
  bool serve_requests();
  void run();
};

namespace {
LaunchPlan launch_plan(WorkerSpec& spec, std::string program, std::string cgroup_procs) {
  LaunchPlan plan;
  plan.path = std::move(program);
  plan.argv = std::move(spec.argv);
  plan.env = worker_env(spec);
  plan.cwd = spec.cwd;
  plan.cgroup_procs = std::move(cgroup_procs);
  plan.oom_score_adj = spec.oom_score_adj;
  plan.io = spec.io;
  plan.stderr_to_null = spec.stderr_to_null;
  plan.core_dumps = spec.core_dumps;
  plan.new_network_namespace = spec.new_network_namespace;
  return plan;
}
}  // namespace

Result<WorkerHandle> SupervisorCore::do_spawn(WorkerSpec spec) {
  auto ctx = [&](Error e) {
    return std::unexpected(std::move(e).with_context("worker " + spec.name));
  };
  if (spec.argv.empty()) return ctx(Error{EINVAL, "no argv"});
  const char* path_var = std::getenv("PATH");
  auto program = find_program(spec.argv[0], path_var ? path_var : "/usr/local/bin:/usr/bin:/bin");
  if (!program) return ctx(program.error());

  auto w = std::make_shared<WorkerState>();
  w->name = spec.name;
  w->timeout = spec.timeout;
  w->kill_grace = spec.kill_grace;
  w->on_exit = std::move(spec.on_exit);
  w->waker = waker;
  w->future = w->promise.get_future().share();

  auto slot = cgroups.create(slot_name(spec.name, ::getpid(), ++seq), spec.limit_bytes);
  if (!slot) return ctx(slot.error());
  if ((*slot)->mode() != CgroupMode::none) {
    if (auto k = (*slot)->oom_kills())
      w->oom_before = *k;
    else
      spdlog::warn("event=oom_kills_unknown worker={} error=\"{}\"", spec.name, log_escape(k.error().message));
  } else {
    w->host_oom_before = host_oom_kills(cgroups.proc());
  }

  w->started = Clock::now();
  auto l = launch(launch_plan(spec, *program, (*slot)->procs_path()));
  if (!l) return ctx(l.error());  // the slot's destructor removes the cgroup

  w->pid = l->pid;
  w->pidfd = std::move(l->pidfd);
  w->cgroup_dir = (*slot)->dir();
  w->slot = std::move(*slot);
  spdlog::debug("event=process_started name={} pid={} cgroup={} limit_mib={}", w->name, w->pid,
                w->cgroup_dir.empty() ? std::string("none") : w->cgroup_dir, to_mib(spec.limit_bytes));
  if (!w->pidfd) spdlog::warn("event=no_pidfd pid={} (kernel < 5.3): polling for its exit", w->pid);

  WorkerHandle h;
  h.state_ = w;
  h.input_ = std::move(l->input);
  h.output_ = std::move(l->output);
  born.push_back(std::move(w));
  live_count.fetch_add(1);
  return h;
}

// Timers and signals of one worker; returns when it next needs attention.
Clock::time_point SupervisorCore::drive(WorkerState& w, Clock::time_point now) {
  std::lock_guard lk(w.mu);
  auto next = Clock::time_point::max();
  if (w.done) return next;
  if (w.timeout.count() > 0 && w.stop == StopReason::none) {
    auto due = w.started + w.timeout;
    if (now >= due) {
      spdlog::warn("event=process_timed_out name={} pid={} timeout_ms={}", w.name, w.pid, w.timeout.count());
      w.request_stop(StopReason::timeout, w.kill_grace, now);
    } else {
      next = due;
    }
  }
  if (w.term_at && !w.term_sent) {
    if (now >= *w.term_at) {
      w.signal(SIGTERM);
      w.term_sent = true;
    } else {
      next = std::min(next, *w.term_at);
    }
  }
  if (w.kill_at && !w.kill_sent) {
    if (now >= *w.kill_at) {
      w.signal(SIGKILL);
      if (w.slot) (void)w.slot->kill_all(SIGKILL);  // helpers too
      w.kill_sent = true;
    } else {
      next = std::min(next, *w.kill_at);
    }
  }
  if (w.slot && w.slot->needs_sampling()) {
    w.slot->sample();
    next = std::min(next, now + params.peak_poll);
  }
  return next;
}

bool SupervisorCore::try_reap(WorkerState& w, Clock::time_point woke) {
  int status = 0;
  struct rusage ru = {};
  pid_t r;
  do {
    r = ::wait4(w.pid, &status, WNOHANG, &ru);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  finish(w, status, ru, woke, r < 0);
  return true;
}

void SupervisorCore::finish(WorkerState& w, int status, const struct rusage& ru,
                            Clock::time_point woke, bool status_lost) {
  std::unique_ptr<CgroupSlot> slot;
  ExitFacts facts;
  {
    std::lock_guard lk(w.mu);
    slot = std::move(w.slot);
    facts.stop = w.stop;
    w.done = true;
  }
  live_count.fetch_sub(1);
  facts.wait_status = status;
  WorkerExit e;
  e.max_rss_bytes = static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;  // ru_maxrss is in KiB
  std::uint64_t limit = slot ? slot->limit_bytes() : 0;
  if (slot && slot->mode() != CgroupMode::none) {
    // The kernel counts the kill before it sends SIGKILL (mm/oom_kill.c, "task reaper must
    // see this"), so the counter is final by the time the pidfd reports the exit.
    if (auto k = slot->oom_kills(); k && w.oom_before)
      facts.slot_oom_kills = *k >= *w.oom_before ? *k - *w.oom_before : 0;
    if (auto p = slot->peak_bytes()) e.peak_bytes = *p;
  } else if (w.host_oom_before) {
    auto now_kills = host_oom_kills(cgroups.proc());
    if (now_kills && *now_kills > *w.host_oom_before)
      facts.host_oom_kills = *now_kills - *w.host_oom_before;
  }
  if (!e.peak_bytes) e.peak_bytes = e.max_rss_bytes;
  Verdict v = classify_exit(facts);
  if (status_lost) {
    v = Verdict{ExitKind::crashed, 0, 0,
                "exit status lost: reaped elsewhere (SIGCHLD ignored, or waitpid(-1))"};
  }
  e.kind = v.kind;
  e.exit_code = v.exit_code;
  e.signal = v.signal;
  e.oom_kills = facts.slot_oom_kills.value_or(0);
  e.wall = woke - w.started;
  e.noticed = woke;
  e.detail = v.detail + "; peak " + format_mib(*e.peak_bytes) +
             (limit ? " of " + format_mib(limit) + " limit" : std::string());
  slot.reset();  // kills what is left in the cgroup and removes it

  bool normal = e.kind == ExitKind::exited && e.exit_code == 0;
  spdlog::log(normal ? spdlog::level::info : spdlog::level::warn,
              "event=process_end name={} pid={} kind={} wall_ms={} detail=\"{}\"", w.name, w.pid,
              to_string(e.kind), std::chrono::duration_cast<std::chrono::milliseconds>(e.wall).count(),
              e.detail);
  if (w.on_exit) {
    try {
      w.on_exit(e);
    } catch (const std::exception& ex) {
      spdlog::error("event=on_exit_threw name={} error=\"{}\"", w.name, log_escape(ex.what()));
    } catch (...) {
      spdlog::error("event=on_exit_threw name={}", w.name);
    }
  }
  w.promise.set_value(std::move(e));
}

// Spawns what was asked since the last turn; true once the supervisor is stopping.
bool SupervisorCore::serve_requests() {
  std::vector<std::shared_ptr<Request>> reqs;
  bool stop;
  {
    std::lock_guard lk(mu);
    reqs.swap(pending);
    stop = stopping;
  }
  // Nothing is pushed once stopping is set, so these are the last requests.
  for (auto& r : reqs)
    r->result.set_value(stop ? Result<WorkerHandle>(fail("supervisor is stopping", ECANCELED))
                             : do_spawn(std::move(r->spec)));
  return stop;
}

void SupervisorCore::run() {
  std::vector<pollfd> fds;
  std::vector<WorkerState*> polled;
  for (;;) {
    const bool stop = serve_requests();
    std::move(born.begin(), born.end(), std::back_inserter(live));
    born.clear();
    auto now = Clock::now();
    if (stop) {  // idempotent: the first request's deadlines stand
      for (auto& w : live) {
        std::lock_guard lk(w->mu);
        w->request_stop(StopReason::cancel, params.stop_grace, now);
      }
    }
    if (stop && live.empty() && born.empty()) return;

    auto next = Clock::time_point::max();
    fds.assign(1, pollfd{waker->efd.get(), POLLIN, 0});
    polled.clear();
    for (auto& w : live) {
      next = std::min(next, drive(*w, now));
      if (w->pidfd) {
        fds.push_back(pollfd{w->pidfd.get(), POLLIN, 0});
        polled.push_back(w.get());
      } else {
        next = std::min(next, now + kNoPidfdPoll);
      }
    }
    int timeout_ms = -1;
    if (next != Clock::time_point::max()) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 60'000));
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    auto woke = Clock::now();
    if (n < 0 && errno != EINTR) {
      spdlog::error("event=supervisor_poll_failed error=\"{}\"", std::strerror(errno));
      std::this_thread::sleep_for(kNoPidfdPoll);
    }
    if (n > 0 && fds[0].revents) waker->drain();
    std::vector<WorkerState*> ended;
    for (std::size_t i = 1; n > 0 && i < fds.size(); ++i)
      if (fds[i].revents && try_reap(*polled[i - 1], woke)) ended.push_back(polled[i - 1]);
    for (auto& w : live)
      if (!w->pidfd && try_reap(*w, woke)) ended.push_back(w.get());
    if (!ended.empty())
      std::erase_if(live, [&](const auto& w) {
        return std::find(ended.begin(), ended.end(), w.get()) != ended.end();
      });
  }
}

}  // namespace detail

// --- WorkerHandle ---

WorkerHandle::WorkerHandle(WorkerHandle&&) noexcept = default;
WorkerHandle& WorkerHandle::operator=(WorkerHandle&&) noexcept = default;
WorkerHandle::~WorkerHandle() = default;

pid_t WorkerHandle::pid() const noexcept {
  return state_ ? state_->pid : -1;
}

const std::string& WorkerHandle::name() const noexcept {
  static const std::string empty;
  return state_ ? state_->name : empty;
}

const std::string& WorkerHandle::cgroup_dir() const noexcept {
  static const std::string empty;
  return state_ ? state_->cgroup_dir : empty;
}

void WorkerHandle::terminate(std::chrono::milliseconds grace) {
  if (!state_) return;
  {
    std::lock_guard lk(state_->mu);
    state_->request_stop(StopReason::cancel, grace, Clock::now());
  }
  state_->waker->wake();
}

bool WorkerHandle::running() const {
  if (!state_) return false;
  std::lock_guard lk(state_->mu);
  return !state_->done;
}

WorkerExit WorkerHandle::wait() const {
  if (!state_) {
    WorkerExit e;
    e.kind = ExitKind::cancelled;
    e.detail = "empty worker handle";
    return e;
  }
  return state_->future.get();
}

std::optional<WorkerExit> WorkerHandle::wait_for(std::chrono::milliseconds timeout) const {
  if (!state_) return wait();
  if (state_->future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return state_->future.get();
}

std::shared_future<WorkerExit> WorkerHandle::future() const {
  return state_->future;
}

Result<std::uint64_t> WorkerHandle::memory_bytes() const {
  if (!state_) return fail("empty worker handle", EINVAL);
  std::lock_guard lk(state_->mu);
  if (state_->done || !state_->slot) return fail("worker has ended", ESRCH);
  return state_->slot->current_bytes();
}

Result<void> WorkerHandle::resize(std::uint64_t limit_bytes) {
  if (!state_) return fail("empty worker handle", EINVAL);
  std::lock_guard lk(state_->mu);
  if (state_->done || !state_->slot) return fail("worker has ended", ESRCH);
  return state_->slot->resize(limit_bytes);
}

// --- WorkerSupervisor ---

WorkerSupervisor::WorkerSupervisor(std::shared_ptr<detail::SupervisorCore> core)
    : core_(std::move(core)) {}

Result<std::unique_ptr<WorkerSupervisor>> WorkerSupervisor::create(SupervisorParams params) {
  auto cg = CgroupManager::open(params.cgroups);
  if (!cg) return std::unexpected(std::move(cg.error()).with_context("worker supervisor"));
  spdlog::info("event=worker_cgroups mode=\"{}\"", cg->description());
  cg->remove_orphans();  // of a service killed before it could remove its workers' slots
  auto waker = std::make_shared<detail::Waker>();
  waker->efd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!waker->efd) return sys_fail("eventfd");
  auto core = std::make_shared<detail::SupervisorCore>(std::move(params), std::move(*cg));
  core->waker = std::move(waker);
  core->thread = std::thread([c = core.get()] { c->run(); });
  core->thread_id = core->thread.get_id();
  return std::unique_ptr<WorkerSupervisor>(new WorkerSupervisor(std::move(core)));
}

WorkerSupervisor::~WorkerSupervisor() {
  {
    std::lock_guard lk(core_->mu);
    core_->stopping = true;
  }
  core_->waker->wake();
  if (core_->thread.joinable()) core_->thread.join();
}

Result<WorkerHandle> WorkerSupervisor::spawn(WorkerSpec spec) {
  // From on_exit: already on the supervisor thread, which would otherwise wait on itself.
  if (std::this_thread::get_id() == core_->thread_id) {
    {
      std::lock_guard lk(core_->mu);
      if (core_->stopping) return fail("supervisor is stopping", ECANCELED);
    }
    return core_->do_spawn(std::move(spec));
  }
  auto req = std::make_shared<detail::SupervisorCore::Request>();
  req->spec = std::move(spec);
  auto result = req->result.get_future();
  {
    std::lock_guard lk(core_->mu);
    if (core_->stopping) return fail("supervisor is stopping", ECANCELED);
    core_->pending.push_back(std::move(req));
  }
  core_->waker->wake();
  return result.get();
}

const CgroupManager& WorkerSupervisor::cgroups() const noexcept {
  return core_->cgroups;
}

std::size_t WorkerSupervisor::running() const {
  return core_->live_count.load();
}

Result<void> protect_self(int adj, const std::string& proc) {
  auto r = write_file(proc + "/self/oom_score_adj", std::to_string(adj));
  if (!r) {
    // Needs root or CAP_SYS_RESOURCE; workers are still the kernel's first choice at 1000.
    spdlog::warn("event=oom_score_adj_failed adj={} error=\"{}\"", adj, log_escape(r.error().message));
    return r;
  }
  spdlog::info("event=oom_score_adj adj={}", adj);
  return {};
}

}  // namespace soroka::worker
