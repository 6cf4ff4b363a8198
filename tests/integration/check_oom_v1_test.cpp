// Integration: a real OOM kill in a cgroup v1 shows up in `soroka monitor --check-oom`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <csignal>

#include "support/cgroup_v1.h"
#include "support/run.h"

namespace soroka {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t kMiB = 1024 * 1024;

TEST(CheckOomV1, LimitedCgroupWithoutKillsExitsZero) {
  std::string why;
  auto cg = test::V1Cgroup::create(512 * kMiB, &why);
  if (!cg) GTEST_SKIP() << "cgroup v1 memory not usable here: " << why;
  auto r = test::run({SOROKA_BINARY, "monitor", "--check-oom", "--cgroup", cg->path()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("memory limit 512.0 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no OOM kills"), std::string::npos) << r.out;
}

TEST(CheckOomV1, RealOomKillIsReportedWithExitTwo) {
  std::string why;
  auto cg = test::V1Cgroup::create(64 * kMiB, &why);
  if (!cg) GTEST_SKIP() << "cgroup v1 memory not usable here: " << why;
  auto hog = test::Hog::spawn(cg->dir());
  ASSERT_TRUE(hog);
  // 200 MiB in a 64 MiB cgroup with no swap: the kernel must kill it.
  auto reply = hog->command("alloc 200", 20s);
  EXPECT_FALSE(reply.has_value()) << "the hog survived: " << reply.value_or("");
  auto sig = hog->wait_end(10s);
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(*sig, SIGKILL);
  EXPECT_GE(cg->oom_kills(), 1u);

  auto text = test::run({SOROKA_BINARY, "monitor", "--check-oom", "--cgroup", cg->path()});
  EXPECT_EQ(text.exit_code, 2) << text.out << text.err;
  EXPECT_NE(text.out.find("OOM kill(s) recorded"), std::string::npos) << text.out;

  auto js = test::run({SOROKA_BINARY, "monitor", "--check-oom", "--json", "--cgroup", cg->dir()});
  EXPECT_EQ(js.exit_code, 2) << js.err;
  auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j["exit_code"], 2);
  EXPECT_GE(j["snapshot"]["cgroup"]["oom_kill_count"].get<int>(), 1);
  bool oom_finding = false;
  for (const auto& f : j["findings"]) oom_finding |= f["status"] == "oom";
  EXPECT_TRUE(oom_finding) << js.out;
}

TEST(MonitorCliV1, LevelChangePrintsALineAtOnce) {
  std::string why;
  auto cg = test::V1Cgroup::create(256 * kMiB, &why);
  if (!cg) GTEST_SKIP() << "cgroup v1 memory not usable here: " << why;
  auto hog = test::Hog::spawn(cg->dir());
  ASSERT_TRUE(hog);
  // Interval 30 s: any line after the first within a few seconds is the level-change line.
  test::Process mon({SOROKA_BINARY, "monitor", "--json", "--interval", "30", "--cgroup",
                     cg->path()},
                    {"SOROKA_MEMORY_WARNING_PERCENT=50", "SOROKA_MEMORY_CRITICAL_PERCENT=90",
                     "SOROKA_MEMORY_MIN_AVAILABLE=8MiB"});
  auto first = mon.read_line(10s);
  ASSERT_TRUE(first) << "no first line";
  EXPECT_EQ(nlohmann::json::parse(*first)["level"], "normal");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(hog->command("alloc 160"), "ok 160");
  auto second = mon.read_line(10s);
  ASSERT_TRUE(second) << "no line on the level change";
  auto j = nlohmann::json::parse(*second);
  EXPECT_EQ(j["event"], "level_change");
  EXPECT_EQ(j["level"], "warning");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

}  // namespace
}  // namespace soroka
