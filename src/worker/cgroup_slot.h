// CgroupSlot: one worker's own memory cgroup (create, limit, measure, remove) on v2, v1 or none.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oomguard/sampler.h"
#include "util/result.h"

namespace soroka::worker {

// none: no cgroup could be had (or it was switched off); only oom_score_adj protects the service.
enum class CgroupMode { none, v1, v2 };
const char* to_string(CgroupMode m) noexcept;  // "none", "cgroup-v1", "cgroup-v2"

// Every side effect on cgroupfs and on processes. The base class is the real system; tests
// derive from it to emulate what the kernel does on mkdir in a fixture tree and to record
// signals instead of sending them to pids that only exist in fixture files.
// Thread-safe (stateless); a test double must be too if its manager is shared by threads.
class CgroupFs {
 public:
  virtual ~CgroupFs() = default;
  virtual Result<std::string> read(const std::string& path);
  virtual Result<void> write(const std::string& path, std::string_view data);
  virtual Result<void> make_dir(const std::string& path);    // EEXIST is an error
  virtual Result<void> remove_dir(const std::string& path);  // rmdir(2): cgroups only, no files
  virtual Result<std::vector<std::string>> list_dirs(const std::string& path);  // child names
  virtual bool exists(const std::string& path);
  virtual bool writable(const std::string& path);  // access(W_OK) for the effective uid
  virtual std::optional<std::string> xattr(const std::string& path, const std::string& name);
  virtual uid_t euid();
  virtual Result<void> kill(pid_t pid, int sig);
};

// Where slots come from. The defaults fit a systemd service with Delegate=memory (v2) or a
// root service on a v1 host.
struct CgroupConfig {
  // /proc and the cgroup mounts; unset mounts come from <proc>/self/mountinfo.
  oomguard::Roots roots;
  // nullopt: detect (v2, then v1, else none with the reason). A forced v1/v2 that is not
  // possible makes open() fail; forced none never touches cgroupfs.
  std::optional<CgroupMode> mode;
  // Absolute directory to create slots in. Default: the service's own cgroup (v1), or on v2
  // the delegated service cgroup (the parent of `leaf` when the service already runs in it).
  std::optional<std::string> parent;
  // mkdir `parent` when missing; it is then removed once the manager and its slots are gone.
  bool create_parent = false;
  // v2 "no internal processes" rule: a cgroup that hands memory to its children may hold no
  // processes, so the service moves itself into this leaf first.
  std::string leaf = "supervisor";
  // v2 as root: systemd marks delegated cgroups with the xattr trusted.delegate=1 (v251+);
  // without it a root service would be writing into systemd's own tree, so detection refuses
  // unless told the subtree is ours (a container with its own cgroup namespace, say).
  bool assume_delegated = false;
  std::shared_ptr<CgroupFs> fs;  // nullptr: the real system
};

class CgroupManager;

// One worker's cgroup. Created by CgroupManager::create(); removed (remaining tasks killed,
// rmdir retried) by remove() or the destructor. In none mode it has no directory and every
// measurement fails with ENOTSUP. The reads are thread-safe; resize/remove are not (one owner).
class CgroupSlot {
 public:
  ~CgroupSlot();
  CgroupSlot(const CgroupSlot&) = delete;
  CgroupSlot& operator=(const CgroupSlot&) = delete;

  CgroupMode mode() const noexcept;
  const std::string& name() const noexcept { return name_; }
  const std::string& dir() const noexcept { return dir_; }  // "" in none mode
  std::string procs_path() const;                           // <dir>/cgroup.procs, "" in none mode
  std::uint64_t limit_bytes() const noexcept { return limit_; }  // 0: no limit

  // New limit, 0 for none. v1 keeps memsw.limit >= limit by ordering the two writes.
  // Shrinking below the current usage makes the kernel reclaim, and fail with EBUSY if it can't.
  Result<void> resize(std::uint64_t limit_bytes);

  Result<std::uint64_t> current_bytes() const;  // memory.current / memory.usage_in_bytes
  // Highest usage since creation: v2 memory.peak (5.19+) else the highest memory.current seen
  // by sample(); v1 memory.max_usage_in_bytes.
  Result<std::uint64_t> peak_bytes() const;
  // Without memory.peak, call this periodically: the peak is then only as good as the polling.
  bool needs_sampling() const noexcept { return needs_sampling_; }
  void sample();
  // The kernel's OOM-kill counter of this cgroup: v2 memory.events oom_kill, v1
  // memory.oom_control oom_kill (4.13+). The kernel raises it before it sends the SIGKILL.
  Result<std::uint64_t> oom_kills() const;
  std::vector<pid_t> tasks() const;  // cgroup.procs; empty when unreadable
  // Signals every task; SIGKILL uses v2 cgroup.kill (5.14+), which also catches forks.
  Result<void> kill_all(int sig);

  // Kills what is left and removes the directory, retrying rmdir while exiting tasks leave.
  // Idempotent. The destructor does this and logs a failure.
  Result<void> remove();

 private:
  friend class CgroupManager;
  struct Base;
  CgroupSlot(std::shared_ptr<const Base> base, std::string name, std::string dir);
  Result<void> write_limit(std::uint64_t limit_bytes, std::uint64_t previous);
  std::string file(std::string_view f) const { return dir_ + "/" + std::string(f); }

  std::shared_ptr<const Base> base_;
  std::string name_, dir_;
  std::uint64_t limit_ = 0;
  bool needs_sampling_ = false;
  bool removed_ = false;
  mutable std::atomic<std::uint64_t> sampled_peak_{0};
};

// Detects what the host allows and makes slots. Thread-safe after open().
class CgroupManager {
 public:
  static Result<CgroupManager> open(CgroupConfig config = {});

  CgroupMode mode() const noexcept;
  const std::string& base_dir() const noexcept;  // where slots go; "" in none mode
  // What was found and done, or why there are no cgroups: for the start-up log.
  const std::string& description() const noexcept { return description_; }
  const std::string& proc() const noexcept;  // the /proc root in use

  // A slot named `name` (letters, digits, '.', '_', '-'; not the leaf's name) with the limit
  // (0: none). A leftover directory of that name (a crashed earlier run) is removed first.
  // In none mode: a slot without a directory.
  Result<std::unique_ptr<CgroupSlot>> create(std::string_view name,
                                             std::uint64_t limit_bytes) const;
  // Removes the slots a service killed before it could remove them left in base_dir(): those
  // named "<name>-<pid>-<n>" (as the supervisor names them) whose pid is not this process and
  // not running (no <proc>/<pid>), and that hold no task. A slot with tasks, or of a pid alive,
  // is left alone: it may be another service's sharing the directory. Returns how many went.
  std::size_t remove_orphans() const;

  CgroupManager(CgroupManager&&) noexcept = default;
  CgroupManager& operator=(CgroupManager&&) noexcept = default;

 private:
  CgroupManager() = default;
  std::shared_ptr<const CgroupSlot::Base> base_;
  std::string description_;
};

// Pure helpers, exposed for tests.
// Is `name` a whitespace-separated token of `list` ("cpu io memory pids")?
bool has_token(std::string_view list, std::string_view name) noexcept;
// The pids of a cgroup.procs text; malformed lines are skipped.
std::vector<pid_t> parse_pids(std::string_view text);
// A worker's slot name, "<name>-<pid>-<n>": its name (characters a cgroup name may not hold
// made '_', at most 24 of them, "worker" when none is left), the creating service's pid and
// that service's count of slots. Unique per service, and says whose it is (remove_orphans).
std::string slot_name(std::string_view worker_name, pid_t creator, std::uint64_t n);
// The creator's pid in a name slot_name() makes; nullopt for any other name.
std::optional<pid_t> slot_creator(std::string_view slot_name);

}  // namespace soroka::worker
