// Tests for admission: every refusal kind on real temp files, messages, and the cost estimate.
#include "oomguard/admission.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace soroka::oomguard {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t kPlenty = 8192 * MiB;  // available memory when memory is not the point
constexpr std::uint64_t kKeep = 200 * MiB;     // min_available, as in the operators' guide

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "soroka-admission-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, ec);
    fs::remove_all(dir, ec);
  }
  // A file of `bytes` bytes (sparse beyond the first few, so 150 MiB costs no disk).
  std::string file(const std::string& name, std::uint64_t bytes) {
    const fs::path p = dir / name;
    std::ofstream(p) << (bytes > 0 ? "RIFF" : "");
    fs::resize_file(p, bytes);
    return p.string();
  }

  fs::path dir;
  AdmissionParams params;  // 100 MiB limit
};

TEST_F(AdmissionTest, AcceptsAReadableFileThatFits) {
  const auto path = file("talk.wav", 1 * MiB);
  const Verdict v = check_file(path, params, kPlenty, kKeep);
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(v.refusal, Refusal::none);
  EXPECT_EQ(v.file_bytes, 1 * MiB);
  EXPECT_EQ(v.estimated_bytes, 65 * MiB);
  EXPECT_TRUE(v.message.empty());
}

TEST_F(AdmissionTest, MissingFileIsNotFound) {
  const Verdict v = check_file((dir / "nope.wav").string(), params, kPlenty, kKeep);
  EXPECT_EQ(v.refusal, Refusal::not_found);
  EXPECT_EQ(v.message, "file not found");

  // A path through a regular file (ENOTDIR) does not exist either.
  const auto f = file("plain", 10);
  EXPECT_EQ(check_file(f + "/inner.wav", params, kPlenty, kKeep).refusal, Refusal::not_found);
}

TEST_F(AdmissionTest, DirectoryFifoAndDeviceAreNotRegular) {
  const Verdict d = check_file(dir.string(), params, kPlenty, kKeep);
  EXPECT_EQ(d.refusal, Refusal::not_regular);
  EXPECT_EQ(d.message, "not a regular file: it is a directory");

  // A fifo must be refused without opening it (opening would block with no writer).
  const auto fifo = (dir / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const Verdict p = check_file(fifo, params, kPlenty, kKeep);
  EXPECT_EQ(p.refusal, Refusal::not_regular);
  EXPECT_EQ(p.message, "not a regular file: it is a pipe");

  EXPECT_EQ(check_file("/dev/null", params, kPlenty, kKeep).refusal, Refusal::not_regular);
}

TEST_F(AdmissionTest, SymlinkToARegularFileIsFollowed) {
  const auto target = file("real.wav", 1000);
  const auto link = (dir / "link.wav").string();
  fs::create_symlink(target, link);
  const Verdict v = check_file(link, params, kPlenty, kKeep);
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(v.file_bytes, 1000u);
}

// Root opens any file regardless of its mode bits, so the check runs in a child process that
// has dropped to the "nobody" user. Without root, the mode bits alone are enough.
TEST_F(AdmissionTest, FileWithoutReadPermissionIsUnreadable) {
  const auto path = file("secret.wav", 1000);
  fs::permissions(path, fs::perms::none);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);

  if (::geteuid() != 0) {
    const Verdict v = check_file(path, params, kPlenty, kKeep);
    EXPECT_EQ(v.refusal, Refusal::unreadable);
    EXPECT_EQ(v.message, "the file cannot be read (Permission denied)");
    return;
  }

  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  constexpr int kCannotDrop = 100;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(out[0]);
    constexpr uid_t kNobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      ::_exit(kCannotDrop);
    }
    const Verdict v = check_file(path, params, kPlenty, kKeep);
    const auto n = ::write(out[1], v.message.data(), v.message.size());
    ::_exit(n < 0 ? kCannotDrop + 1 : static_cast<int>(v.refusal));
  }
  ::close(out[1]);
  std::string message;
  char buf[256];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
    message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kCannotDrop) {
    GTEST_SKIP() << "running as root without CAP_SETUID: cannot drop to nobody to test "
                    "a permission refusal";
  }
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(Refusal::unreadable));
  EXPECT_EQ(message, "the file cannot be read (Permission denied)");
}

TEST_F(AdmissionTest, EmptyFileIsRefused) {
  const Verdict v = check_file(file("silence.wav", 0), params, kPlenty, kKeep);
  EXPECT_EQ(v.refusal, Refusal::empty);
  EXPECT_EQ(v.message, "the file is empty");
}

TEST_F(AdmissionTest, FileOverTheLimitIsTooBig) {
  const Verdict v = check_file(file("lecture.wav", 150 * MiB), params, kPlenty, kKeep);
  EXPECT_EQ(v.refusal, Refusal::too_big);
  EXPECT_EQ(v.message, "file is 150.0 MiB; the limit is 100.0 MiB");
  EXPECT_EQ(v.file_bytes, 150 * MiB);

  // Exactly at the limit is allowed; one byte more is not.
  EXPECT_TRUE(check_file(file("edge.wav", 100 * MiB), params, kPlenty, kKeep).ok());
  EXPECT_EQ(check_file(file("over.wav", 100 * MiB + 1), params, kPlenty, kKeep).refusal,
            Refusal::too_big);

  AdmissionParams small;
  small.max_file_bytes = 5 * MiB;
  EXPECT_EQ(check_file(file("mid.wav", 10 * MiB), small, kPlenty, kKeep).message,
            "file is 10.0 MiB; the limit is 5.0 MiB");
}

TEST_F(AdmissionTest, CostOverAvailableMinusReserveIsNotEnoughMemory) {
  const auto path = file("talk.wav", 10 * MiB);  // default cost 74 MiB
  // 250 available - 200 kept = 50 usable < 74.
  const Verdict v = check_file(path, params, 250 * MiB, kKeep);
  EXPECT_EQ(v.refusal, Refusal::not_enough_memory);
  EXPECT_EQ(v.estimated_bytes, 74 * MiB);
  EXPECT_EQ(v.file_bytes, 10 * MiB);
  EXPECT_EQ(v.message,
            "not enough memory right now: processing this file needs about 74.0 MiB, 50.0 MiB "
            "is free; try again later");

  // Exactly enough is enough.
  EXPECT_TRUE(check_file(path, params, 274 * MiB, kKeep).ok());
  EXPECT_EQ(check_file(path, params, 274 * MiB - 1, kKeep).refusal, Refusal::not_enough_memory);
  // Available already under the reserve: nothing is usable (no unsigned wrap-around).
  EXPECT_EQ(check_file(path, params, 100 * MiB, kKeep).refusal, Refusal::not_enough_memory);
}

TEST_F(AdmissionTest, UsesTheSuppliedEstimator) {
  const auto path = file("talk.wav", 2 * MiB);
  std::string seen_path;
  std::uint64_t seen_bytes = 0;
  const CostEstimator estimate = [&](const std::string& p, std::uint64_t bytes) {
    seen_path = p;
    seen_bytes = bytes;
    return 900 * MiB;  // a long recording: the probed duration says so
  };
  const Verdict v = check_file(path, params, 1000 * MiB, kKeep, estimate);
  EXPECT_EQ(v.refusal, Refusal::not_enough_memory);
  EXPECT_EQ(v.estimated_bytes, 900 * MiB);
  EXPECT_EQ(seen_path, path);
  EXPECT_EQ(seen_bytes, 2 * MiB);
  EXPECT_TRUE(check_file(path, params, 1100 * MiB, kKeep, estimate).ok());
}

TEST(Admission, DefaultCostIsBaseWorkingSetPlusTheFile) {
  EXPECT_EQ(default_cost("x", 0), 64 * MiB);
  EXPECT_EQ(default_cost("x", 36 * MiB), 100 * MiB);
  const auto max = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(default_cost("x", max - 1), max);  // saturates instead of wrapping to "cheap"
}

TEST(Admission, RefusalNames) {
  EXPECT_STREQ(to_string(Refusal::none), "none");
  EXPECT_STREQ(to_string(Refusal::not_found), "not_found");
  EXPECT_STREQ(to_string(Refusal::unreadable), "unreadable");
  EXPECT_STREQ(to_string(Refusal::not_regular), "not_regular");
  EXPECT_STREQ(to_string(Refusal::empty), "empty");
  EXPECT_STREQ(to_string(Refusal::too_big), "too_big");
  EXPECT_STREQ(to_string(Refusal::not_enough_memory), "not_enough_memory");
}

}  // namespace
}  // namespace soroka::oomguard
