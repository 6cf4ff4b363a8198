// systemd notification: the watchdog decision as a table, and the notifier against a fake
// NOTIFY_SOCKET.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "service/systemd_notify.h"
#include "support/notify_socket.h"

namespace soroka::service {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct VerdictCase {
  const char* name;
  std::chrono::milliseconds sample_age;  // now - last sample (negative: a sample "from the future")
  std::vector<std::pair<std::string, bool>> checks;
  bool ping;
  const char* reason_contains;
};

TEST(WatchdogVerdict, Table) {
  const VerdictCase cases[] = {
      {"fresh sample, no checks", 100ms, {}, true, ""},
      {"fresh sample, all checks pass", 100ms, {{"http", true}, {"housekeeping", true}}, true, ""},
      {"sample exactly at the limit", 5000ms, {}, true, ""},
      {"sample just past the limit", 5001ms, {}, false, "memory monitor"},
      {"monitor stuck for a minute", 60s, {{"http", true}}, false, "memory monitor"},
      {"one check fails", 100ms, {{"http", true}, {"housekeeping", false}}, false, "housekeeping"},
      {"first failing check named",
       100ms,
       {{"http", false}, {"housekeeping", false}},
       false,
       "http"},
      {"stale sample wins over failing check", 10s, {{"http", false}}, false, "memory monitor"},
      {"sample from the future", -200ms, {}, true, ""},
  };
  const auto now = Clock::now();
  for (const auto& c : cases) {
    WatchdogInputs in;
    in.now = now;
    in.last_sample = now - c.sample_age;
    in.max_sample_age = 5000ms;
    in.checks = c.checks;
    auto v = watchdog_verdict(in);
    EXPECT_EQ(v.ping, c.ping) << c.name;
    EXPECT_NE(v.reason.find(c.reason_contains), std::string::npos) << c.name << ": " << v.reason;
    if (v.ping) EXPECT_TRUE(v.reason.empty()) << c.name;
  }
}

// Sets variables for the test's duration (the notifier reads them at construction).
class ScopedEnv {
 public:
  ScopedEnv(const char* k, const std::string& v) : k_(k) { ::setenv(k, v.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(k_); }

 private:
  const char* k_;
};

TEST(SystemdNotifier, OutsideSystemdDoesNothing) {
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  SystemdNotifier n({.last_sample = [] { return Clock::now(); }});
  EXPECT_FALSE(n.under_systemd());
  EXPECT_EQ(n.ping_interval().count(), 0);
  n.ready();
  n.stopping();
  EXPECT_EQ(n.pings(), 0u);
}

// Pings while healthy, none while a check fails or the monitor is stale, again once healthy.
TEST(SystemdNotifier, PingsOnlyWhileHealthy) {
  test::NotifySocket sock;
  ASSERT_TRUE(sock.ok());
  ScopedEnv s("NOTIFY_SOCKET", sock.path());
  ScopedEnv w("WATCHDOG_USEC", "100000");  // ping every 50 ms
  std::atomic<bool> healthy{true};
  std::atomic<bool> monitor_fresh{true};
  SystemdNotifier n(
      {.status_interval = 100ms,
       .max_sample_age = 1s,
       .last_sample = [&] { return monitor_fresh ? Clock::now() : Clock::now() - 10s; },
       .status = [] { return std::string("memory normal 1/2 MiB"); }});
  ASSERT_TRUE(n.under_systemd());
  EXPECT_EQ(n.ping_interval(), 50ms);
  n.add_liveness_check("loop", [&] { return healthy.load(); });
  n.ready();

  auto first = sock.receive(2s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->text.rfind("READY=1\nSTATUS=memory normal", 0), 0u) << first->text;
  // Counts WATCHDOG=1 messages and STATUS lines over `d`.
  auto count = [&](std::chrono::milliseconds d) {
    int pings = 0, status = 0;
    auto end = Clock::now() + d;
    while (Clock::now() < end)
      if (auto m = sock.receive(20ms)) {
        pings += m->text == "WATCHDOG=1";
        status += m->text.rfind("STATUS=", 0) == 0;
      }
    return std::pair(pings, status);
  };
  auto [healthy_pings, statuses] = count(500ms);
  EXPECT_GE(healthy_pings, 5);  // 10 expected at 50 ms
  EXPECT_GE(statuses, 2);

  healthy = false;
  count(100ms);  // a tick already under way may still ping
  auto [sick_pings, sick_status] = count(400ms);
  EXPECT_EQ(sick_pings, 0);
  EXPECT_GE(sick_status, 1);  // STATUS goes on: systemctl status still says how it is
  EXPECT_GT(n.skipped(), 0u);

  healthy = true;
  monitor_fresh = false;
  count(100ms);
  EXPECT_EQ(count(300ms).first, 0) << "a stale monitor sample must withhold the ping";

  monitor_fresh = true;
  EXPECT_GE(count(400ms).first, 3);

  n.stopping();
  bool stopping = false;
  while (auto m = sock.receive(200ms))
    if (m->text.rfind("STOPPING=1", 0) == 0) stopping = true;
  EXPECT_TRUE(stopping);
}

}  // namespace
}  // namespace soroka::service
