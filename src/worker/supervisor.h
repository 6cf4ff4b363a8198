// WorkerSupervisor: runs workers in their own memory cgroups, reaps them, says why they ended.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.h"
#include "util/result.h"
#include "worker/cgroup_slot.h"
#include "worker/launch.h"

namespace soroka::worker {

enum class ExitKind {
  exited,      // exit(code); exit_code says which
  crashed,     // a signal the kernel's OOM killer did not send (SIGSEGV, abort, a stray kill)
  oom_killed,  // the kernel's OOM-kill counter of the worker's cgroup rose
  timed_out,   // the supervisor stopped it at WorkerSpec::timeout
  cancelled,   // terminate() or the supervisor shutting down
};
const char* to_string(ExitKind k) noexcept;

struct WorkerExit {
  ExitKind kind = ExitKind::exited;
  int exit_code = 0;  // exited: the code
  int signal = 0;     // the signal that ended the main process, 0 if it exited
  // The cgroup's peak (page cache and kernel memory included); without a cgroup, max RSS.
  std::optional<std::uint64_t> peak_bytes;
  std::uint64_t max_rss_bytes = 0;  // getrusage of the main process
  std::uint64_t oom_kills = 0;      // kernel OOM kills in the worker's cgroup during the run
  std::chrono::nanoseconds wall{0};
  std::chrono::steady_clock::time_point noticed;  // when the supervisor woke to the exit
  std::string detail;  // one line for logs: "killed by SIGKILL; 1 OOM kill at 64 MiB limit"
};

struct WorkerSpec {
  std::string name = "worker";    // for logs and the cgroup's name
  std::vector<std::string> argv;  // argv[0]: a path, or a name searched in the service's PATH
  std::vector<std::string> env;   // "KEY=VALUE", on top of the inherited ones if inherit_env
  bool inherit_env = false;
  std::string cwd;                // "" = the service's
  std::uint64_t limit_bytes = 0;  // the cgroup's memory limit; 0 = none (accounting only)
  int oom_score_adj = 1000;       // 1000: the kernel's first choice whenever it must kill
  WorkerIo io = WorkerIo::pipes;
  bool stderr_to_null = false;
  bool core_dumps = false;
  bool new_network_namespace = false;  // see LaunchPlan
  std::chrono::milliseconds timeout{0};  // wall clock from spawn; 0 = none
  // SIGTERM to SIGKILL on a timeout: 2 s lets a worker flush a partial result line.
  std::chrono::milliseconds kill_grace{2000};
  // Runs on the supervisor's thread once the worker is reaped and its cgroup removed, before
  // wait() returns. Keep it short; it must not wait() on a worker. spawn() from it is fine.
  std::function<void(const WorkerExit&)> on_exit;
};

struct SupervisorParams {
  CgroupConfig cgroups;
  // Grace for workers still running when the supervisor is destroyed (SIGTERM, then SIGKILL).
  std::chrono::milliseconds stop_grace{1000};
  // Without memory.peak (v2 before 5.19) the peak is the highest memory.current seen at this
  // interval: 100 ms costs ~10 reads/s per worker and misses spikes shorter than that.
  std::chrono::milliseconds peak_poll{100};
};

namespace detail {
struct WorkerState;
struct SupervisorCore;
}  // namespace detail

// One running (or finished) worker. Move-only. Destroying the handle closes the service's
// ends of the worker's stdio but does not stop the worker: the supervisor still reaps it,
// runs on_exit, and stops it when the supervisor itself goes. All methods are thread-safe,
// except that the Fds belong to whoever uses them.
class WorkerHandle {
 public:
  WorkerHandle(WorkerHandle&&) noexcept;
  WorkerHandle& operator=(WorkerHandle&&) noexcept;
  ~WorkerHandle();

  pid_t pid() const noexcept;
  const std::string& name() const noexcept;
  const std::string& cgroup_dir() const noexcept;  // "" without a cgroup

  // pipes: input() is the worker's stdin, output() its stdout. socketpair: input() is the
  // socket and output() is invalid. none: both invalid.
  Fd& input() noexcept { return input_; }
  Fd& output() noexcept { return output_; }

  // Stops the worker: SIGTERM now, SIGKILL to its whole cgroup after `grace` (0: at once).
  // The outcome is cancelled. No-op once it has ended. Returns at once.
  void terminate(std::chrono::milliseconds grace);

  bool running() const;
  WorkerExit wait() const;
  std::optional<WorkerExit> wait_for(std::chrono::milliseconds timeout) const;
  std::shared_future<WorkerExit> future() const;

  // The cgroup's usage now and its memory limit; ENOTSUP without a cgroup, ESRCH once ended.
  Result<std::uint64_t> memory_bytes() const;
  Result<void> resize(std::uint64_t limit_bytes);

 private:
  friend class WorkerSupervisor;
  friend struct detail::SupervisorCore;
  WorkerHandle() = default;
  std::shared_ptr<detail::WorkerState> state_;
  Fd input_, output_;
};

// Starts workers and watches them from one thread, which also does every fork (so that
// PR_SET_PDEATHSIG ties workers to that long-lived thread, not to whichever thread called
// spawn). Exits are noticed through pidfds at once, without polling.
// Thread-safe. The destructor stops the remaining workers (stop_grace) and reaps them.
// The process must not reap children it does not own with waitpid(-1) or ignore SIGCHLD.
class WorkerSupervisor {
 public:
  static Result<std::unique_ptr<WorkerSupervisor>> create(SupervisorParams params = {});
  ~WorkerSupervisor();
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // Creates the worker's cgroup, forks, places the child in the cgroup and sets its
  // oom_score_adj before exec, and returns once the exec has succeeded. A failed exec
  // (ENOENT...) is an error here, not a WorkerExit.
  Result<WorkerHandle> spawn(WorkerSpec spec);

  const CgroupManager& cgroups() const noexcept;
  std::size_t running() const;

 private:
  explicit WorkerSupervisor(std::shared_ptr<detail::SupervisorCore> core);
  std::shared_ptr<detail::SupervisorCore> core_;
};

// Sets this process's oom_score_adj (e.g. -500, so the kernel kills workers first). Lowering
// it needs root or CAP_SYS_RESOURCE; a failure is logged as a warning and returned.
Result<void> protect_self(int adj, const std::string& proc = "/proc");

// --- pure parts, exposed for tests ---

enum class StopReason { none, timeout, cancel };

struct ExitFacts {
  int wait_status = 0;  // from wait4
  StopReason stop = StopReason::none;
  std::optional<std::uint64_t> slot_oom_kills;  // rise of the cgroup's counter; nullopt: none
  std::uint64_t host_oom_kills = 0;  // rise of /proc/vmstat oom_kill; used only without cgroup
};

struct Verdict {
  ExitKind kind = ExitKind::exited;
  int exit_code = 0;
  int signal = 0;
  std::string detail;
};

// OOM evidence first (the kernel's counter; SIGKILL alone is ambiguous), then our own stop,
// then the wait status. Without a cgroup, a SIGKILL nobody here sent while the host's OOM
// counter rose is taken as an OOM kill (oom_score_adj 1000 makes the worker the first pick).
Verdict classify_exit(const ExitFacts& facts);

}  // namespace soroka::worker
