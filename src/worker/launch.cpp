// launch: fork + exec of one worker, with everything the child must do before exec.
#include "worker/launch.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace soroka::worker {

namespace {

// Without close_range (5.9) the child closes fds one by one up to RLIMIT_NOFILE, capped:
// 65536 close() calls cost ~5 ms, a 1M limit would cost ~80 ms per spawn.
constexpr long kMaxFdsToClose = 65536;

enum Stage : int {
  kJoinCgroup = 1,
  kOomScoreAdj,
  kDeathSignal,
  kParentGone,
  kProcessGroup,
  kCoreLimit,
  kStdio,
  kCloseFds,
  kChdir,
  kExec,
};

const char* stage_name(int s) {
  switch (s) {
    case kJoinCgroup:
      return "joining the cgroup";
    case kOomScoreAdj:
      return "setting oom_score_adj";
    case kDeathSignal:
      return "PR_SET_PDEATHSIG";
    case kParentGone:
      return "checking the parent";
    case kProcessGroup:
      return "setpgid";
    case kCoreLimit:
      return "RLIMIT_CORE";
    case kStdio:
      return "setting up stdio";
    case kCloseFds:
      return "closing inherited fds";
    case kChdir:
      return "chdir";
    case kExec:
      return "exec";
  }
  return "unknown step";
}

struct ChildReport {
  int stage;
  int err;
};

// Everything the child reads, prepared before fork: after fork the child may not allocate
// (another thread could have held the malloc lock at the moment of fork).
struct ChildArgs {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;    // nullptr: keep
  const char* procs = nullptr;  // nullptr: no cgroup
  char adj[16] = {};
  std::size_t adj_len = 0;
  int stdin_src = -1, stdout_src = -1, stderr_src = -1;  // -1 for stderr: inherit
  int status_fd = -1;
  pid_t parent = 0;
  bool core_dumps = false;
  bool new_netns = false;
  int max_fd = 1024;  // for the close() fallback
};

[[noreturn]] void report(int fd, int stage) {
  ChildReport r{stage, errno};
  ssize_t n = ::write(fd, &r, sizeof r);
  (void)n;
  ::_exit(127);
}

bool write_small(const char* path, const char* data, std::size_t len) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, data, len) == static_cast<ssize_t>(len);
  int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

// Async-signal-safe calls only.
[[noreturn]] void run_child(const ChildArgs& a) noexcept {
  int status = ::fcntl(a.status_fd, F_DUPFD_CLOEXEC, 3);  // >= 3, clear of stdio
  if (status < 0) ::_exit(127);
  if (a.procs && !write_small(a.procs, "0", 1)) report(status, kJoinCgroup);
  // Best effort: refused without CAP_SYS_ADMIN; the worker finds out and says so itself.
  if (a.new_netns) (void)::unshare(CLONE_NEWNET);
  // Raising oom_score_adj needs no privilege, whatever the service lowered its own to.
  if (!write_small("/proc/self/oom_score_adj", a.adj, a.adj_len)) report(status, kOomScoreAdj);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) report(status, kDeathSignal);
  if (::getppid() != a.parent) {  // the service died before prctl took effect
    errno = ESRCH;
    report(status, kParentGone);
  }
  // The parent blocked all signals around fork, so no handler of the service ran here. Give
  // the worker default dispositions (SIG_IGN would survive exec) and an empty mask.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s)
    if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);  // EINVAL for glibc's own
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Its own process group: a Ctrl-C on the service's terminal is for the service to handle.
  if (::setpgid(0, 0) != 0) report(status, kProcessGroup);
  if (!a.core_dumps) {
    struct rlimit rl = {0, 0};
    if (::setrlimit(RLIMIT_CORE, &rl) != 0) report(status, kCoreLimit);
  }
  // Copies above 2 first: a daemon with fd 0 closed may have got a pipe end as fd 0..2.
  int in = ::fcntl(a.stdin_src, F_DUPFD_CLOEXEC, 3);
  int out = ::fcntl(a.stdout_src, F_DUPFD_CLOEXEC, 3);
  int err = a.stderr_src >= 0 ? ::fcntl(a.stderr_src, F_DUPFD_CLOEXEC, 3) : 2;
  if (in < 0 || out < 0 || err < 0) report(status, kStdio);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0) report(status, kStdio);
  if (err != 2 && ::dup2(err, 2) < 0) report(status, kStdio);
  // Nothing of the service's may leak into a worker: other workers' pipes would never see EOF.
  unsigned st = static_cast<unsigned>(status);
  bool ranged = (st == 3 || ::close_range(3, st - 1, 0) == 0) && ::close_range(st + 1, ~0U, 0) == 0;
  if (!ranged) {
    if (errno != ENOSYS) report(status, kCloseFds);
    for (int fd = 3; fd < a.max_fd; ++fd)
      if (fd != status) ::close(fd);
  }
  if (a.cwd && ::chdir(a.cwd) != 0) report(status, kChdir);
  ::execve(a.path, a.argv, a.envp);
  report(status, kExec);
}

std::vector<char*> c_array(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

Result<std::pair<Fd, Fd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_fail("pipe2");
  return std::pair<Fd, Fd>(Fd(p[0]), Fd(p[1]));
}

}  // namespace

Result<std::string> find_program(const std::string& argv0, const std::string& path_var) {
  if (argv0.empty()) return fail("empty program name", EINVAL);
  if (argv0.find('/') != std::string::npos) return argv0;
  std::string_view rest = path_var;
  while (true) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    std::string cand = (dir.empty() ? std::string(".") : dir) + "/" + argv0;
    struct stat st;
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0)
      return cand;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return fail("program '" + argv0 + "' not found in PATH", ENOENT);
}

namespace {

// The child's ends of its stdio, kept open in the parent until the fork.
struct ChildStdio {
  Fd in, out, null;
};

// Pipes or a socket pair as the plan asks; the service's ends go to `out`.
Result<void> wire_stdio(const LaunchPlan& plan, ChildArgs& a, Launched& out, ChildStdio& c) {
  if (plan.io == WorkerIo::none || plan.stderr_to_null) {
    c.null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!c.null) return sys_fail("open /dev/null");
  }
  switch (plan.io) {
    case WorkerIo::pipes: {
      auto in = make_pipe();
      if (!in) return std::unexpected(in.error());
      auto o = make_pipe();
      if (!o) return std::unexpected(o.error());
      c.in = std::move(in->first);
      out.input = std::move(in->second);
      out.output = std::move(o->first);
      c.out = std::move(o->second);
      a.stdin_src = c.in.get();
      a.stdout_src = c.out.get();
      break;
    }
    case WorkerIo::socketpair: {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return sys_fail("socketpair");
      out.input.reset(sv[0]);
      c.in.reset(sv[1]);
      a.stdin_src = a.stdout_src = c.in.get();
      break;
    }
    case WorkerIo::none:
      a.stdin_src = a.stdout_src = c.null.get();
      break;
  }
  if (plan.stderr_to_null) a.stderr_src = c.null.get();
  return {};
}

// Forks; the child runs run_child(a). Returns once exec succeeded, or with the stage that failed
// (the child reports it on the status pipe, whose write end CLOEXEC closes on a good exec).
Result<void> fork_and_confirm(ChildArgs& a, Launched& out, ChildStdio& c, const std::string& path) {
  auto status = make_pipe();
  if (!status) return std::unexpected(status.error());
  a.status_fd = status->second.get();
  // Blocked across fork so that no signal handler of the service runs in the child.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0) run_child(a);
  int fork_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return sys_fail("fork", fork_err);

  status->second.reset();  // so that read() sees EOF once exec closes the child's copy
  c = {};
  out.pid = pid;
  // Not yet reaped, so the pid cannot have been reused: pidfd_open is race-free here.
  long pfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pfd >= 0) out.pidfd.reset(static_cast<int>(pfd));

  ChildReport r{};
  ssize_t n;
  do {
    n = ::read(status->first.get(), &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return {};  // exec succeeded: CLOEXEC closed the pipe
  int wstatus;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof r))
    return sys_fail(std::string("worker ") + path + ": " + stage_name(r.stage), r.err);
  return fail("worker " + path + ": setup failed without a report", EIO);
}

}  // namespace

Result<Launched> launch(const LaunchPlan& plan) {
  if (plan.argv.empty() || plan.path.empty()) return fail("empty argv", EINVAL);
  if (plan.oom_score_adj < -1000 || plan.oom_score_adj > 1000)
    return fail("oom_score_adj out of [-1000, 1000]", EINVAL);
  std::vector<std::string> argv_store = plan.argv, env_store = plan.env;
  std::vector<char*> argv = c_array(argv_store), envp = c_array(env_store);

  ChildArgs a;
  a.path = plan.path.c_str();
  a.argv = argv.data();
  a.envp = envp.data();
  a.cwd = plan.cwd.empty() ? nullptr : plan.cwd.c_str();
  a.procs = plan.cgroup_procs.empty() ? nullptr : plan.cgroup_procs.c_str();
  std::string adj = std::to_string(plan.oom_score_adj);
  a.adj_len = adj.copy(a.adj, sizeof a.adj - 1);
  a.parent = ::getpid();
  a.core_dumps = plan.core_dumps;
  a.new_netns = plan.new_network_namespace;
  if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0)
    a.max_fd = static_cast<int>(rl.rlim_cur < static_cast<rlim_t>(kMaxFdsToClose)
                                    ? rl.rlim_cur
                                    : static_cast<rlim_t>(kMaxFdsToClose));
  Launched out;
  ChildStdio stdio;
  if (auto w = wire_stdio(plan, a, out, stdio); !w) return std::unexpected(w.error());
  if (auto f = fork_and_confirm(a, out, stdio, plan.path); !f) return std::unexpected(f.error());
  return out;
}

}  // namespace soroka::worker
