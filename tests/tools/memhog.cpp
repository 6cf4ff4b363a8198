// soroka-memhog: a test process that joins a cgroup and allocates/free memory on command.
//
// Commands on stdin, one per line; each answered on stdout:
//   alloc N        allocate and touch N MiB           -> "ok TOTAL_MIB"
//   alloc_timed N  the same, one MiB at a time, and    -> "ok TOTAL_MIB T1 T2 ... TN"
//                  the CLOCK_MONOTONIC ns after each MiB
//   free           free everything, malloc_trim        -> "ok 0"
//   exit
// Usage: soroka-memhog [CGROUP_DIR]   (joins CGROUP_DIR/cgroup.procs first, prints "ready")
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// mmap'd blocks so that free really returns memory (no allocator caching).
std::vector<void*> blocks;

void* touch_mib() {
  void* p = mmap(nullptr, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  std::memset(p, 0x5a, kMiB);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::string procs = std::string(argv[1]) + "/cgroup.procs";
    int fd = open(procs.c_str(), O_WRONLY);
    std::string me = std::to_string(getpid());
    if (fd < 0 || write(fd, me.data(), me.size()) < 0) {
      std::perror(procs.c_str());
      return 2;
    }
    close(fd);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::puts("ready");
  char line[256];
  while (std::fgets(line, sizeof line, stdin)) {
    char cmd[32] = {0};
    long n = 0;
    if (std::sscanf(line, "%31s %ld", cmd, &n) < 1) continue;
    std::string c = cmd;
    if (c == "alloc" || c == "alloc_timed") {
      std::string stamps;
      for (long i = 0; i < n; ++i) {
        void* p = touch_mib();
        if (!p) {
          std::puts("error mmap");
          break;
        }
        blocks.push_back(p);
        if (c == "alloc_timed") stamps += " " + std::to_string(now_ns());
      }
      std::printf("ok %zu%s\n", blocks.size(), stamps.c_str());
    } else if (c == "free") {
      for (void* p : blocks) munmap(p, kMiB);
      blocks.clear();
      malloc_trim(0);
      std::puts("ok 0");
    } else if (c == "exit") {
      return 0;
    } else {
      std::puts("error unknown command");
    }
  }
  return 0;
}
