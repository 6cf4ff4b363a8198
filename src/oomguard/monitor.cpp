// Monitor: a background thread that watches memory, event-driven where the kernel allows,
// and calls listeners and cleanup handlers when the level changes.
#include "oomguard/monitor.h"

#include <malloc.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <variant>

#include <fmt/format.h>

#include "oomguard/event_sources.h"
#include "util/fd.h"
#include "util/log.h"
#include "util/text.h"
#include "util/units.h"

namespace soroka::oomguard {

namespace {

std::int64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

enum Tag : std::uint32_t { kStop, kPoke, kV1, kV2, kPsi };

struct CleanupRequest {};
using Work = std::variant<LevelChange, CleanupRequest>;

// While cleanup has not brought memory back under critical, try again this often.
constexpr std::int64_t kCleanupRetryNs = 2'000'000'000;
// A lagging callback thread keeps only this many pending level changes (the newest).
constexpr std::size_t kMaxQueuedChanges = 64;

}  // namespace

struct Monitor::Impl {
  Monitor* self = nullptr;
  MonitorParams params;
  Sampler sampler;
  std::optional<Sampler> check;  // the callback thread's own, to re-read before acting
  LevelTracker tracker;
  Fd epfd, stop_fd, poke_fd;
  std::optional<V1ThresholdSource> v1;
  std::optional<V2EventsSource> v2;
  std::optional<PsiTriggerSource> psi;

  mutable std::mutex state_mu;
  Snapshot latest;
  std::vector<EventSourceStatus> sources;

  std::mutex cb_mu;
  // Held by the callback thread while it runs a work item's callbacks, so that remove() can
  // wait for a callback it just removed to return.
  std::mutex dispatch_mu;
  std::thread::id callback_thread_id;
  std::vector<std::pair<Id, std::function<void(const LevelChange&)>>> listeners;
  std::vector<std::pair<Id, CleanupHandler>> cleanups;
  Id next_id = 1;

  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<Work> queue;
  bool stopping = false;
  std::atomic<bool> cleanup_in_flight{false};
  std::int64_t last_cleanup_ns = 0;
  std::atomic<std::int64_t> callback_started_ns{0};

  std::thread sampling_thread, callback_thread;

  Impl(Sampler s, MonitorParams p) : params(p), sampler(std::move(s)), tracker(p.thresholds) {}

  void set_status(std::string name, bool active, std::string detail) {
    std::lock_guard lk(state_mu);
    for (auto& s : sources)
      if (s.name == name) {
        s.active = active;
        s.detail = std::move(detail);
        return;
      }
    sources.push_back({std::move(name), active, std::move(detail)});
  }

  // False when the fd cannot be polled (e.g. EPERM: a regular file, not a kernel file).
  bool epoll_add(int fd, Tag tag, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = tag;
    return ::epoll_ctl(epfd.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  std::vector<double> v1_percents() const {
    const Thresholds& t = tracker.thresholds();
    return {t.warning_percent - t.hysteresis_percent, t.warning_percent,
            t.critical_percent - t.hysteresis_percent, t.critical_percent};
  }

  void arm_sources() {
    const TargetInfo& info = sampler.info();
    if (info.source == Source::cgroup_v1 && params.use_v1_thresholds) {
      if (v1) ::epoll_ctl(epfd.get(), EPOLL_CTL_DEL, v1->fd(), nullptr);
      v1.reset();
      auto s = V1ThresholdSource::arm(info.chain, v1_percents(),
                                      tracker.thresholds().min_available_bytes);
      if (s && epoll_add(s->fd(), kV1, EPOLLIN)) {
        v1 = std::move(*s);
        set_status("cgroup-v1-threshold", true,
                   fmt::format("{} eventfd registrations", v1->registrations()));
      } else {
        set_status("cgroup-v1-threshold", false,
                   s ? "eventfd not pollable" : s.error().message);
      }
    }
    if (info.source == Source::cgroup_v2 && params.use_v2_events && !v2) {
      auto s = V2EventsSource::watch(info.chain);
      if (s && epoll_add(s->fd(), kV2, EPOLLIN)) {
        v2 = std::move(*s);
        set_status("cgroup-v2-events", true, "inotify on memory.events");
      } else {
        set_status("cgroup-v2-events", false, s ? "inotify fd not pollable" : s.error().message);
      }
    }
    if (params.use_psi_trigger && !psi) {
      std::string file = info.source == Source::cgroup_v2
                             ? info.cgroup_dir + "/memory.pressure"
                             : sampler.roots().proc + "/pressure/memory";
      auto s = PsiTriggerSource::arm(file, static_cast<std::uint64_t>(params.psi_stall.count()),
                                     static_cast<std::uint64_t>(params.psi_window.count()));
      if (s && epoll_add(s->fd(), kPsi, EPOLLPRI)) {
        psi = std::move(*s);
        set_status("psi-trigger", true, file);
      } else {
        set_status("psi-trigger", false,
                   (s ? file + " is not pollable" : s.error().message) + "; polling covers");
      }
    }
    set_status("poll", true,
               fmt::format("every {} ms, {} ms at warning or above", params.poll_interval.count(),
                           params.fast_poll_interval.count()));
  }

  // Usage share (of the binding limit) above which the sampler must read exactly and the
  // loop samples at the fast interval.
  double grey_percent(const Snapshot& s) const {
    EffectiveThresholds t = effective_thresholds(tracker.thresholds(), s);
    double g = t.warning_percent - t.hysteresis_percent - 1.0;
    if (s.limit_bytes > 0) {
      double lim = static_cast<double>(s.limit_bytes);
      double crit_avail = 100.0 * (lim - static_cast<double>(t.min_available_bytes)) / lim -
                          t.hysteresis_percent - 1.0;
      g = std::min(g, crit_avail);
    }
    return std::max(g, 0.0);
  }

  // The upper bound of use: raw usage (cache included) for a cgroup, exact for the host.
  static double upper_used_percent(const Snapshot& s) {
    if (s.bound_by_cgroup && s.cgroup && s.limit_bytes)
      return 100.0 * static_cast<double>(s.cgroup->usage_bytes) /
             static_cast<double>(s.limit_bytes);
    return s.used_percent;
  }

  void enqueue(Work w) {
    {
      std::lock_guard lk(q_mu);
      if (std::holds_alternative<LevelChange>(w)) {
        std::size_t changes = 0;
        for (auto& q : queue) changes += std::holds_alternative<LevelChange>(q);
        if (changes >= kMaxQueuedChanges) {
          auto it = std::find_if(queue.begin(), queue.end(), [](const Work& q) {
            return std::holds_alternative<LevelChange>(q);
          });
          if (it != queue.end()) queue.erase(it);
        }
      }
      queue.push_back(std::move(w));
    }
    q_cv.notify_one();
  }

  // The guard must run when the box is busy: on a 2-core VM at load 8, CFS delays a
  // nice-0 thread's wake-up by ~7 ms (median reaction 7.6 ms vs 0.5 ms idle). Best effort:
  // lowering nice needs CAP_SYS_NICE; without it the thread keeps the default.
  void raise_priority(const char* which) {
    if (params.thread_nice >= 0) return;
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), params.thread_nice) != 0)
      spdlog::debug("event=thread_nice_kept thread={} errno={}", which, errno);
  }

  void sampling_loop() {
    std::int64_t last_sample = 0, last_rescan = now_ns();
    bool fast = false;
    int consecutive_errors = 0;
    double grey = 0;
    for (;;) {
      const auto interval = fast ? params.fast_poll_interval : params.poll_interval;
      std::int64_t due = last_sample + interval.count() * 1'000'000LL;
      std::int64_t wait_ns = std::max<std::int64_t>(0, due - now_ns());
      epoll_event evs[8];
      int n = ::epoll_wait(epfd.get(), evs, 8, static_cast<int>((wait_ns + 999'999) / 1'000'000));
      bool by_event = false;
      for (int i = 0; i < n; ++i) {
        switch (evs[i].data.u32) {
          case kStop: return;
          case kPoke: {
            std::uint64_t v;
            (void)!::read(poke_fd.get(), &v, sizeof v);
            break;
          }
          case kV1: v1->drain(), by_event = true; break;
          case kV2: v2->drain(), by_event = true; break;
          case kPsi: by_event = true; break;
        }
      }
      if (n == 0 && now_ns() < due) continue;  // woke early (rounding); wait the rest
      std::int64_t t = now_ns();
      if (t - last_rescan >= params.rescan_interval.count() * 1'000'000LL) {
        last_rescan = t;
        std::uint64_t before = v1 ? v1->armed_limit() : 0;
        if (sampler.rescan() && v1 && sampler.info().source == Source::cgroup_v1) {
          // Re-arm when a limit changed (systemctl set-property, echo > limit_in_bytes).
          std::uint64_t sum = 0;
          for (const auto& dir : sampler.info().chain) {
            auto txt = read_file(dir + "/memory.limit_in_bytes");
            if (!txt) continue;
            if (auto l = parse_v1_limit(*txt); l && *l) sum += **l;
          }
          if (sum != before) arm_sources();
        }
      }
      auto snap = sampler.sample_fast(grey);
      last_sample = now_ns();
      if (!snap) {
        // Logged on the first failure and then every 100th, so a broken file cannot flood.
        if (consecutive_errors++ % 100 == 0)
          spdlog::error("event=sample_failed error=\"{}\"", log_escape(snap.error().message));
        continue;
      }
      consecutive_errors = 0;
      self->samples_.fetch_add(1, std::memory_order_relaxed);
      if (by_event) self->event_wakeups_.fetch_add(1, std::memory_order_relaxed);
      Level before = tracker.level();
      Level after = tracker.update(*snap);
      grey = grey_percent(*snap);
      fast = after >= Level::warning || upper_used_percent(*snap) >= grey;
      {
        std::lock_guard lk(state_mu);
        latest = *snap;
      }
      self->level_.store(after, std::memory_order_release);
      if (after != before) enqueue(LevelChange{before, after, *snap});
      if (after == Level::critical && !cleanup_in_flight.load() &&
          (after != before || last_sample - last_cleanup_ns >= kCleanupRetryNs)) {
        cleanup_in_flight = true;
        last_cleanup_ns = last_sample;
        enqueue(CleanupRequest{});
      }
      watch_callback_duration();
    }
  }

  void watch_callback_duration() {
    std::int64_t started = callback_started_ns.load();
    if (started == 0) return;
    std::int64_t ms = (now_ns() - started) / 1'000'000;
    if (ms >= params.slow_callback.count()) {
      // Once per slow callback: reset the start so it is not logged again.
      if (callback_started_ns.compare_exchange_strong(started, -1))
        spdlog::warn("event=slow_callback running_ms={}", ms);  // sampling goes on
    }
  }

  bool still_critical() {
    if (!check) return true;
    auto s = check->sample();
    if (!s) return true;
    EffectiveThresholds t = effective_thresholds(tracker.thresholds(), *s);
    return classify(t, *s) == Level::critical;
  }

  void run_cleanup() {
    std::vector<CleanupHandler> hs;
    {
      std::lock_guard lk(cb_mu);
      for (auto& [id, h] : cleanups) hs.push_back(h);
    }
    std::stable_sort(hs.begin(), hs.end(),
                     [](const auto& a, const auto& b) { return a.priority < b.priority; });
    std::uint64_t total = 0;
    std::size_t ran = 0;
    for (auto& h : hs) {
      if (!still_critical()) break;  // re-read the state just before acting
      std::uint64_t freed = 0;
      callback_started_ns = now_ns();
      try {
        freed = h.run ? h.run() : 0;
      } catch (const std::exception& e) {
        spdlog::error("event=cleanup_threw name={} error=\"{}\"", h.name, log_escape(e.what()));
      } catch (...) {
        spdlog::error("event=cleanup_threw name={}", h.name);
      }
      callback_started_ns = 0;
      ++ran;
      total += freed;
      spdlog::info("event=cleanup name={} freed_mib={}", h.name, to_mib(freed));
    }
    if (params.trim_heap) ::malloc_trim(0);
    if (ran) spdlog::info("event=cleanup_done handlers={} freed_mib={}", ran, to_mib(total));
    cleanup_in_flight = false;
    self->poke();
  }

  void callback_loop() {
    {
      std::lock_guard lk(cb_mu);
      callback_thread_id = std::this_thread::get_id();
    }
    for (;;) {
      Work w;
      {
        std::unique_lock lk(q_mu);
        q_cv.wait(lk, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping and drained
        w = std::move(queue.front());
        queue.pop_front();
      }
      std::lock_guard dispatching(dispatch_mu);
      if (auto* change = std::get_if<LevelChange>(&w)) {
        spdlog::log(change->to > change->from ? spdlog::level::warn : spdlog::level::info,
                    "event=memory_level from={} to={} used_mib={} limit_mib={} used_percent={:.1f} "
                    "available_mib={}",
                    to_string(change->from), to_string(change->to),
                    to_mib(change->snapshot.used_bytes), to_mib(change->snapshot.limit_bytes),
                    change->snapshot.used_percent, to_mib(change->snapshot.available_bytes));
        std::vector<std::function<void(const LevelChange&)>> ls;
        {
          std::lock_guard lk(cb_mu);
          for (auto& [id, fn] : listeners) ls.push_back(fn);
        }
        for (auto& fn : ls) {
          callback_started_ns = now_ns();
          try {
            fn(*change);
          } catch (const std::exception& e) {
            spdlog::error("event=listener_threw error=\"{}\"", log_escape(e.what()));
          } catch (...) {
            spdlog::error("event=listener_threw");
          }
          callback_started_ns = 0;
        }
      } else {
        run_cleanup();
      }
    }
  }
};

Result<std::unique_ptr<Monitor>> Monitor::start(Sampler sampler, MonitorParams params) {
  if (auto v = params.thresholds.validate(); !v) return std::unexpected(v.error());
  if (params.poll_interval.count() <= 0 || params.fast_poll_interval.count() <= 0)
    return fail("monitor poll intervals must be positive", EINVAL);
  std::unique_ptr<Monitor> m(new Monitor());
  m->impl_ = std::make_unique<Impl>(std::move(sampler), params);
  Impl& im = *m->impl_;
  im.self = m.get();
  if (auto c = im.sampler.reopen(); c) im.check = std::move(*c);

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return sys_fail("epoll_create1");
  im.epfd.reset(ep);
  int sfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int pfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (sfd < 0 || pfd < 0) return sys_fail("eventfd");
  im.stop_fd.reset(sfd);
  im.poke_fd.reset(pfd);
  im.epoll_add(sfd, kStop, EPOLLIN);
  im.epoll_add(pfd, kPoke, EPOLLIN);

  // A first sample, so level() and latest() are meaningful before the thread runs.
  auto first = im.sampler.sample();
  if (!first) return std::unexpected(std::move(first.error()).with_context("first sample"));
  im.latest = *first;
  m->level_ = im.tracker.update(*first);
  m->samples_ = 1;
  im.arm_sources();
  if (m->level_ == Level::critical) {
    im.cleanup_in_flight = true;
    im.enqueue(CleanupRequest{});
  }
  im.sampling_thread = std::thread([&im] {
    im.raise_priority("sampling");
    im.sampling_loop();
  });
  im.callback_thread = std::thread([&im] {
    im.raise_priority("callback");
    im.callback_loop();
  });
  return m;
}

Monitor::~Monitor() { stop(); }

void Monitor::stop() {
  if (!impl_) return;
  Impl& im = *impl_;
  if (im.sampling_thread.joinable()) {
    std::uint64_t one = 1;
    (void)!::write(im.stop_fd.get(), &one, sizeof one);
    im.sampling_thread.join();
  }
  {
    std::lock_guard lk(im.q_mu);
    im.stopping = true;
  }
  im.q_cv.notify_all();
  if (im.callback_thread.joinable()) im.callback_thread.join();
}

void Monitor::poke() {
  std::uint64_t one = 1;
  (void)!::write(impl_->poke_fd.get(), &one, sizeof one);
}

Monitor::Id Monitor::add_listener(std::function<void(const LevelChange&)> fn) {
  std::lock_guard lk(impl_->cb_mu);
  Id id = impl_->next_id++;
  impl_->listeners.emplace_back(id, std::move(fn));
  return id;
}

Monitor::Id Monitor::add_cleanup(CleanupHandler h) {
  std::lock_guard lk(impl_->cb_mu);
  Id id = impl_->next_id++;
  impl_->cleanups.emplace_back(id, std::move(h));
  return id;
}

void Monitor::remove(Id id) {
  bool on_callback_thread;
  {
    std::lock_guard lk(impl_->cb_mu);
    std::erase_if(impl_->listeners, [id](const auto& p) { return p.first == id; });
    std::erase_if(impl_->cleanups, [id](const auto& p) { return p.first == id; });
    on_callback_thread = impl_->callback_thread_id == std::this_thread::get_id();
  }
  // A round already running may hold a copy of the callback: wait for it to end, so that what
  // the callback refers to may be destroyed once remove() returns.
  if (!on_callback_thread) std::lock_guard wait_round(impl_->dispatch_mu);
}

Snapshot Monitor::latest() const {
  std::lock_guard lk(impl_->state_mu);
  return impl_->latest;
}

std::vector<EventSourceStatus> Monitor::sources() const {
  std::lock_guard lk(impl_->state_mu);
  return impl_->sources;
}

const TargetInfo& Monitor::target() const { return impl_->sampler.info(); }

}  // namespace soroka::oomguard
