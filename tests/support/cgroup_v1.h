// Test helpers for real cgroup v1: a temporary limited memory cgroup and a memory hog in it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace soroka::test {

// A memory cgroup under /sys/fs/cgroup/memory, removed (after killing its tasks) when
// destroyed. create() returns nullopt with the reason when the machine lacks the facility.
class V1Cgroup {
 public:
  static std::optional<V1Cgroup> create(std::uint64_t limit_bytes, std::string* why_not);
  V1Cgroup(V1Cgroup&& o) noexcept;
  V1Cgroup& operator=(V1Cgroup&& o) noexcept;
  ~V1Cgroup();

  const std::string& dir() const { return dir_; }        // absolute directory
  std::string path() const;                               // as /proc/PID/cgroup shows it
  std::uint64_t usage() const;
  std::uint64_t oom_kills() const;

  static constexpr const char* kMount = "/sys/fs/cgroup/memory";

 private:
  explicit V1Cgroup(std::string dir) : dir_(std::move(dir)) {}
  void destroy();
  std::string dir_;
};

// Runs build/soroka-memhog (in `cgroup_dir` if given) and talks to it line by line.
class Hog {
 public:
  static std::optional<Hog> spawn(const std::string& cgroup_dir);
  Hog(Hog&& o) noexcept;
  Hog& operator=(Hog&&) = delete;
  ~Hog();  // kills it

  // Sends a command and waits for its reply line; nullopt when the hog died (e.g. OOM kill).
  // Thread-safe: concurrent commands are serialised.
  std::optional<std::string> command(const std::string& cmd,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for the process to end; returns the terminating signal (0 if it exited).
  std::optional<int> wait_end(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  Hog() = default;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buffered_;
  bool reaped_ = false;
  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
};

// Is cgroup v1 memory usable here (root, mounted, writable)? If not, `why` says why.
bool v1_memory_available(std::string* why);

}  // namespace soroka::test
