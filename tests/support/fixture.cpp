// FixtureTree: a fake /proc and cgroupfs in a temp dir per test, filled with real kernel text.
#include "support/fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace soroka::test {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const std::string& what, int err = errno) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

}  // namespace

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// O_TRUNC keeps the inode: readers holding the file open see the new content.
void put(const std::string& path, std::string_view text) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) die("cannot create parent of " + path, ec.value());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("cannot open " + path);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      die("cannot write " + path, err);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::string limit_text(const std::optional<std::uint64_t>& v) {
  return v ? fmt::format("{}\n", *v) : std::string("max\n");
}

std::string strip_slashes(std::string_view rel) {
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  while (!rel.empty() && rel.back() == '/') rel.remove_suffix(1);
  return std::string(rel);
}

constexpr std::string_view kZeroPsi =
    "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

}  // namespace

std::string fixtures_dir() {
  return SOROKA_FIXTURES_DIR;
}

std::string fixture_text(std::string_view rel) {
  return read_text(fixtures_dir() + "/" + std::string(rel));
}

FixtureTree::FixtureTree() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/soroka-fixture-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) die("mkdtemp " + tmpl);
  root_ = buf.data();
}

FixtureTree::~FixtureTree() {
  std::error_code ec;
  fs::remove_all(root_, ec);  // best effort: a destructor must not throw
}

std::string FixtureTree::path(std::string_view rel) const {
  std::string r = strip_slashes(rel);
  return r.empty() ? root_ : root_ + "/" + r;
}

void FixtureTree::write(std::string_view rel, std::string_view text) const {
  put(path(rel), text);
}

std::string FixtureTree::read(std::string_view rel) const {
  return read_text(path(rel));
}

bool FixtureTree::exists(std::string_view rel) const {
  std::error_code ec;
  return fs::exists(path(rel), ec);
}

void FixtureTree::remove(std::string_view rel) const {
  std::error_code ec;
  fs::remove_all(path(rel), ec);
  if (ec) die("cannot remove " + path(rel), ec.value());
}

std::string FixtureTree::mkdir(std::string_view rel) const {
  std::error_code ec;
  fs::create_directories(path(rel), ec);
  if (ec) die("cannot create " + path(rel), ec.value());
  return path(rel);
}

void FixtureTree::copy_scenario(std::string_view name) const {
  std::string dir = std::string(name);
  if (!dir.ends_with(".fakeroot")) dir += ".fakeroot";
  const fs::path src = fs::path(fixtures_dir()) / dir;
  std::error_code ec;
  if (!fs::is_directory(src, ec)) die("no scenario " + src.string(), ENOENT);
  for (fs::recursive_directory_iterator it(src, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), src);
    if (it->is_directory()) {
      mkdir(rel.string());
    } else if (it->is_regular_file()) {
      std::string text = read_text(it->path().string());
      for (std::size_t at = text.find("@ROOT@"); at != std::string::npos;
           at = text.find("@ROOT@", at + root_.size()))
        text.replace(at, 6, root_);
      write(rel.string(), text);
    }
  }
  if (ec) die("cannot copy " + src.string(), ec.value());
}

void FixtureTree::write_meminfo(std::string_view text) const {
  write("proc/meminfo", text);
}

void FixtureTree::write_meminfo(std::uint64_t total_kb, std::uint64_t free_kb,
                                std::uint64_t available_kb) const {
  write_meminfo(meminfo_text(total_kb, free_kb, available_kb));
}

void FixtureTree::write_system_psi(std::string_view text) const {
  write("proc/pressure/memory", text);
}

void FixtureTree::write_process(std::string_view pid, const FakeProcess& p) const {
  const std::string dir = "proc/" + std::string(pid);
  // statm: size resident shared text lib data dt (pages), as 6.x prints it.
  write(dir + "/statm", fmt::format("{} {} 1677 1 0 {} 0\n", p.rss_pages + 757, p.rss_pages,
                                    p.rss_pages > 1365 ? p.rss_pages - 1365 : 0));
  write(dir + "/cgroup", p.cgroup);
  if (p.mountinfo) write(dir + "/mountinfo", *p.mountinfo);
}

std::string FixtureTree::make_v2_cgroup(std::string_view rel, const V2Group& g) const {
  const std::string dir = "sys/fs/cgroup/" + strip_slashes(rel);
  mkdir(dir);
  write(dir + "/cgroup.controllers", "memory pids\n");
  write(dir + "/memory.current", fmt::format("{}\n", g.current));
  write(dir + "/memory.max", limit_text(g.max));
  write(dir + "/memory.high", limit_text(g.high));
  write(dir + "/memory.swap.max", limit_text(g.swap_max));
  write(dir + "/memory.stat",
        g.stat ? *g.stat : v2_memory_stat_text(g.anon, g.inactive_file, g.active_file));
  write(dir + "/memory.events", v2_events_text(g.high_events, g.max_events, g.oom_kills));
  if (g.pressure) write(dir + "/memory.pressure", kZeroPsi);
  return path(dir);
}

std::string FixtureTree::make_v1_cgroup(std::string_view rel, const V1Group& g) const {
  const std::string dir = "sys/fs/cgroup/memory/" + strip_slashes(rel);
  mkdir(dir);
  write(dir + "/memory.usage_in_bytes", fmt::format("{}\n", g.usage));
  write(dir + "/memory.limit_in_bytes", fmt::format("{}\n", g.limit.value_or(kV1NoLimit)));
  write(dir + "/memory.stat",
        g.stat ? *g.stat : v1_memory_stat_text(g.rss, g.inactive_file, g.active_file, g.limit));
  write(dir + "/memory.failcnt", fmt::format("{}\n", g.failcnt));
  write(dir + "/memory.oom_control",
        fmt::format("oom_kill_disable 0\nunder_oom 0\noom_kill {}\n", g.oom_kills));
  write(dir + "/memory.memsw.limit_in_bytes",
        fmt::format("{}\n", g.memsw_limit.value_or(kV1NoLimit)));
  return path(dir);
}

oomguard::Roots FixtureTree::roots() const {
  oomguard::Roots r;
  r.proc = proc();
  std::error_code ec;
  if (fs::is_directory(v1_mount(), ec)) {
    r.cgroup_v1_memory = v1_mount();
    r.cgroup_v2 = fs::is_directory(hybrid_v2_mount(), ec) ? hybrid_v2_mount() : std::string();
  } else {
    r.cgroup_v1_memory = std::string();
    r.cgroup_v2 = fs::is_directory(v2_mount(), ec) ? v2_mount() : std::string();
  }
  return r;
}

oomguard::Roots FixtureTree::roots_from_mountinfo() const {
  oomguard::Roots r;
  r.proc = proc();
  return r;
}

std::string meminfo_text(std::uint64_t total_kb, std::uint64_t free_kb, std::uint64_t available_kb,
                         std::uint64_t swap_total_kb, std::uint64_t swap_free_kb) {
  // The kernel's show_val_kb(): a 16-column label, the value right-aligned in 8, " kB".
  auto line = [](std::string_view label, std::uint64_t kb) {
    return fmt::format("{:<16}{:>8} kB\n", label, kb);
  };
  const std::uint64_t used = total_kb - std::min(free_kb, total_kb);
  const std::uint64_t cached = available_kb > free_kb ? (available_kb - free_kb) : 0;
  std::string s;
  s += line("MemTotal:", total_kb);
  s += line("MemFree:", free_kb);
  s += line("MemAvailable:", available_kb);
  s += line("Buffers:", 2052);
  s += line("Cached:", cached);
  s += line("SwapCached:", 0);
  s += line("Active:", used / 3);
  s += line("Inactive:", used / 3);
  s += line("Unevictable:", 12312);
  s += line("Mlocked:", 11260);
  s += line("SwapTotal:", swap_total_kb);
  s += line("SwapFree:", swap_free_kb);
  s += line("Zswap:", 0);
  s += line("Zswapped:", 0);
  s += line("Dirty:", 460);
  s += line("Writeback:", 0);
  s += line("AnonPages:", used / 2);
  s += line("Mapped:", 10780);
  s += line("Shmem:", 8856);
  s += line("KReclaimable:", 65652);
  s += line("Slab:", 87600);
  s += line("SReclaimable:", 65652);
  s += line("SUnreclaim:", 21948);
  s += line("KernelStack:", 1364);
  s += line("PageTables:", 1948);
  s += line("CommitLimit:", total_kb / 2);
  s += line("Committed_AS:", used);
  s += line("VmallocTotal:", 34359738367ULL);
  s += "HugePages_Total:       0\n";  // hugetlb_report_meminfo(): a count, no " kB"
  s += line("Hugepagesize:", 2048);
  s += line("DirectMap4k:", 30720);
  return s;
}

std::string v2_memory_stat_text(std::uint64_t anon, std::uint64_t inactive_file,
                                std::uint64_t active_file) {
  const std::uint64_t file = inactive_file + active_file;
  const std::uint64_t active_anon = anon / 64;
  std::string s;
  auto kv = [&s](std::string_view k, std::uint64_t v) { s += fmt::format("{} {}\n", k, v); };
  // Key order of mm/memcontrol.c memory_stats[] + memcg_vm_event_stat[] on 6.8.
  kv("anon", anon);
  kv("file", file);
  kv("kernel", 20971520);
  kv("kernel_stack", 1654784);
  kv("pagetables", 5476352);
  kv("sec_pagetables", 0);
  kv("percpu", 423360);
  kv("sock", 8192);
  kv("vmalloc", 65536);
  kv("shmem", 0);
  kv("zswap", 0);
  kv("zswapped", 0);
  kv("file_mapped", file / 4);
  kv("file_dirty", 20480);
  kv("file_writeback", 0);
  kv("swapcached", 0);
  kv("anon_thp", 0);
  kv("file_thp", 0);
  kv("shmem_thp", 0);
  kv("inactive_anon", anon - active_anon);
  kv("active_anon", active_anon);
  kv("inactive_file", inactive_file);
  kv("active_file", active_file);
  kv("unevictable", 0);
  kv("slab_reclaimable", 7340032);
  kv("slab_unreclaimable", 6076992);
  kv("slab", 13417024);
  for (std::string_view k :
       {"workingset_refault_anon", "workingset_refault_file", "workingset_activate_anon",
        "workingset_activate_file", "workingset_restore_anon", "workingset_restore_file",
        "workingset_nodereclaim", "pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged",
        "pgscan", "pgsteal", "pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged",
        "pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged"})
    kv(k, 0);
  kv("pgfault", 412311);
  kv("pgmajfault", 93);
  for (std::string_view k :
       {"pgrefill", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "zswpin", "zswpout",
        "zswpwb", "thp_fault_alloc", "thp_collapse_alloc", "thp_swpout", "thp_swpout_fallback"})
    kv(k, 0);
  return s;
}

std::string v1_memory_stat_text(std::uint64_t rss, std::uint64_t inactive_file,
                                std::uint64_t active_file, std::optional<std::uint64_t> limit) {
  const std::uint64_t cache = inactive_file + active_file;
  std::string local, total;
  auto kv = [&](std::string_view k, std::uint64_t v) {
    local += fmt::format("{} {}\n", k, v);
    total += fmt::format("total_{} {}\n", k, v);
  };
  kv("cache", cache);
  kv("rss", rss);
  kv("rss_huge", 0);
  kv("shmem", 0);
  kv("mapped_file", 0);
  kv("dirty", 4096);
  kv("writeback", 0);
  kv("workingset_refault_anon", 0);
  kv("workingset_refault_file", 1);
  kv("swap", 0);
  kv("swapcached", 0);
  kv("pgpgin", 33298);
  kv("pgpgout", 8450);
  kv("pgfault", 33282);
  kv("pgmajfault", 0);
  kv("inactive_anon", rss);
  kv("active_anon", 0);
  kv("inactive_file", inactive_file);
  kv("active_file", active_file);
  kv("unevictable", 0);
  local += fmt::format("hierarchical_memory_limit {}\nhierarchical_memsw_limit {}\n",
                       limit.value_or(kV1NoLimit), kV1NoLimit);
  return local + total;
}

std::string v2_events_text(std::uint64_t high, std::uint64_t max, std::uint64_t oom_kill) {
  return fmt::format("low 0\nhigh {}\nmax {}\noom {}\noom_kill {}\noom_group_kill 0\n", high, max,
                     oom_kill, oom_kill);
}

std::string psi_text(double some_avg10, std::uint64_t some_total, double full_avg10,
                     std::uint64_t full_total) {
  return fmt::format(
      "some avg10={:.2f} avg60=0.00 avg300=0.00 total={}\n"
      "full avg10={:.2f} avg60=0.00 avg300=0.00 total={}\n",
      some_avg10, some_total, full_avg10, full_total);
}

std::string mountinfo_text(std::string_view v2_mount, std::string_view v1_memory_mount) {
  std::string s =
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n";
  if (!v1_memory_mount.empty())
    s += fmt::format("35 31 0:32 / {} rw,relatime - cgroup cgroup rw,memory\n", v1_memory_mount);
  if (!v2_mount.empty())
    s += fmt::format(
        "41 31 0:38 / {} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
        "rw,nsdelegate,memory_recursiveprot\n",
        v2_mount);
  return s;
}

}  // namespace soroka::test
