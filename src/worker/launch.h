// launch: fork + exec of one worker, with everything the child must do before exec.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/fd.h"
#include "util/result.h"

namespace soroka::worker {

// How the service talks to a worker.
enum class WorkerIo {
  pipes,       // the worker's stdin and stdout are two pipes
  socketpair,  // the worker's stdin and stdout are both one end of a Unix stream socketpair
  none,        // stdin and stdout are /dev/null
};

// What the child does between fork and exec, in this order: join the cgroup (so every page
// it touches from then on is charged to the worker, not the service), a network namespace
// of its own if asked and permitted, raise its
// oom_score_adj, die with the forking thread (PR_SET_PDEATHSIG), reset signal state, put
// itself in its own process group, no core dumps unless asked, set up stdio, close every
// other fd, chdir, exec. A failing step is reported to the parent, which reaps the child.
struct LaunchPlan {
  std::string path;               // absolute or relative path to the program (no PATH search)
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // the complete environment, "KEY=VALUE"
  std::string cwd;                // "" = keep the service's
  std::string cgroup_procs;       // cgroup.procs to write "0" into; "" = stay put
  int oom_score_adj = 1000;
  WorkerIo io = WorkerIo::pipes;
  bool stderr_to_null = false;  // else inherited (worker logs go where the service's go)
  bool core_dumps = false;      // RLIMIT_CORE 0: a core of a multi-GB worker fills a small disk
  // unshare(CLONE_NEWNET): the worker sees only a loopback that is down (0.45 ms median per
  // spawn measured on this 6.18 kernel, 20 runs; warm workers spawn rarely). Needs CAP_SYS_ADMIN;
  // where refused (EPERM, e.g. under systemd with no capabilities) the worker starts anyway
  // and its seccomp filter keeps it off the network (worker/sandbox.h reports which).
  bool new_network_namespace = false;
};

struct Launched {
  pid_t pid = -1;
  Fd pidfd;   // invalid when the kernel has no pidfd_open (< 5.3)
  Fd input;   // service end of the worker's stdin (pipes), or the socket (socketpair)
  Fd output;  // service end of the worker's stdout (pipes); invalid for socketpair and none
};

// Forks and execs. Returns once the exec has succeeded (or the child's setup failed, which
// is the error, the child already reaped). Must be called from a thread that outlives the
// worker: PR_SET_PDEATHSIG fires when the forking *thread* exits, not the process.
// The child only makes async-signal-safe calls, so this is safe in a threaded process.
Result<Launched> launch(const LaunchPlan& plan);

// The file argv0 names: itself when it contains a '/', else the first executable match in
// the colon-separated `path_var` (as execvp would do).
Result<std::string> find_program(const std::string& argv0, const std::string& path_var);

}  // namespace soroka::worker
