// sandbox: what a worker may still do once it opens untrusted input (seccomp, Landlock, network).
#include "worker/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "util/fd.h"

namespace soroka::worker {

namespace {

// Landlock rights newer than Debian 12's <linux/landlock.h> (Linux 6.1 headers stop at ABI 2).
// The values are the kernel's uapi, fixed once released.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
constexpr std::uint64_t LANDLOCK_ACCESS_FS_TRUNCATE = 1ULL << 14;  // ABI 3, Linux 6.2
#endif

std::string errno_text(int err) {
  return fmt::format("{} ({})", std::strerror(err), err);
}

// --- seccomp ----------------------------------------------------------------------------

constexpr std::uint32_t kDeny = SCMP_ACT_ERRNO(EPERM);

// Refused outright, whatever the arguments.
// clang-format off
constexpr std::array kDeniedSyscalls = {
    // running programs, new processes (threads are clone() with CLONE_THREAD, below)
    "execve", "execveat", "fork", "vfork",
    // namespaces and mounts
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    // other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "pidfd_send_signal",
    "tkill", "kcmp",
    // kernel interfaces
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
    "reboot", "init_module", "finit_module", "delete_module", "acct", "swapon", "swapoff",
    "syslog", "quotactl", "quotactl_fd", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "name_to_handle_at",
    "open_by_handle_at", "fanotify_init", "lookup_dcookie", "vhangup", "nfsservctl",
    // files by path; Landlock before ABI 3 does not govern truncation
    "truncate",
};
// clang-format on

// Signals only to itself: the service runs as the same user.
constexpr std::array kSelfOnlySignals = {"kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"};

constexpr std::array<std::uint64_t, 7> kNamespaceFlags = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

struct SeccompCtx {
  void operator()(scmp_filter_ctx c) const noexcept { seccomp_release(c); }
};

// Adds one rule; a syscall this libseccomp or architecture does not know is skipped (it
// cannot be called then either).
int add_rule(scmp_filter_ctx ctx, std::uint32_t action, const char* name,
             std::initializer_list<scmp_arg_cmp> args = {}) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return 0;
  return seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.begin());
}

// socket(): none at all; with `network` (a remote engine's worker) only AF_INET and AF_INET6,
// so still no netlink, packet, or Unix sockets to other daemons. A range of families is
// refused as three rules, because one rule may compare an argument only once.
Result<void> deny_sockets(scmp_filter_ctx c, bool network) {
  auto check = [](int r) -> Result<void> {
    if (r < 0) return fail(fmt::format("seccomp rule socket: {}", errno_text(-r)), -r);
    return {};
  };
  if (!network) return check(add_rule(c, kDeny, "socket"));
  static_assert(AF_INET < AF_INET6);
  if (auto r = check(add_rule(c, kDeny, "socket", {SCMP_A0(SCMP_CMP_LT, AF_INET)})); !r) return r;
  if (auto r = check(add_rule(c, kDeny, "socket", {SCMP_A0(SCMP_CMP_GT, AF_INET6)})); !r) return r;
  for (scmp_datum_t f = AF_INET + 1; f < AF_INET6; ++f)
    if (auto r = check(add_rule(c, kDeny, "socket", {SCMP_A0(SCMP_CMP_EQ, f)})); !r) return r;
  return {};
}

Result<void> load_seccomp(bool network) {
  std::unique_ptr<void, SeccompCtx> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return fail("seccomp_init failed", ENOMEM);
  scmp_filter_ctx c = ctx.get();
  // Every thread gets the filter, not only the caller; no_new_privs (libseccomp's default)
  // lets an unprivileged process load it.
  if (int r = seccomp_attr_set(c, SCMP_FLTATR_CTL_TSYNC, 1); r < 0)
    return fail("seccomp: thread sync unsupported: " + errno_text(-r), -r);
  auto check = [](int r, std::string_view what) -> Result<void> {
    if (r < 0) return fail(fmt::format("seccomp rule {}: {}", what, errno_text(-r)), -r);
    return {};
  };
  for (const char* name : kDeniedSyscalls)
    if (auto r = check(add_rule(c, kDeny, name), name); !r) return r;
  if (auto r = deny_sockets(c, network); !r) return r;
  const auto self = static_cast<scmp_datum_t>(::getpid());
  for (const char* name : kSelfOnlySignals)
    if (auto r = check(add_rule(c, kDeny, name, {SCMP_A0(SCMP_CMP_NE, self)}), name); !r) return r;
  if (auto r =
          check(add_rule(c, kDeny, "socketpair", {SCMP_A0(SCMP_CMP_NE, AF_UNIX)}), "socketpair");
      !r)
    return r;
  // clone(): threads only, and never into new namespaces.
  if (auto r = check(add_rule(c, kDeny, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)}),
                     "clone");
      !r)
    return r;
  for (std::uint64_t flag : kNamespaceFlags)
    if (auto r =
            check(add_rule(c, kDeny, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)}), "clone");
        !r)
      return r;
  // clone3 passes its flags in memory: ENOSYS makes glibc (>= 2.34) fall back to clone().
  if (auto r = check(add_rule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3"), "clone3"); !r) return r;
  // TIOCSTI types into the terminal stderr may be: commands for the shell that owns it.
  if (auto r =
          check(add_rule(c, kDeny, "ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI)}),
                "ioctl");
      !r)
    return r;
  if (int r = seccomp_load(c); r < 0) return fail("seccomp_load: " + errno_text(-r), -r);
  return {};
}

// --- Landlock ---------------------------------------------------------------------------

constexpr std::uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// A file-only rule may carry only these (the kernel refuses directory rights on a file).
constexpr std::uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                      LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;

// Every filesystem right the kernel's ABI knows (and this code names): all are denied unless
// a rule grants them.
std::uint64_t handled_rights(int abi) {
  std::uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) all |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) all |= LANDLOCK_ACCESS_FS_TRUNCATE;
  return all;
}

// Allows `rights` beneath `path` (or on it, for a file); a path that does not exist is
// skipped (/lib64 on some systems).
Result<void> allow(int ruleset, const std::string& path, std::uint64_t rights,
                   std::uint64_t handled) {
  Fd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    return sys_fail("landlock: open " + path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_fail("landlock: stat " + path);
  if (!S_ISDIR(st.st_mode)) rights &= kFileRights;
  landlock_path_beneath_attr attr{};
  attr.allowed_access = rights & handled;
  attr.parent_fd = fd.get();
  if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) != 0)
    return sys_fail("landlock: rule for " + path);
  return {};
}

Result<void> enforce_landlock(int abi, const SandboxParams& p) {
  const std::uint64_t handled = handled_rights(abi);
  landlock_ruleset_attr ra{};
  ra.handled_access_fs = handled;
  Fd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0)));
  if (!ruleset) return sys_fail("landlock_create_ruleset");
  const int rs = ruleset.get();
  // System files a running worker still reads: libraries (dlopen, gconv), /proc/self,
  // /sys/devices/system/cpu (thread counts), /dev/null and /dev/urandom.
  for (const char* dir : {"/usr", "/lib", "/lib64", "/proc", "/sys", "/dev"})
    if (auto r = allow(rs, dir, kRead, handled); !r) return r;
  for (const char* file : {"/etc/ld.so.cache", "/etc/localtime"})
    if (auto r = allow(rs, file, LANDLOCK_ACCESS_FS_READ_FILE, handled); !r) return r;
  for (const auto& d : p.read_dirs)
    if (auto r = allow(rs, d, kRead, handled); !r) return r;
  // A remote engine's worker resolves names and checks TLS certificates.
  if (p.network) {
    for (const char* file : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf",
                             "/etc/host.conf"})
      if (auto r = allow(rs, file, LANDLOCK_ACCESS_FS_READ_FILE, handled); !r) return r;
    if (auto r = allow(rs, "/etc/ssl", kRead, handled); !r) return r;
  }
  // Results: written beside the final name, then renamed within the dir (no REFER needed).
  const std::uint64_t write = kRead | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG |
                              LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
  for (const auto& d : p.write_dirs)
    if (auto r = allow(rs, d, write, handled); !r) return r;
  // landlock_restrict_self needs no_new_privs without CAP_SYS_ADMIN; a worker never gains any.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_fail("PR_SET_NO_NEW_PRIVS");
  if (::syscall(SYS_landlock_restrict_self, rs, 0) != 0) return sys_fail("landlock_restrict_self");
  return {};
}

// Whether this process's network namespace differs from its parent's; nullopt when /proc
// cannot say (the parent's ns link needs ptrace-read access to it).
std::optional<bool> own_network_namespace() {
  struct stat self, parent;
  if (::stat("/proc/self/ns/net", &self) != 0) return std::nullopt;
  std::string pp = fmt::format("/proc/{}/ns/net", ::getppid());
  if (::stat(pp.c_str(), &parent) != 0) return std::nullopt;
  return self.st_ino != parent.st_ino || self.st_dev != parent.st_dev;
}

int thread_count() {
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return 0;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

}  // namespace

int landlock_abi_version() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v > 0 ? static_cast<int>(v) : 0;
}

std::string SandboxReport::summary() const {
  std::string net = own_netns ? (*own_netns ? "own" : "shared") : "unknown";
  return fmt::format("seccomp={} landlock={} landlock_abi={} netns={} threads={}",
                     seccomp ? "on" : "off", landlock ? "on" : "off", landlock_abi, net, threads);
}

SandboxReport apply_sandbox(const SandboxParams& p) {
  SandboxReport rep;
  // Shared (the service had no CAP_SYS_ADMIN) is no gap while seccomp refuses socket(): the
  // summary says netns=shared, and a missing seccomp is reported below.
  rep.own_netns = own_network_namespace();
  rep.threads = thread_count();
  if (rep.threads > 1)
    rep.not_applied.push_back(fmt::format(
        "landlock: {} threads existed before it, only this one is covered", rep.threads - 1));
  // Landlock first: its own syscalls stay allowed by the filter either way.
  rep.landlock_abi = landlock_abi_version();
  if (!p.landlock) {
    rep.not_applied.push_back("landlock: turned off");
  } else if (rep.landlock_abi == 0) {
    int err = errno;
    // ENOSYS: built without Landlock; EOPNOTSUPP: built in, but not enabled at boot (lsm=).
    const char* why = err == ENOSYS       ? "this kernel has no Landlock"
                      : err == EOPNOTSUPP ? "Landlock is not enabled at boot (lsm=)"
                                          : "Landlock refused";
    rep.not_applied.push_back(fmt::format(
        "landlock: {} ({}): the worker can read and write whatever its user may, the state dir "
        "included",
        why, errno_text(err)));
  } else if (auto r = enforce_landlock(rep.landlock_abi, p); !r) {
    rep.not_applied.push_back("landlock: " + r.error().message);
  } else {
    rep.landlock = true;
  }
  if (!p.seccomp) {
    rep.not_applied.push_back("seccomp: turned off");
  } else if (auto r = load_seccomp(p.network); !r) {
    rep.not_applied.push_back("seccomp: " + r.error().message);
  } else {
    rep.seccomp = true;
  }
  return rep;
}

}  // namespace soroka::worker
