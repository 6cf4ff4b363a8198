// `soroka serve` under a fake systemd: READY=1, STATUS= with memory, WATCHDOG=1, STOPPING=1 on
// SIGTERM.
#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "serve_instance.h"
#include "support/notify_socket.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;

TEST(ServeNotify, ReadyStatusWatchdogStopping) {
  NotifySocket sock;
  ASSERT_TRUE(sock.ok());
  // WatchdogSec=1s: a ping every 500 ms while healthy.
  ServeInstance serve({"NOTIFY_SOCKET=" + sock.path(), "WATCHDOG_USEC=1000000"});
  const pid_t pid = serve.pid();

  std::vector<NotifyMessage> seen;
  auto collect_until = [&](auto done, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (auto m = sock.receive(100ms)) {
        seen.push_back(*m);
        if (done()) return true;
      }
    }
    return false;
  };
  auto has = [&](const std::string& what) {
    for (const auto& m : seen)
      if (m.text.find(what) != std::string::npos) return true;
    return false;
  };
  auto pings = [&] {
    int n = 0;
    for (const auto& m : seen) n += m.text == "WATCHDOG=1";
    return n;
  };
  // Healthy is reported once ServeInstance saw /healthz; the watchdog ticks every 500 ms and
  // STATUS= every 5 s.
  ASSERT_TRUE(
      collect_until([&] { return has("READY=1") && pings() >= 3 && has("STATUS=memory"); }, 15s))
      << "messages seen: " << seen.size();
  EXPECT_EQ(seen.front().text.rfind("READY=1", 0), 0u)
      << "READY=1 comes first: " << seen.front().text;
  for (const auto& m : seen)
    if (m.text.find("STATUS=memory") != std::string::npos) {
      // "memory normal 412/2048 MiB (20%), queue 0, workers 0 running 0 idle"
      EXPECT_NE(m.text.find(" MiB ("), std::string::npos) << m.text;
      EXPECT_NE(m.text.find("queue 0"), std::string::npos) << m.text;
    }

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(collect_until([&] { return has("STOPPING=1"); }, 10s));
  EXPECT_EQ(serve.stop(SIGTERM, 20s), 0);
  // Every message from the main process (what NotifyAccess=main accepts).
  for (const auto& m : seen) EXPECT_EQ(m.pid, pid) << m.text;
}

}  // namespace
}  // namespace soroka::test
