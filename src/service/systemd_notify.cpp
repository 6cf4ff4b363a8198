// systemd_notify: tells systemd (sd_notify) that the service is ready, how it is doing, and that it
// is alive.
#include "service/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "util/log.h"

namespace soroka::service {

using namespace std::chrono;

WatchdogVerdict watchdog_verdict(const WatchdogInputs& in) {
  const auto age = in.now - in.last_sample;
  if (age > in.max_sample_age)
    return {false, fmt::format("memory monitor: last sample {:.1f} s ago (limit {:.1f} s)",
                               duration<double>(age).count(),
                               duration<double>(in.max_sample_age).count())};
  for (const auto& [name, ok] : in.checks)
    if (!ok) return {false, "liveness check failed: " + name};
  return {true, {}};
}

SystemdNotifier::SystemdNotifier(NotifierParams params) : params_(std::move(params)) {
  if (const char* s = std::getenv("NOTIFY_SOCKET"); s && *s) socket_ = s;
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) ping_interval_ = microseconds(usec / 2);
}

SystemdNotifier::~SystemdNotifier() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SystemdNotifier::add_liveness_check(std::string name, std::function<bool()> check) {
  std::lock_guard lk(mu_);
  checks_.emplace_back(std::move(name), std::move(check));
}

void SystemdNotifier::send(const std::string& msg) {
  if (!under_systemd()) return;
  // unset_environment=0: the variables stay for later calls; workers drop them themselves.
  if (int r = sd_notify(0, msg.c_str()); r < 0)
    spdlog::warn("event=sd_notify_failed message=\"{}\" error=\"{}\"",
                 msg.substr(0, msg.find('\n')), std::strerror(-r));
}

void SystemdNotifier::ready() {
  if (!under_systemd()) return;
  std::string msg = "READY=1";
  if (params_.status) msg += "\nSTATUS=" + params_.status();
  send(msg);
  spdlog::info("event=sd_notify ready=1 watchdog_ping_ms={}",
               duration_cast<milliseconds>(ping_interval_).count());
  std::lock_guard lk(mu_);
  if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { loop(); });
}

void SystemdNotifier::stopping() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  send("STOPPING=1\nSTATUS=stopping: draining running jobs");
}

std::uint64_t SystemdNotifier::pings() const {
  std::lock_guard lk(mu_);
  return pings_;
}

std::uint64_t SystemdNotifier::skipped() const {
  std::lock_guard lk(mu_);
  return skipped_;
}

void SystemdNotifier::loop() {
  const auto status_every = duration_cast<microseconds>(params_.status_interval);
  const auto tick =
      ping_interval_.count() > 0 ? std::min(ping_interval_, status_every) : status_every;
  auto last_status = steady_clock::now();
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, tick, [&] { return stop_; })) {
    auto checks = checks_;  // run without the lock: a slow check must not block registration
    lk.unlock();
    const auto now = steady_clock::now();
    if (ping_interval_.count() > 0) {
      WatchdogInputs in;
      in.now = now;
      in.last_sample = params_.last_sample();
      in.max_sample_age = params_.max_sample_age;
      for (const auto& [name, fn] : checks) in.checks.emplace_back(name, fn());
      WatchdogVerdict v = watchdog_verdict(in);
      if (v.ping) send("WATCHDOG=1");
      lk.lock();
      ++(v.ping ? pings_ : skipped_);
      // One line when health changes, not one every tick.
      if (v.reason != last_reason_) {
        if (v.ping)
          spdlog::info("event=watchdog_resumed");
        else
          spdlog::error("event=watchdog_withheld reason=\"{}\"", v.reason);
        last_reason_ = v.reason;
      }
      lk.unlock();
    }
    if (params_.status && now - last_status >= status_every) {
      last_status = now;
      send("STATUS=" + params_.status());
    }
    lk.lock();
  }
}

}  // namespace soroka::service
