// Unit: how a worker's end is classified, program lookup, and the line channel over pipes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/line_channel.h"
#include "worker/supervisor.h"

namespace soroka::worker {
namespace {

using namespace std::chrono_literals;

// wait(2) status words as the kernel builds them.
int exited(int code) {
  return code << 8;
}
int killed(int sig, bool core = false) {
  return sig | (core ? 0x80 : 0);
}

TEST(WorkerExitClassify, NormalExit) {
  auto v = classify_exit({.wait_status = exited(0), .slot_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::exited);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.signal, 0);
  EXPECT_EQ(v.detail, "exited with 0");
  v = classify_exit({.wait_status = exited(3), .slot_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::exited);
  EXPECT_EQ(v.exit_code, 3);
}

TEST(WorkerExitClassify, SigkillWithTheCounterUpIsOom) {
  auto v = classify_exit({.wait_status = killed(SIGKILL), .slot_oom_kills = 1});
  EXPECT_EQ(v.kind, ExitKind::oom_killed);
  EXPECT_EQ(v.signal, SIGKILL);
  EXPECT_EQ(v.detail, "killed by SIGKILL; the kernel OOM-killed 1 task(s) in its cgroup");
}

TEST(WorkerExitClassify, SigkillWithoutTheCounterIsACrash) {
  auto v = classify_exit({.wait_status = killed(SIGKILL), .slot_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::crashed);
  EXPECT_NE(v.detail.find("not by the OOM killer"), std::string::npos);
}

TEST(WorkerExitClassify, HelperOomKilledThenWorkerFailedIsOom) {
  auto v = classify_exit({.wait_status = exited(1), .slot_oom_kills = 1});
  EXPECT_EQ(v.kind, ExitKind::oom_killed);
  EXPECT_EQ(v.exit_code, 1);
  // ...but a worker that still finished its job exited.
  v = classify_exit({.wait_status = exited(0), .slot_oom_kills = 1});
  EXPECT_EQ(v.kind, ExitKind::exited);
  EXPECT_NE(v.detail.find("1 of its tasks were OOM-killed"), std::string::npos);
}

TEST(WorkerExitClassify, CrashSignals) {
  auto v = classify_exit({.wait_status = killed(SIGSEGV, true), .slot_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::crashed);
  EXPECT_EQ(v.signal, SIGSEGV);
  EXPECT_EQ(v.detail, "killed by SIGSEGV (core dumped)");
  v = classify_exit({.wait_status = killed(SIGABRT), .slot_oom_kills = 0});
  EXPECT_EQ(v.detail, "killed by SIGABRT");
}

TEST(WorkerExitClassify, OwnStopsWinOverTheStatusButNotOverOom) {
  auto v = classify_exit(
      {.wait_status = killed(SIGTERM), .stop = StopReason::timeout, .slot_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::timed_out);
  EXPECT_EQ(v.detail, "timed out; killed by SIGTERM");
  v = classify_exit({.wait_status = exited(0), .stop = StopReason::cancel, .slot_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::cancelled);
  v = classify_exit(
      {.wait_status = killed(SIGKILL), .stop = StopReason::cancel, .slot_oom_kills = 2});
  EXPECT_EQ(v.kind, ExitKind::oom_killed);
}

TEST(WorkerExitClassify, WithoutCgroupTheHostCounterDecidesSigkill) {
  auto v = classify_exit(
      {.wait_status = killed(SIGKILL), .slot_oom_kills = std::nullopt, .host_oom_kills = 1});
  EXPECT_EQ(v.kind, ExitKind::oom_killed);
  EXPECT_NE(v.detail.find("no cgroup"), std::string::npos);
  v = classify_exit(
      {.wait_status = killed(SIGKILL), .slot_oom_kills = std::nullopt, .host_oom_kills = 0});
  EXPECT_EQ(v.kind, ExitKind::crashed);
  // Our own SIGKILL at the end of a grace period is not an OOM kill.
  v = classify_exit({.wait_status = killed(SIGKILL),
                     .stop = StopReason::timeout,
                     .slot_oom_kills = std::nullopt,
                     .host_oom_kills = 1});
  EXPECT_EQ(v.kind, ExitKind::timed_out);
  // The host counter is ignored when there is a cgroup to ask.
  v = classify_exit({.wait_status = killed(SIGKILL), .slot_oom_kills = 0, .host_oom_kills = 5});
  EXPECT_EQ(v.kind, ExitKind::crashed);
}

TEST(WorkerExitClassify, KindNames) {
  EXPECT_STREQ(to_string(ExitKind::oom_killed), "oom_killed");
  EXPECT_STREQ(to_string(ExitKind::timed_out), "timed_out");
  EXPECT_STREQ(to_string(CgroupMode::v1), "cgroup-v1");
}

TEST(WorkerFindProgram, SearchesPathLikeExecvp) {
  EXPECT_EQ(find_program("/bin/sh", "").value(), "/bin/sh");
  EXPECT_EQ(find_program("./x", "").value(), "./x");  // a slash: taken as given
  EXPECT_EQ(find_program("sh", "/nonexistent:/bin").value(), "/bin/sh");
  auto missing = find_program("no-such-program-soroka", "/bin:/usr/bin");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST(WorkerLineChannel, RoundTripOverPipesSplitsAndJoinsLines) {
  int a[2], b[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(b, O_CLOEXEC), 0);
  LineChannel ours(a[1], b[0]);
  ASSERT_TRUE(ours.send(R"({"cmd":"start"})", 100ms));
  char buf[64] = {};
  ASSERT_EQ(::read(a[0], buf, sizeof buf), 16);
  EXPECT_STREQ(buf, "{\"cmd\":\"start\"}\n");
  ASSERT_EQ(::write(b[1], "ok 1\nok", 7), 7);
  EXPECT_EQ(ours.receive(100ms).value(), "ok 1");
  auto partial = ours.receive(50ms);  // "ok" has no newline yet
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().code, ETIMEDOUT);
  ASSERT_EQ(::write(b[1], " 2\n", 3), 3);
  EXPECT_EQ(ours.receive(100ms).value(), "ok 2");
  ::close(b[1]);
  EXPECT_EQ(ours.receive(100ms).error().code, EPIPE);
  EXPECT_EQ(ours.send("a\nb", 100ms).error().code, EINVAL);
  for (int fd : {a[0], a[1], b[0]}) ::close(fd);
}

TEST(WorkerLineChannel, DeadReaderIsEpipeNotSigpipe) {
  int a[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC), 0);
  ::close(a[0]);
  LineChannel ours(a[1], a[1]);
  auto r = ours.send("hello", 100ms);  // with SIGPIPE delivered, this test process would die
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPIPE);
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_EQ(::sigismember(&pending, SIGPIPE), 0);
  ::close(a[1]);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::close(sv[1]);
  LineChannel sock(sv[0], sv[0]);
  EXPECT_EQ(sock.send("hello", 100ms).error().code, EPIPE);
  ::close(sv[0]);
}

TEST(WorkerLineChannel, FullPipeTimesOut) {
  int a[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC), 0);
  LineChannel ours(a[1], a[0]);
  std::string big(4096, 'x');
  Result<void> r;
  for (int i = 0; i < 64 && r; ++i) r = ours.send(big, 50ms);  // 64 KiB pipe buffer fills
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ETIMEDOUT);
  ::close(a[0]);
  ::close(a[1]);
}

}  // namespace
}  // namespace soroka::worker
