// Test helpers for real cgroup v1: a temporary limited memory cgroup and a memory hog in it.
#include "support/cgroup_v1.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace soroka::test {

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
bool put(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return static_cast<bool>(f);
}
}  // namespace

bool v1_memory_available(std::string* why) {
  if (::geteuid() != 0) {
    if (why) *why = "not root: cannot create cgroups";
    return false;
  }
  if (::access((std::string(V1Cgroup::kMount) + "/memory.limit_in_bytes").c_str(), R_OK) != 0) {
    if (why) *why = std::string("no cgroup v1 memory controller at ") + V1Cgroup::kMount;
    return false;
  }
  if (::access(V1Cgroup::kMount, W_OK) != 0) {
    if (why) *why = std::string(V1Cgroup::kMount) + " is not writable";
    return false;
  }
  return true;
}

std::optional<V1Cgroup> V1Cgroup::create(std::uint64_t limit_bytes, std::string* why_not) {
  if (!v1_memory_available(why_not)) return std::nullopt;
  static std::atomic<int> counter{0};
  std::string dir = std::string(kMount) + "/soroka-test-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + "-" + std::to_string(::time(nullptr));
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (why_not) *why_not = "mkdir " + dir + ": " + std::strerror(errno);
    return std::nullopt;
  }
  V1Cgroup cg(dir);
  if (!put(dir + "/memory.limit_in_bytes", std::to_string(limit_bytes))) {
    if (why_not) *why_not = "cannot set memory.limit_in_bytes in " + dir;
    return std::nullopt;
  }
  return cg;
}

V1Cgroup::V1Cgroup(V1Cgroup&& o) noexcept : dir_(std::move(o.dir_)) { o.dir_.clear(); }

V1Cgroup& V1Cgroup::operator=(V1Cgroup&& o) noexcept {
  if (this != &o) {
    destroy();
    dir_ = std::move(o.dir_);
    o.dir_.clear();
  }
  return *this;
}

V1Cgroup::~V1Cgroup() { destroy(); }

void V1Cgroup::destroy() {
  if (dir_.empty()) return;
  for (int attempt = 0; attempt < 50; ++attempt) {
    // Children first (a service under test makes worker cgroups inside ours and may be killed
    // before it removes them), deepest first; every process in any of them killed.
    std::vector<std::string> dirs;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory(ec)) dirs.push_back(it->path().string());
    std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    dirs.push_back(dir_);
    bool any = false;
    for (const auto& d : dirs) {
      std::istringstream procs(slurp(d + "/cgroup.procs"));
      pid_t p;
      while (procs >> p) {
        ::kill(p, SIGKILL);
        any = true;
      }
    }
    for (std::size_t i = 0; i + 1 < dirs.size(); ++i) ::rmdir(dirs[i].c_str());
    if (::rmdir(dir_.c_str()) == 0) {
      dir_.clear();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(any ? 20 : 50));
  }
}

std::string V1Cgroup::path() const { return dir_.substr(std::strlen(kMount)); }

std::uint64_t V1Cgroup::usage() const {
  return std::stoull("0" + slurp(dir_ + "/memory.usage_in_bytes"));
}

std::uint64_t V1Cgroup::oom_kills() const {
  std::istringstream in(slurp(dir_ + "/memory.oom_control"));
  std::string k;
  std::uint64_t v = 0;
  while (in >> k >> v)
    if (k == "oom_kill") return v;
  return 0;
}

std::optional<Hog> Hog::spawn(const std::string& cgroup_dir) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return std::nullopt;
  if (::pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    const char* path = SOROKA_MEMHOG;
    if (cgroup_dir.empty())
      ::execl(path, path, static_cast<char*>(nullptr));
    else
      ::execl(path, path, cgroup_dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  Hog h;
  h.pid_ = pid;
  h.to_ = in[1];
  h.from_ = out[0];
  auto ready = h.command("", std::chrono::seconds(10));
  if (!ready || *ready != "ready") return std::nullopt;
  return h;
}

Hog::Hog(Hog&& o) noexcept
    : pid_(o.pid_), to_(o.to_), from_(o.from_), buffered_(std::move(o.buffered_)),
      reaped_(o.reaped_), mu_(std::move(o.mu_)) {
  o.pid_ = -1, o.to_ = -1, o.from_ = -1;
}

Hog::~Hog() {
  if (to_ >= 0) ::close(to_);
  if (from_ >= 0) ::close(from_);
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::optional<std::string> Hog::command(const std::string& cmd, std::chrono::milliseconds timeout) {
  std::lock_guard lk(*mu_);
  if (!cmd.empty()) {
    std::string line = cmd + "\n";
    if (::write(to_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return std::nullopt;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string reply = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return reply;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{from_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(from_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // EOF: the hog died
    buffered_.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<int> Hog::wait_end(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace soroka::test
