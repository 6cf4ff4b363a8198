// Sampler: resolves what to watch (process, cgroup, host) and reads it cheaply, over and over.
#pragma once

#include <sys/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "oomguard/probe/cgroup_locate.h"
#include "oomguard/snapshot.h"
#include "util/file_reader.h"
#include "util/result.h"

namespace soroka::oomguard {

// Where the kernel's files are. Injectable so tests run on fixture trees.
struct Roots {
  std::string proc = "/proc";
  std::optional<std::string> cgroup_v2;         // cgroup2 mount; default: from mountinfo
  std::optional<std::string> cgroup_v1_memory;  // v1 memory mount; default: from mountinfo
};

// What to watch. By default: this process and its own memory cgroup.
struct Target {
  pid_t pid = 0;  // 0: the calling process
  // A cgroup path as /proc/PID/cgroup shows it ("/system.slice/soroka.service"), or an
  // absolute directory under a cgroup mount. When set, no process is watched unless pid is.
  std::optional<std::string> cgroup;
};

// What the sampler resolved the target to; fixed until rescan().
struct TargetInfo {
  Source source = Source::system;
  std::string cgroup_path;  // relative to the mount, e.g. "/system.slice/x.service"
  std::string cgroup_dir;   // absolute directory of the leaf cgroup
  std::vector<std::string> chain;  // leaf first, then limited ancestors (absolute dirs)
  std::optional<pid_t> pid;
};

// Not thread-safe: one sampler per thread. sample() does not allocate.
class Sampler {
 public:
  static constexpr std::size_t kMaxLevels = 16;

  static Result<Sampler> open(const Roots& roots, const Target& target);

  // Reads everything afresh. A failing optional part (PSI missing, process exited) leaves
  // that part empty; only system or cgroup read errors fail the sample.
  Result<Snapshot> sample() { return sample_impl(false, 0); }

  // The monitor's hot path. Reads what decides the level every time (cgroup usage and limits,
  // process RSS) and refreshes the costly, slow-moving parts (memory.stat, /proc/meminfo,
  // PSI, event counters: 8-10 us each on a 6.x VM) only when stale (kSlowRefreshNs) or when
  // they could change the decision: memory.stat once usage reaches `grey_percent` of a limit
  // (working set <= usage, so below that the level is normal whatever the cache holds), and
  // meminfo whenever the host, not a cgroup, is the tightest constraint or close to it.
  Result<Snapshot> sample_fast(double grey_percent) { return sample_impl(true, grey_percent); }

  static constexpr std::int64_t kSlowRefreshNs = 1'000'000'000;    // PSI avg10 is a 10 s mean
  static constexpr std::int64_t kMeminfoRefreshNs = 250'000'000;

  // Re-reads which ancestors carry limits (call after limits change, e.g. on SIGHUP).
  Result<void> rescan();

  // A second, independent sampler on the same resolved target (for another thread).
  Result<Sampler> reopen() const;

  const TargetInfo& info() const noexcept { return info_; }
  const Roots& roots() const noexcept { return roots_; }
  // True once the watched process has gone away.
  bool process_gone() const noexcept { return process_gone_; }

  Sampler(Sampler&&) noexcept = default;
  Sampler& operator=(Sampler&&) noexcept = default;

 private:
  Sampler() = default;

  struct Level {
    std::string dir;
    FileReader usage, stat, limit, high, swap;
    std::uint64_t inactive_file = 0;  // cached from memory.stat
    std::int64_t stat_read_ns = 0;    // when; 0 = never
  };

  Result<void> locate_named_cgroup(const std::string& named, const CgroupMounts& m);
  Result<void> open_process(const CgroupMounts& m);
  void pick(Source src, const std::string& mount, const std::string& rel);
  static Result<Level> open_level(const std::string& dir, bool is_v2);
  static bool sets_limit(Level& l, bool is_v2);
  Result<void> open_levels();
  Result<Snapshot> sample_impl(bool fast, double grey_percent);
  Result<void> refresh_meminfo(bool fast, std::int64_t now);
  Result<CgroupSample> read_chain(LevelSample* levels, std::size_t& n, bool fast,
                                  double grey_percent, std::int64_t now);
  void read_process(Snapshot& snap, bool fast);
  void read_psi(Snapshot& snap, bool fast, std::int64_t now);
  Result<LevelSample> read_level(Level& l, bool fast, double grey_percent, std::int64_t now);
  void read_slow_counters(CgroupSample& cg, std::int64_t now, bool fast);

  Roots roots_;
  Target target_;
  TargetInfo info_;
  FileReader meminfo_, statm_, status_, psi_, events_, oom_control_, failcnt_, memsw_limit_;
  std::vector<Level> levels_;
  std::uint64_t page_size_ = 4096;
  // Slow parts cached between fast samples.
  MemInfo meminfo_cache_;
  std::int64_t meminfo_read_ns_ = 0;
  bool host_near_binding_ = true;
  CgroupSample counters_cache_;  // oom_kill_count, high/max events, swap limit
  std::int64_t counters_read_ns_ = 0;
  std::optional<Psi> psi_cache_;
  std::int64_t psi_read_ns_ = 0;
  bool process_gone_ = false;
};

// Resolves mounts from overrides or <proc>/self/mountinfo.
Result<CgroupMounts> resolve_mounts(const Roots& roots);

}  // namespace soroka::oomguard
