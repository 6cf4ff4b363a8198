// Worker sandbox on the real kernel: a forked child applies it, then tries what it must not do.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/loopback.h"
#include "worker/launch.h"
#include "worker/sandbox.h"

namespace soroka::worker {
namespace {

namespace fs = std::filesystem;

// What one attempted call returned in the sandboxed child.
struct Outcome {
  long ret = 0;
  int err = 0;
  bool ok() const { return ret >= 0; }
};

// A state dir laid out as the service's: jobs.sqlite beside uploads/ and results/.
class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "soroka-sandbox-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    state_ = tmpl;
    fs::create_directories(state_ / "uploads");
    fs::create_directories(state_ / "results");
    std::ofstream(state_ / "jobs.sqlite") << "the job store";
    std::ofstream(state_ / "uploads" / "in.wav") << "input bytes";
    // A TCP listener in this (the parent's) namespace that the child will try to reach.
    ASSERT_TRUE(listener_.ok());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(state_, ec);
  }

  // Forks; the child applies the sandbox and runs every probe, reporting "name ret errno" lines.
  std::map<std::string, Outcome> probe_in_sandbox(SandboxReport& report) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      child(p[1]);
    }
    ::close(p[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status << "\n"
                                                               << text;
    std::map<std::string, Outcome> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string name;
      ls >> name;
      if (name == "report") {
        ls >> report.seccomp >> report.landlock >> report.landlock_abi;
        std::getline(ls, line);
        if (!line.empty()) report.not_applied.push_back(line);
        continue;
      }
      Outcome o;
      ls >> o.ret >> o.err;
      out[name] = o;
    }
    return out;
  }

  [[noreturn]] void child(int fd) {
    auto put = [fd](const std::string& name, long ret) {
      std::string l =
          name + " " + std::to_string(ret) + " " + std::to_string(ret < 0 ? errno : 0) + "\n";
      (void)!::write(fd, l.data(), l.size());
    };
    SandboxParams sp;
    sp.network = network_;
    sp.read_dirs = {(state_ / "uploads").string()};
    sp.write_dirs = {(state_ / "results").string()};
    SandboxReport rep = apply_sandbox(sp);
    std::string r = "report " + std::to_string(rep.seccomp) + " " + std::to_string(rep.landlock) +
                    " " + std::to_string(rep.landlock_abi);
    for (const auto& m : rep.not_applied) r += " " + m + ";";
    r += "\n";
    (void)!::write(fd, r.data(), r.size());

    // Network.
    int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    put("socket_inet", tcp);
    if (tcp >= 0) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(listener_.port()));
      put("connect_tcp", ::connect(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a));
    } else {
      put("connect_tcp", -1);
    }
    put("socket_inet6", ::socket(AF_INET6, SOCK_DGRAM, 0));
    put("socket_unix", ::socket(AF_UNIX, SOCK_STREAM, 0));
    put("socket_netlink", ::socket(AF_NETLINK, SOCK_RAW, 0));
    put("socket_packet", ::socket(AF_PACKET, SOCK_DGRAM, 0));
    put("socket_ax25", ::socket(AF_AX25, SOCK_SEQPACKET, 0));
    int sv[2];
    put("socketpair_unix", ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    // Programs and processes.
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    char* const envp[] = {nullptr};
    put("execve", ::execve("/bin/true", argv, envp));  // success would end the child: no report
    pid_t f = ::fork();
    if (f == 0) ::_exit(0);
    put("fork", f);
    if (f > 0) ::waitpid(f, nullptr, 0);
    bool thread_ran = false;
    try {
      std::thread([&] { thread_ran = true; }).join();
    } catch (...) {
    }
    put("thread", thread_ran ? 0 : -1);
    put("kill_parent", ::kill(::getppid(), 0));
    put("kill_all", ::kill(-1, 0));
    put("kill_self", ::kill(::getpid(), 0));
    put("ptrace_parent", ::ptrace(PTRACE_ATTACH, ::getppid(), nullptr, nullptr));
    put("unshare_user", ::unshare(CLONE_NEWUSER));
    // Files.
    const std::string db = (state_ / "jobs.sqlite").string();
    put("open_db_write", ::open(db.c_str(), O_WRONLY));
    put("open_db_read", ::open(db.c_str(), O_RDONLY));
    put("truncate_db", ::truncate(db.c_str(), 0));
    put("unlink_db", ::unlink(db.c_str()));
    put("create_in_state", ::open((state_ / "new").c_str(), O_WRONLY | O_CREAT, 0600));
    put("create_in_uploads",
        ::open((state_ / "uploads" / "new").c_str(), O_WRONLY | O_CREAT, 0600));
    put("open_etc_passwd", ::open("/etc/passwd", O_RDONLY));
    int in = ::open((state_ / "uploads" / "in.wav").c_str(), O_RDONLY);
    put("open_input", in);
    char b[64] = {};
    put("read_input", in >= 0 ? ::read(in, b, sizeof b) : -1);
    const std::string part = (state_ / "results" / "j.json.partial").string();
    int res = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    put("create_result", res);
    put("write_result", res >= 0 ? ::write(res, "{}", 2) : -1);
    put("rename_result", ::rename(part.c_str(), (state_ / "results" / "j.json").c_str()));
    put("open_libc", ::open("/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY));
    put("read_proc_self", ::open("/proc/self/status", O_RDONLY));
    ::_exit(0);
  }

  fs::path state_;
  test::LoopbackListener listener_{4};
  bool network_ = false;  // SandboxParams::network: a remote engine's worker
};

TEST_F(SandboxTest, SeccompRefusesNetworkExecAndOtherProcesses) {
  SandboxReport rep;
  auto o = probe_in_sandbox(rep);
  ASSERT_TRUE(rep.seccomp) << "seccomp filter not loaded";
  // Network: no socket of any family, so no TCP connection to the listener here.
  EXPECT_EQ(o["socket_inet"].err, EPERM);
  EXPECT_FALSE(o["connect_tcp"].ok());
  EXPECT_EQ(o["socket_inet6"].err, EPERM);
  EXPECT_EQ(o["socket_unix"].err, EPERM);
  EXPECT_EQ(o["socket_netlink"].err, EPERM);
  EXPECT_TRUE(o["socketpair_unix"].ok());
  // No programs, no processes; threads still work (clone3 -> ENOSYS -> clone with CLONE_THREAD).
  ASSERT_TRUE(o.count("execve")) << "execve succeeded: the child became /bin/true";
  EXPECT_EQ(o["execve"].err, EPERM);
  EXPECT_EQ(o["fork"].err, EPERM);
  EXPECT_TRUE(o["thread"].ok());
  // Signals to itself only: the service runs as the same user.
  EXPECT_EQ(o["kill_parent"].err, EPERM);
  EXPECT_EQ(o["kill_all"].err, EPERM);
  EXPECT_TRUE(o["kill_self"].ok());
  EXPECT_EQ(o["ptrace_parent"].err, EPERM);
  EXPECT_EQ(o["unshare_user"].err, EPERM);
  EXPECT_EQ(o["truncate_db"].err, EPERM);
  // The listener never saw a connection.
  int fl = ::fcntl(listener_.fd(), F_GETFL);
  ::fcntl(listener_.fd(), F_SETFL, fl | O_NONBLOCK);
  EXPECT_LT(::accept(listener_.fd(), nullptr, nullptr), 0);
}

// A remote engine's worker: TCP/UDP to its server, and still no Unix, netlink or packet
// sockets, no programs, no processes.
TEST_F(SandboxTest, ARemoteEnginesWorkerGetsTcpAndNothingElse) {
  network_ = true;
  SandboxReport rep;
  auto o = probe_in_sandbox(rep);
  ASSERT_TRUE(rep.seccomp) << "seccomp filter not loaded";
  EXPECT_TRUE(o["socket_inet"].ok());
  EXPECT_TRUE(o["connect_tcp"].ok());
  EXPECT_TRUE(o["socket_inet6"].ok());
  EXPECT_EQ(o["socket_unix"].err, EPERM);
  EXPECT_EQ(o["socket_netlink"].err, EPERM);
  EXPECT_EQ(o["socket_packet"].err, EPERM);
  EXPECT_EQ(o["socket_ax25"].err, EPERM);  // a family between AF_INET and AF_INET6
  EXPECT_EQ(o["execve"].err, EPERM);
  EXPECT_EQ(o["fork"].err, EPERM);
  EXPECT_EQ(o["kill_parent"].err, EPERM);
  EXPECT_EQ(o["truncate_db"].err, EPERM);
}

TEST_F(SandboxTest, LandlockConfinesFilesToUploadsAndResults) {
  if (landlock_abi_version() == 0)
    GTEST_SKIP()
        << "this kernel has no Landlock (landlock_create_ruleset refused): the worker logs "
           "event=worker_sandbox_incomplete instead";
  SandboxReport rep;
  auto o = probe_in_sandbox(rep);
  ASSERT_TRUE(rep.landlock) << (rep.not_applied.empty() ? "" : rep.not_applied.front());
  // The rest of the state dir: jobs.sqlite can be neither written, read nor removed.
  EXPECT_EQ(o["open_db_write"].err, EACCES);
  EXPECT_EQ(o["open_db_read"].err, EACCES);
  EXPECT_FALSE(o["unlink_db"].ok());
  EXPECT_EQ(o["create_in_state"].err, EACCES);
  EXPECT_EQ(o["create_in_uploads"].err, EACCES);
  EXPECT_EQ(o["open_etc_passwd"].err, EACCES);
  // What a job needs still works.
  EXPECT_TRUE(o["open_input"].ok());
  EXPECT_EQ(o["read_input"].ret, 11);  // "input bytes"
  EXPECT_TRUE(o["create_result"].ok());
  EXPECT_EQ(o["write_result"].ret, 2);
  EXPECT_TRUE(o["rename_result"].ok());
  EXPECT_TRUE(o["open_libc"].ok());
  EXPECT_TRUE(o["read_proc_self"].ok());
  // And nothing changed outside results/.
  std::ifstream db(state_ / "jobs.sqlite");
  std::string content((std::istreambuf_iterator<char>(db)), {});
  EXPECT_EQ(content, "the job store");
  EXPECT_TRUE(fs::exists(state_ / "results" / "j.json"));
  EXPECT_FALSE(fs::exists(state_ / "new"));
}

}  // namespace
}  // namespace soroka::worker

namespace soroka::worker {
namespace {

// Whether this process may create a network namespace (CAP_SYS_ADMIN), found out in a child.
bool may_unshare_net() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(::unshare(CLONE_NEWNET) == 0 ? 0 : 1);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

std::string read_all(int fd) {
  std::string s;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

// launch(): new_network_namespace gives the worker a namespace of its own where permitted,
// and never stops the launch where not.
TEST(LaunchNetns, OwnNamespaceWhenPermitted) {
  LaunchPlan plan;
  plan.path = "/bin/readlink";
  plan.argv = {"readlink", "/proc/self/ns/net"};
  plan.io = WorkerIo::pipes;
  plan.new_network_namespace = true;
  auto l = launch(plan);
  ASSERT_TRUE(l) << l.error().message;
  l->input.reset();
  std::string child = read_all(l->output.get());
  int st = 0;
  ::waitpid(l->pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char self[128] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", self, sizeof self - 1), 0);
  ASSERT_FALSE(child.empty());
  if (child.back() == '\n') child.pop_back();
  if (may_unshare_net())
    EXPECT_NE(child, self) << "permitted, yet the worker shares our network namespace";
  else
    EXPECT_EQ(child, self);  // refused (no CAP_SYS_ADMIN): started anyway, seccomp covers it
}

}  // namespace
}  // namespace soroka::worker
