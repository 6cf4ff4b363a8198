// Unit tests of SettingsStore (snapshots swapped under readers), the restart-only keys of a
// reload, and the environment variables read through load_settings.
#include "config/settings_store.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

namespace soroka {
namespace {

using Env = std::map<std::string, std::string>;

// An empty config file, so that no soroka.toml of the machine running the tests is read.
struct EmptyConfig {
  std::string path = (std::filesystem::temp_directory_path() / "soroka-empty-XXXXXX.toml").string();
  EmptyConfig() {
    int fd = ::mkstemps(path.data(), 5);
    if (fd >= 0) ::close(fd);
  }
  ~EmptyConfig() { ::unlink(path.c_str()); }
};
std::string empty_config() {
  static EmptyConfig c;
  return c.path;
}

Settings numbered(std::uint64_t n) {
  Settings s;
  s.service.max_queue = n;
  s.service.key_max_jobs = n;  // a reader checks that both come from one snapshot
  s.log_level = n % 2 ? "debug" : "info";
  return s;
}

TEST(SettingsStore, AHeldSnapshotStaysAsItWasAndTheNextReadSeesTheSwap) {
  SettingsStore store(numbered(1));
  auto old = store.current();
  store.replace(numbered(2));
  EXPECT_EQ(old->service.max_queue, 1u);  // still valid, still the old values
  EXPECT_EQ(old->log_level, "debug");
  auto now = store.current();
  EXPECT_EQ(now->service.max_queue, 2u);
  EXPECT_NE(now.get(), old.get());
  std::weak_ptr<const Settings> gone = old;
  old.reset();
  EXPECT_TRUE(gone.expired());  // the last reader let go: freed
}

TEST(SettingsStore, ReadersNeverSeeAMixOfTwoReloads) {
  SettingsStore store(numbered(0));
  constexpr std::uint64_t kReloads = 2000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> reads{0}, torn{0}, went_back{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      std::uint64_t last = 0;
      while (!done) {
        auto s = store.current();
        const std::uint64_t q = s->service.max_queue;
        std::this_thread::yield();  // a reload happens meanwhile: this snapshot must not move
        if (s->service.key_max_jobs != q || s->service.max_queue != q ||
            s->log_level != (q % 2 ? "debug" : "info"))
          ++torn;
        if (q < last) ++went_back;
        last = q;
        ++reads;
      }
    });
  for (std::uint64_t i = 1; i <= kReloads; ++i) store.replace(numbered(i));
  while (reads < 1000) std::this_thread::yield();
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(went_back, 0u);
  EXPECT_EQ(store.current()->service.max_queue, kReloads);
}

TEST(SettingsStore, RestartOnlyKeysKeepTheirRunningValues) {
  Settings running;
  running.service.listen = "127.0.0.1:8080";
  Settings fresh = running;
  fresh.service.listen = "0.0.0.0:9090";
  fresh.service.worker_sandbox = false;
  fresh.monitor.thresholds.warning_percent = 70;
  fresh.service.max_queue = 7;  // applies now
  fresh.service.key_max_jobs = 3;
  auto changed = keep_restart_only(running, fresh);
  EXPECT_EQ(changed,
            (std::vector<std::string>{"server.listen", "worker.sandbox", "[memory]/[monitor]"}));
  EXPECT_EQ(fresh.service.listen, "127.0.0.1:8080");
  EXPECT_TRUE(fresh.service.worker_sandbox);
  EXPECT_EQ(fresh.monitor.thresholds.warning_percent, running.monitor.thresholds.warning_percent);
  EXPECT_EQ(fresh.service.max_queue, 7u);
  EXPECT_EQ(fresh.service.key_max_jobs, 3u);
  Settings same = running;
  EXPECT_TRUE(keep_restart_only(running, same).empty());
}

TEST(SettingsEnvironment, SystemdDirectoriesComeThroughLoadSettings) {
  auto s = load_settings(empty_config(),
                         Env{{"STATE_DIRECTORY", "/var/lib/soroka"},
                             {"CREDENTIALS_DIRECTORY", "/run/credentials/soroka.service"}});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->service.credentials_dir, "/run/credentials/soroka.service");
  EXPECT_EQ(effective_state_dir(s->service), "/var/lib/soroka");
  s->service.state_dir = "/srv/soroka";  // server.state_dir wins over systemd's
  EXPECT_EQ(effective_state_dir(s->service), "/srv/soroka");
  auto bare = load_settings(empty_config(), Env{});
  ASSERT_TRUE(bare);
  EXPECT_EQ(effective_state_dir(bare->service), "soroka-state");
  EXPECT_TRUE(bare->service.credentials_dir.empty());
}

TEST(SettingsEnvironment, ProbeLimitsAreSettings) {
  auto s = load_settings(empty_config(), Env{{"SOROKA_WORKER_PROBE_MEMORY", "256MiB"},
                                             {"SOROKA_WORKER_PROBE_TIMEOUT_MS", "5000"}});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->service.probe_memory, 256ull << 20);
  EXPECT_EQ(s->service.probe_timeout, std::chrono::milliseconds(5000));
  EXPECT_FALSE(load_settings(empty_config(), Env{{"SOROKA_WORKER_PROBE_MEMORY", "0"}}));
}

}  // namespace
}  // namespace soroka
