// systemd_notify: tells systemd (sd_notify) that the service is ready, how it is doing, and that it
// is alive.
//
// Under `Type=notify` systemd counts the start as done at READY=1 (sent once the HTTP port
// listens), shows STATUS= in `systemctl status` (memory level and use, queue, workers; every
// few seconds), and with `WatchdogSec=` restarts a service that stops sending WATCHDOG=1.
// Pinging from a timer alone would prove only that the timer thread lives, so a ping is sent
// only while the service is healthy (watchdog_verdict): the memory monitor's latest sample is
// recent, and every registered liveness check passes (the housekeeping loop registers one;
// the HTTP event loop can register its own). STOPPING=1 goes out when SIGTERM starts the drain.
// Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace soroka::service {

// What the watchdog decision looks at.
struct WatchdogInputs {
  std::chrono::steady_clock::time_point now;
  std::chrono::steady_clock::time_point last_sample;  // the memory monitor's latest sample
  std::chrono::milliseconds max_sample_age{5000};
  // Each registered check's name and result, in registration order.
  std::vector<std::pair<std::string, bool>> checks;
};

struct WatchdogVerdict {
  bool ping = false;
  std::string reason;  // why not, for the log ("monitor: last sample 7.2 s ago")
};

// Pure: ping when the latest sample is no older than max_sample_age (a sample from the
// future, a clock oddity, counts as fresh) and every check passed.
WatchdogVerdict watchdog_verdict(const WatchdogInputs& in);

struct NotifierParams {
  // STATUS= is refreshed this often (and on every watchdog tick that changes it).
  std::chrono::milliseconds status_interval{std::chrono::seconds(5)};
  // The monitor samples at least every poll_interval (500 ms by default): ten missed samples
  // mean its thread is stuck, not slow.
  std::chrono::milliseconds max_sample_age{std::chrono::seconds(5)};
  std::function<std::chrono::steady_clock::time_point()> last_sample;  // required
  std::function<std::string()> status;                                 // STATUS= text; may be empty
};

// Thread-safe. Owns one thread (from ready() until stopping() or destruction).
class SystemdNotifier {
 public:
  explicit SystemdNotifier(NotifierParams params);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // A check runs on the notifier's thread before every ping; it must return at once (a check
  // that blocks delays the ping, which then lets systemd act: that is the point).
  void add_liveness_check(std::string name, std::function<bool()> check);

  // READY=1 with the first STATUS=, then starts the status/watchdog thread.
  void ready();
  // STOPPING=1; no status or pings after it (the drain has TimeoutStopSec, not the watchdog).
  void stopping();

  bool under_systemd() const noexcept { return !socket_.empty(); }
  // Half of WatchdogSec= (sd_watchdog_enabled), zero when the watchdog is off.
  std::chrono::microseconds ping_interval() const noexcept { return ping_interval_; }
  std::uint64_t pings() const;    // WATCHDOG=1 sent so far
  std::uint64_t skipped() const;  // ticks where the service was unhealthy and no ping went out

 private:
  void loop();
  void send(const std::string& msg);

  NotifierParams params_;
  std::string socket_;  // $NOTIFY_SOCKET at construction
  std::chrono::microseconds ping_interval_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::function<bool()>>> checks_;
  bool stop_ = false;
  std::uint64_t pings_ = 0, skipped_ = 0;
  std::string last_reason_;
  std::thread thread_;
};

}  // namespace soroka::service
