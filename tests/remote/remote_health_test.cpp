// RemoteHealth, /healthz's view of the remote engines: every configured engine is listed from
// the first moment (unchecked until asked), a reload's roster shows at once, a check's answer
// is kept only for the URLs it asked.
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "engine/remote/health.h"
#include "support/loopback.h"

namespace soroka::engine::remote {
namespace {

using namespace std::chrono_literals;

// The engines as a reload would change them, read by the health thread and the test alike.
class Roster {
 public:
  void set(std::vector<RemoteEngineSettings> e) {
    std::lock_guard l(mu_);
    engines_ = std::move(e);
  }
  std::vector<RemoteEngineSettings> get() const {
    std::lock_guard l(mu_);
    return engines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RemoteEngineSettings> engines_;
};

RemoteEngineSettings engine(std::string name, std::string url) {
  RemoteEngineSettings e;
  e.name = std::move(name);
  e.urls = {std::move(url)};
  return e;
}

const EngineHealth* find(const std::vector<EngineHealth>& list, const std::string& name) {
  for (const auto& h : list)
    if (h.name == name) return &h;
  return nullptr;
}

// Waits (a liveness bound, not a timing claim) until `name` has been checked.
std::vector<EngineHealth> until_checked(const RemoteHealth& health, const std::string& name) {
  std::vector<EngineHealth> s;
  for (int i = 0; i < 400; ++i) {
    s = health.snapshot();
    if (const auto* h = find(s, name); h && h->checked) break;
    std::this_thread::sleep_for(25ms);
  }
  return s;
}

TEST(RemoteHealth, AConfiguredEngineIsListedAsUncheckedBeforeItsFirstAnswer) {
  Roster roster;
  std::unique_ptr<RemoteHealth> health;
  test::LoopbackListener silent;  // closed before the health thread is joined, should an assertion fail
  ASSERT_TRUE(silent.ok());
  roster.set({engine("slow", silent.url("/v1"))});
  // The first round's probe waits on the silent port for up to a minute: whatever the
  // machine's load, /healthz asked now must already name the engine.
  health = std::make_unique<RemoteHealth>([&] { return roster.get(); }, 15s, 60s);
  auto s = health->snapshot();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "slow");
  EXPECT_FALSE(s[0].checked);
  EXPECT_EQ(s[0].urls, 1u);
  EXPECT_EQ(s[0].reachable, 0u);
  silent.close();  // the probe ends with a reset: not an answer, so unreachable
  s = until_checked(*health, "slow");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].checked);
  EXPECT_EQ(s[0].reachable, 0u);
  EXPECT_FALSE(s[0].last_error.empty());
}

TEST(RemoteHealth, AReloadedRosterShowsAtOnceAndAnAnswerCountsOnlyForTheUrlsItAsked) {
  Roster roster;
  std::unique_ptr<RemoteHealth> health;
  test::LoopbackListener first, second;  // closed before the health thread is joined
  ASSERT_TRUE(first.ok() && second.ok());
  first.close();  // refused at once: checked within the first round
  roster.set({engine("a", first.url("/v1")), engine("b", first.url("/v1"))});
  health = std::make_unique<RemoteHealth>([&] { return roster.get(); }, 15s, 60s);
  auto s = until_checked(*health, "a");
  ASSERT_NE(find(s, "a"), nullptr);
  ASSERT_TRUE(find(s, "a")->checked);

  // A reload drops b, re-points a at a port that does not answer, adds c: the next snapshot
  // says so before any check of the new roster can have ended (the silent port holds it).
  roster.set({engine("a", second.url("/v1")), engine("c", second.url("/v1"))});
  s = health->snapshot();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(find(s, "b"), nullptr) << "a dropped engine is gone at once";
  ASSERT_NE(find(s, "a"), nullptr);
  EXPECT_FALSE(find(s, "a")->checked) << "the old URL's answer says nothing of the new one";
  ASSERT_NE(find(s, "c"), nullptr);
  EXPECT_FALSE(find(s, "c")->checked);
  second.close();
  s = until_checked(*health, "c");
  ASSERT_NE(find(s, "c"), nullptr);
  EXPECT_TRUE(find(s, "c")->checked);
}

}  // namespace
}  // namespace soroka::engine::remote
