// sandbox: what a worker may still do once it opens untrusted input (seccomp, Landlock, network).
//
// A worker decodes files uploaded by anyone, with FFmpeg's demuxers and decoders: a decoder
// bug must not become a way out. After the model is loaded, and before the first input is
// opened, the worker calls apply_sandbox(), which stacks three independent layers:
//
// 1. Network: the service starts workers in a network namespace of their own when it may
//    (CAP_SYS_ADMIN; see LaunchPlan::new_network_namespace), with no interface but a down
//    loopback. apply_sandbox() only reports whether that happened; the seccomp rule on socket()
//    below closes the network where it did not.
//
// 2. seccomp (libseccomp): allow by default, with a deny list. Why not an allow list: FFmpeg,
//    pocketsphinx, glibc and libstdc++ together use a wide syscall set that changes with their
//    versions and the kernel (clone3, rseq, statx, getrandom, futex_waitv, mmap variants, the
//    codecs' threads), and one missing entry kills a worker mid-job on some host we never ran
//    on. The deny list instead names what an exploited decoder needs to do harm or to escape,
//    none of which a worker ever does (each refused call fails with EPERM, so a library that
//    probes gets an error, not a dead process):
//      - socket() of any family (a worker never creates sockets; its stdio is inherited),
//        socketpair() other than AF_UNIX: no TCP/UDP, no netlink, no path or abstract Unix
//        sockets to other daemons (D-Bus, journald, the notify socket);
//      - execve/execveat, fork/vfork and clone() without CLONE_THREAD (threads only), clone3
//        (ENOSYS: its flags sit in memory seccomp cannot read; glibc falls back to clone);
//      - namespaces and mounts: unshare, setns, clone with any CLONE_NEW* flag, mount,
//        umount2, pivot_root, chroot and the new mount API (open_tree, move_mount, fs*);
//      - other processes: ptrace, process_vm_readv/writev, pidfd_getfd, pidfd_send_signal,
//        kill/tgkill/rt_(tg)sigqueueinfo aimed at any pid but its own (the service runs as
//        the same user: one request must never kill it), tkill;
//      - kernel interfaces: bpf, perf_event_open, userfaultfd, io_uring_* (its operations
//        bypass seccomp), keyctl/add_key/request_key, kexec_*, reboot, *_module, acct,
//        swapon/off, syslog, quotactl, clock/time setting, sethostname/setdomainname,
//        iopl/ioperm, name_to_handle_at/open_by_handle_at, fanotify_init, ioctl(TIOCSTI);
//      - truncate(path) (ftruncate of an fd it opened stays allowed): Landlock before ABI 3
//        does not govern truncation.
//    Syscalls of other ABIs (i386, x32) kill the process (libseccomp's bad-arch action).
//
// 3. Landlock (kernel >= 5.13 with "landlock" in its LSM list; landlock_create_ruleset's
//    version query is the authority, /sys/kernel/security/lsm is often not mounted):
//    the filesystem becomes an allow list. Readable: /usr, /lib, /lib64, /proc, /sys, /dev
//    (libraries loaded lazily, /proc/self, CPU counts), /etc/ld.so.cache, /etc/localtime,
//    and the directories in `read_dirs` (uploads, the model). Writable: only `write_dirs`
//    (results: create, write, truncate, rename within, remove) and /proc/self/clear_refs
//    (per-job peak RSS). Everything else, the rest of the state dir (jobs.sqlite) and
//    /etc/soroka included, can be neither read nor written, and nothing can be executed.
//    Landlock also keeps the worker from ptrace-style access (/proc/PID/mem, environ, fd) to
//    any process outside its domain, such as the service.
//    Landlock restricts the calling thread and the threads it creates later: call this while
//    the worker has one thread (it says in the report when it had more).
//
// Remote engines (engine/remote/, SandboxParams::network): a worker whose engine is a Whisper
// server elsewhere has the network, because it is the worker that streams the decoded chunks
// out, and the media must still be decoded in a sandboxed process (never in the service).
// Its sandbox keeps seccomp (no exec, fork, namespaces, ptrace, Unix sockets to local
// daemons) and Landlock (no file outside its dirs); what it gains is TCP/UDP. An exploited
// decoder in such a worker could therefore talk to the network as the service's user: the
// operator limits that with a firewall or systemd's IPAddressAllow= to the engines' hosts
// (docs/remote-engines.en.md). Workers of local models are unchanged: no network at all.
//
// What could not be applied is never claimed: the report lists each layer as applied or not,
// with the reason (kernel without Landlock, seccomp refused, not permitted to unshare).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace soroka::worker {

struct SandboxParams {
  std::vector<std::string> read_dirs;   // read-only: the uploads dir, the model dir
  std::vector<std::string> write_dirs;  // read-write: the results dir
  bool seccomp = true;
  bool landlock = true;
  // A remote engine's worker (engine/remote/): it must reach its transcription server, so the
  // service starts it in the host's network namespace and seccomp lets socket() make
  // AF_INET/AF_INET6 sockets (no Unix, netlink or packet sockets); Landlock adds the files
  // name resolution and TLS read (/etc/resolv.conf, hosts, nsswitch.conf, gai.conf,
  // host.conf, /etc/ssl). Every other layer stays. See "Remote engines" above.
  bool network = false;
};

struct SandboxReport {
  bool seccomp = false;           // the filter is loaded
  int landlock_abi = 0;           // the kernel's Landlock ABI; 0: none
  bool landlock = false;          // the ruleset is enforced
  std::optional<bool> own_netns;  // the worker has a network namespace apart from its parent's
  int threads = 0;                // threads when the sandbox was applied (1: all covered)
  std::vector<std::string> not_applied;  // "landlock: ..." for every layer that is missing

  // One line for logs: "seccomp=on landlock=on landlock_abi=7 netns=own threads=1".
  std::string summary() const;
};

// Applies the layers in `p` to the calling process (seccomp: every thread; Landlock: this
// thread and those it creates). Irreversible. Never fails as a whole: what could not be done
// is in not_applied, for the caller to log.
SandboxReport apply_sandbox(const SandboxParams& p);

// The kernel's Landlock ABI version, 0 when Landlock is absent or disabled.
int landlock_abi_version();

}  // namespace soroka::worker
