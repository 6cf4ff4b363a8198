// FixtureTree: a fake /proc and cgroupfs in a temp dir per test, filled with real kernel text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "oomguard/sampler.h"

namespace soroka::test {

// tests/fixtures (SOROKA_FIXTURES_DIR): the checked-in *.fakeroot scenario trees.
std::string fixtures_dir();
// The text of a checked-in file, e.g. fixture_text("v1-limited-leaf.fakeroot/proc/meminfo").
// Throws std::runtime_error when it cannot be read (a broken checkout, not a test result).
std::string fixture_text(std::string_view rel);
// A whole file's bytes; throws std::runtime_error when it cannot be read.
std::string read_text(const std::string& path);

// A process under <proc>/<pid>/ ("self" or a number).
struct FakeProcess {
  std::uint64_t rss_pages = 25'000;      // statm "resident", in pages
  std::string cgroup = "0::/\n";         // /proc/PID/cgroup text
  std::optional<std::string> mountinfo;  // /proc/PID/mountinfo, written when set
};

// A cgroup v2 directory with the memory controller (the files the Sampler reads).
struct V2Group {
  std::uint64_t current = 0;                                   // memory.current
  std::optional<std::uint64_t> max;                            // memory.max; nullopt -> "max"
  std::optional<std::uint64_t> high;                           // memory.high; nullopt -> "max"
  std::optional<std::uint64_t> swap_max;                       // memory.swap.max; nullopt -> "max"
  std::uint64_t anon = 0, inactive_file = 0, active_file = 0;  // for memory.stat
  std::optional<std::string> stat;  // replaces the generated memory.stat when set
  std::uint64_t high_events = 0, max_events = 0, oom_kills = 0;  // memory.events
  bool pressure = true;  // write a memory.pressure (all zero)
};

// A cgroup v1 memory-controller directory.
struct V1Group {
  std::uint64_t usage = 0;             // memory.usage_in_bytes
  std::optional<std::uint64_t> limit;  // nullopt -> 9223372036854771712 (unlimited)
  std::uint64_t rss = 0, inactive_file = 0, active_file = 0;  // memory.stat total_*
  std::optional<std::string> stat;  // replaces the generated memory.stat when set
  std::uint64_t failcnt = 0, oom_kills = 0;
  std::optional<std::uint64_t> memsw_limit;  // nullopt -> unlimited
};

// Layout inside the tree, as on a real host:
//   proc/                      fake /proc
//   sys/fs/cgroup/             cgroup2 mount of a pure v2 host
//   sys/fs/cgroup/memory/      cgroup v1 memory mount (v1 or hybrid host)
//   sys/fs/cgroup/unified/     cgroup2 mount of a hybrid host (no memory controller)
// Each tree is a fresh directory under $TMPDIR (or /tmp), removed with everything in it by
// the destructor. Helpers throw std::runtime_error on I/O failure, which fails the test.
class FixtureTree {
 public:
  FixtureTree();
  ~FixtureTree();
  FixtureTree(const FixtureTree&) = delete;
  FixtureTree& operator=(const FixtureTree&) = delete;

  const std::string& root() const noexcept { return root_; }
  // root() + "/" + rel; rel is relative ("proc/meminfo").
  std::string path(std::string_view rel) const;

  // Creates parent dirs. Rewrites an existing file in place (same inode), so a Sampler that
  // holds it open sees the new text on its next pread, as with a live kernel file.
  void write(std::string_view rel, std::string_view text) const;
  std::string read(std::string_view rel) const;
  bool exists(std::string_view rel) const;
  void remove(std::string_view rel) const;        // a file or a whole directory
  std::string mkdir(std::string_view rel) const;  // returns the absolute path

  // Copies tests/fixtures/<name>.fakeroot into the tree; "@ROOT@" in any file becomes root()
  // (mountinfo of the scenarios names cgroup mounts as @ROOT@/sys/fs/cgroup/...).
  void copy_scenario(std::string_view name) const;

  // --- fake /proc ---
  std::string proc() const { return path("proc"); }
  void write_meminfo(std::string_view text) const;
  void write_meminfo(std::uint64_t total_kb, std::uint64_t free_kb,
                     std::uint64_t available_kb) const;
  void write_system_psi(std::string_view text) const;  // proc/pressure/memory
  void write_process(std::string_view pid, const FakeProcess& p) const;

  // --- fake cgroupfs; rel is the cgroup path as /proc/PID/cgroup shows it ---
  std::string v2_mount() const { return path("sys/fs/cgroup"); }
  std::string v1_mount() const { return path("sys/fs/cgroup/memory"); }
  std::string hybrid_v2_mount() const { return path("sys/fs/cgroup/unified"); }
  std::string make_v2_cgroup(std::string_view rel, const V2Group& g) const;  // absolute dir
  std::string make_v1_cgroup(std::string_view rel, const V1Group& g) const;

  // Roots that point only into this tree, never at the host: the v1 mount and the hybrid
  // cgroup2 mount when sys/fs/cgroup/memory exists, else the pure v2 mount when
  // sys/fs/cgroup exists; a missing mount is "" (none), never "read mountinfo".
  oomguard::Roots roots() const;
  // Only `proc` set: mounts come from <proc>/self/mountinfo, as in production.
  oomguard::Roots roots_from_mountinfo() const;

 private:
  std::string root_;
};

// Kernel-format text, for tests that vary numbers around the captured files.
// meminfo as 6.x prints it: "MemTotal:       24684092 kB" (label padded to 16, value to 8).
std::string meminfo_text(std::uint64_t total_kb, std::uint64_t free_kb, std::uint64_t available_kb,
                         std::uint64_t swap_total_kb = 0, std::uint64_t swap_free_kb = 0);
// memory.stat of a 6.x kernel with the full key list; file = inactive_file + active_file.
std::string v2_memory_stat_text(std::uint64_t anon, std::uint64_t inactive_file,
                                std::uint64_t active_file);
// v1 memory.stat (local and total_* keys); hierarchical_memory_limit from `limit`.
std::string v1_memory_stat_text(std::uint64_t rss, std::uint64_t inactive_file,
                                std::uint64_t active_file, std::optional<std::uint64_t> limit);
std::string v2_events_text(std::uint64_t high, std::uint64_t max, std::uint64_t oom_kill);
// "some avg10=... total=...\nfull ...\n"
std::string psi_text(double some_avg10, std::uint64_t some_total, double full_avg10,
                     std::uint64_t full_total);
// mountinfo lines for the given cgroup mounts (either may be empty: no such mount).
std::string mountinfo_text(std::string_view v2_mount, std::string_view v1_memory_mount);

// 9223372036854771712: PAGE_COUNTER_MAX pages of 4 KiB, how v1 prints "no limit".
inline constexpr std::uint64_t kV1NoLimit = 9223372036854771712ULL;

}  // namespace soroka::test
