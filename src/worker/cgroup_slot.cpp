// CgroupSlot: one worker's own memory cgroup (create, limit, measure, remove) on v2, v1 or none.
#include "worker/cgroup_slot.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "oomguard/probe/cgroup_locate.h"
#include "util/file_reader.h"
#include "util/parse.h"
#include "util/text.h"

namespace soroka::worker {

namespace {

// rmdir of a cgroup fails with EBUSY until its last task has finished exiting. Freeing a
// 64 MiB worker took 2-5 ms on the 6.x test VM, a few GB take tens of ms: 50 x 20 ms = 1 s.
constexpr int kRemoveTries = 50;
constexpr auto kRemoveRetryDelay = std::chrono::milliseconds(20);
// Moving the service's processes races with any fork it does meanwhile; 3 rounds of
// list-move-enable cover a start-up that forks a helper or two.
constexpr int kEnableRounds = 3;

std::string join(const std::string& mount, const std::string& rel) {
  if (rel.empty() || rel == "/") return mount;
  return mount + rel;
}

std::string strip_trailing_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string_view basename(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

std::string dirname(const std::string& p) {
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n == "." || n == "..") return false;
  return std::all_of(n.begin(), n.end(), name_char);
}

// Longest worker name part of a slot name: "<name>-<pid>-<n>" stays within valid_name's 64.
constexpr std::size_t kMaxNamePart = 24;

Result<std::uint64_t> read_counter(CgroupFs& fs, const std::string& path) {
  auto text = fs.read(path);
  if (!text) return std::unexpected(text.error());
  auto v = parse::u64(parse::trim(*text));
  if (!v) return fail("malformed counter in " + path, EINVAL);
  return *v;
}

// Kills the tasks (when asked) and rmdirs, retrying while exiting tasks still hold it.
Result<void> remove_cgroup(CgroupFs& fs, const std::string& dir, CgroupMode mode, bool kill_tasks) {
  Error last{EBUSY, "rmdir " + dir};
  for (int attempt = 0; attempt < kRemoveTries; ++attempt) {
    if (kill_tasks) {
      auto procs = fs.read(dir + "/cgroup.procs");
      if (!procs && procs.error().code == ENOENT && !fs.exists(dir)) return {};
      auto pids = procs ? parse_pids(*procs) : std::vector<pid_t>{};
      if (!pids.empty()) {
        bool group_killed = mode == CgroupMode::v2 && fs.exists(dir + "/cgroup.kill") &&
                            fs.write(dir + "/cgroup.kill", "1").has_value();
        if (!group_killed)
          for (pid_t p : pids) (void)fs.kill(p, SIGKILL);  // ESRCH: it is exiting already
      }
    }
    auto r = fs.remove_dir(dir);
    if (r || r.error().code == ENOENT) return {};
    if (r.error().code != EBUSY) return std::unexpected(r.error());
    last = r.error();
    std::this_thread::sleep_for(kRemoveRetryDelay);
  }
  return std::unexpected(
      std::move(last).with_context("still busy after " + std::to_string(kRemoveTries) + " tries"));
}

}  // namespace

const char* to_string(CgroupMode m) noexcept {
  switch (m) {
    case CgroupMode::none:
      return "none";
    case CgroupMode::v1:
      return "cgroup-v1";
    case CgroupMode::v2:
      return "cgroup-v2";
  }
  return "?";
}

bool has_token(std::string_view list, std::string_view name) noexcept {
  while (!list.empty()) {
    std::string_view tok = parse::next_token(list);
    if (tok == name) return true;
    if (tok.empty()) break;
  }
  return false;
}

std::string slot_name(std::string_view worker_name, pid_t creator, std::uint64_t n) {
  std::string part;
  for (char c : worker_name.substr(0, kMaxNamePart)) part.push_back(name_char(c) ? c : '_');
  if (part.empty() || part == "." || part == "..") part = "worker";
  return fmt::format("{}-{}-{}", part, creator, n);
}

std::optional<pid_t> slot_creator(std::string_view slot_name) {
  const auto last = slot_name.rfind('-');
  if (last == std::string_view::npos || last == 0 || !parse::u64(slot_name.substr(last + 1)))
    return std::nullopt;
  const auto mid = slot_name.rfind('-', last - 1);
  if (mid == std::string_view::npos || mid == 0) return std::nullopt;
  auto pid = parse::u64(slot_name.substr(mid + 1, last - mid - 1));
  if (!pid || *pid == 0 || *pid > INT32_MAX) return std::nullopt;
  return static_cast<pid_t>(*pid);
}

std::vector<pid_t> parse_pids(std::string_view text) {
  std::vector<pid_t> out;
  while (!text.empty()) {
    auto v = parse::i64(parse::trim(parse::next_line(text)));
    if (v && *v > 0 && *v <= INT32_MAX) out.push_back(static_cast<pid_t>(*v));
  }
  return out;
}

// --- CgroupFs: the real system ---

Result<std::string> CgroupFs::read(const std::string& path) {
  return read_file(path);
}

Result<void> CgroupFs::write(const std::string& path, std::string_view data) {
  return write_file(path, data);
}

Result<void> CgroupFs::make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0) return sys_fail("mkdir " + path);
  return {};
}

Result<void> CgroupFs::remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return sys_fail("rmdir " + path);
  return {};
}

Result<std::vector<std::string>> CgroupFs::list_dirs(const std::string& path) {
  std::error_code ec;
  std::vector<std::string> out;
  for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) out.push_back(it->path().filename().string());
  if (ec) return fail("listing " + path + ": " + ec.message(), ec.value());
  return out;
}

bool CgroupFs::exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool CgroupFs::writable(const std::string& path) {
  return ::access(path.c_str(), W_OK) == 0;
}

std::optional<std::string> CgroupFs::xattr(const std::string& path, const std::string& name) {
  char buf[64];
  ssize_t n = ::getxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

uid_t CgroupFs::euid() {
  return ::geteuid();
}

Result<void> CgroupFs::kill(pid_t pid, int sig) {
  if (::kill(pid, sig) != 0) return sys_fail("kill " + std::to_string(pid));
  return {};
}

// --- shared state of a manager and its slots ---

struct CgroupSlot::Base {
  std::shared_ptr<CgroupFs> fs;
  CgroupMode mode = CgroupMode::none;
  std::string dir;  // where slots are made
  std::string proc = "/proc";
  std::string leaf;
  bool memsw = false;       // v1 with swap accounting: memory.memsw.* exist
  std::string created_dir;  // a parent we made, removed when the last user goes

  Base() = default;
  Base(const Base&) = delete;
  Base& operator=(const Base&) = delete;
  ~Base() {
    if (created_dir.empty()) return;
    auto r = remove_cgroup(*fs, created_dir, mode, false);
    if (!r)
      spdlog::error("event=cgroup_remove_failed dir={} error=\"{}\"", created_dir, log_escape(r.error().message));
  }
};

// --- CgroupSlot ---

CgroupSlot::CgroupSlot(std::shared_ptr<const Base> base, std::string name, std::string dir)
    : base_(std::move(base)), name_(std::move(name)), dir_(std::move(dir)) {}

CgroupSlot::~CgroupSlot() {
  auto r = remove();
  if (!r) spdlog::error("event=cgroup_left_behind dir={} error=\"{}\"", dir_, log_escape(r.error().message));
}

CgroupMode CgroupSlot::mode() const noexcept {
  return base_->mode;
}

std::string CgroupSlot::procs_path() const {
  return dir_.empty() ? "" : file("cgroup.procs");
}

Result<void> CgroupSlot::write_limit(std::uint64_t limit, std::uint64_t previous) {
  CgroupFs& fs = *base_->fs;
  if (base_->mode == CgroupMode::v2)
    return fs.write(file("memory.max"), limit ? std::to_string(limit) : "max");
  // v1 refuses memsw.limit < limit (EINVAL), so raise memsw first and lower it last.
  std::string text = limit ? std::to_string(limit) : "-1";
  bool raising = limit == 0 || (previous != 0 && limit >= previous);
  if (base_->memsw && raising) {
    if (auto r = fs.write(file("memory.memsw.limit_in_bytes"), text); !r) return r;
  }
  if (auto r = fs.write(file("memory.limit_in_bytes"), text); !r) return r;
  if (base_->memsw && !raising) {
    if (auto r = fs.write(file("memory.memsw.limit_in_bytes"), text); !r) return r;
  }
  return {};
}

Result<void> CgroupSlot::resize(std::uint64_t limit_bytes) {
  if (base_->mode == CgroupMode::none) {
    limit_ = limit_bytes;
    return {};
  }
  if (removed_) return fail("resize of removed cgroup " + dir_, ENOENT);
  auto r = write_limit(limit_bytes, limit_);
  if (!r) return std::unexpected(std::move(r.error()).with_context("resizing " + dir_));
  limit_ = limit_bytes;
  return {};
}

Result<std::uint64_t> CgroupSlot::current_bytes() const {
  switch (base_->mode) {
    case CgroupMode::v2:
      return read_counter(*base_->fs, file("memory.current"));
    case CgroupMode::v1:
      return read_counter(*base_->fs, file("memory.usage_in_bytes"));
    case CgroupMode::none:
      break;
  }
  return fail("no cgroup (mode none)", ENOTSUP);
}

void CgroupSlot::sample() {
  if (!needs_sampling_) return;
  auto c = current_bytes();
  if (!c) return;
  std::uint64_t seen = sampled_peak_.load(std::memory_order_relaxed);
  while (*c > seen && !sampled_peak_.compare_exchange_weak(seen, *c)) {
  }
}

Result<std::uint64_t> CgroupSlot::peak_bytes() const {
  switch (base_->mode) {
    case CgroupMode::v2: {
      if (!needs_sampling_) return read_counter(*base_->fs, file("memory.peak"));
      std::uint64_t peak = sampled_peak_.load(std::memory_order_relaxed);
      if (auto c = current_bytes(); c && *c > peak) peak = *c;
      return peak;
    }
    case CgroupMode::v1:
      return read_counter(*base_->fs, file("memory.max_usage_in_bytes"));
    case CgroupMode::none:
      break;
  }
  return fail("no cgroup (mode none)", ENOTSUP);
}

Result<std::uint64_t> CgroupSlot::oom_kills() const {
  std::string path;
  switch (base_->mode) {
    case CgroupMode::v2:
      path = file("memory.events");
      break;
    case CgroupMode::v1:
      path = file("memory.oom_control");
      break;
    case CgroupMode::none:
      return fail("no cgroup (mode none)", ENOTSUP);
  }
  auto text = base_->fs->read(path);
  if (!text) return std::unexpected(text.error());
  auto v = parse::keyed_u64(*text, "oom_kill");
  if (!v) return fail("no oom_kill counter in " + path + " (kernel < 4.13?)", ENOTSUP);
  return *v;
}

std::vector<pid_t> CgroupSlot::tasks() const {
  if (dir_.empty()) return {};
  auto text = base_->fs->read(procs_path());
  return text ? parse_pids(*text) : std::vector<pid_t>{};
}

Result<void> CgroupSlot::kill_all(int sig) {
  if (dir_.empty() || removed_) return {};
  CgroupFs& fs = *base_->fs;
  if (base_->mode == CgroupMode::v2 && sig == SIGKILL && fs.exists(file("cgroup.kill")))
    return fs.write(file("cgroup.kill"), "1");
  for (pid_t p : tasks()) {
    auto r = fs.kill(p, sig);
    if (!r && r.error().code != ESRCH) return r;
  }
  return {};
}

Result<void> CgroupSlot::remove() {
  if (dir_.empty() || removed_) return {};
  auto r = remove_cgroup(*base_->fs, dir_, base_->mode, true);
  if (!r) return r;
  removed_ = true;
  return {};
}

// --- detection ---

namespace {

struct Found {
  std::string dir;
  std::string how;  // for the description
  bool memsw = false;
};

// Moves every process of `base` into base/leaf; returns how many moved.
Result<std::size_t> move_into_leaf(CgroupFs& fs, const std::string& base,
                                   const std::string& leaf_name) {
  auto procs = fs.read(base + "/cgroup.procs");
  if (!procs) return std::unexpected(procs.error());
  auto pids = parse_pids(*procs);
  if (pids.empty()) return 0;
  std::string leaf = base + "/" + leaf_name;
  if (!fs.exists(leaf)) {
    auto mk = fs.make_dir(leaf);
    if (!mk && mk.error().code != EEXIST)
      return std::unexpected(std::move(mk.error()).with_context("supervisor leaf"));
  }
  std::size_t moved = 0;
  for (pid_t p : pids) {
    auto w = fs.write(leaf + "/cgroup.procs", std::to_string(p));
    if (!w && w.error().code == ESRCH) continue;  // exited meanwhile
    if (!w) return std::unexpected(std::move(w.error()).with_context("moving into " + leaf));
    ++moved;
  }
  return moved;
}

Result<Found> try_v2(CgroupFs& fs, const CgroupConfig& c, const oomguard::CgroupMounts& m,
                     const oomguard::ProcCgroups& own) {
  if (!m.v2) return fail("no cgroup2 mount", ENOENT);
  Found f;
  std::vector<std::string> notes;
  std::string base;
  if (c.parent) {
    base = *c.parent;
  } else {
    if (!own.v2_path) return fail("the process is in no cgroup2 group", ENOENT);
    std::string own_dir = join(*m.v2, *own.v2_path);
    // systemd's DelegateSubgroup= (or an earlier start of ours) already put us in the leaf.
    if (own_dir != *m.v2 && basename(own_dir) == c.leaf) {
      base = dirname(own_dir);
      notes.push_back("already in " + c.leaf + "/");
    } else {
      base = own_dir;
    }
  }
  auto controllers = fs.read(base + "/cgroup.controllers");
  if (!controllers)
    return fail(base + " is not a cgroup2 directory (no cgroup.controllers)", ENOENT);
  if (!has_token(*controllers, "memory"))
    return fail("memory controller not available in " + base + " (cgroup.controllers: '" +
                    std::string(parse::trim(*controllers)) + "'): not delegated",
                ENOTSUP);

  uid_t uid = fs.euid();
  if (!fs.writable(base) || !fs.writable(base + "/cgroup.procs") ||
      !fs.writable(base + "/cgroup.subtree_control"))
    return fail(base + " is not writable by uid " + std::to_string(uid) +
                    ": not delegated (Delegate=memory in the unit?)",
                EACCES);
  std::string mark_name;
  for (const char* n : {"trusted.delegate", "user.delegate"}) {
    auto v = fs.xattr(base, n);
    if (v && parse::trim(*v) == "1") {
      mark_name = n;
      break;
    }
  }
  if (!mark_name.empty()) {
    notes.insert(notes.begin(), "delegated (" + mark_name + ")");
  } else if (c.parent) {
    notes.insert(notes.begin(), "configured parent");
  } else if (uid != 0) {
    notes.insert(notes.begin(), "writable by uid " + std::to_string(uid));
  } else if (c.assume_delegated) {
    notes.insert(notes.begin(), "assumed delegated");
  } else {
    return fail("running as root and " + base +
                    " has no delegation mark (trusted.delegate): without Delegate=memory it is "
                    "systemd's tree (set assume_delegated if it is ours)",
                EPERM);
  }

  auto subtree = fs.read(base + "/cgroup.subtree_control");
  if (!subtree) return std::unexpected(std::move(subtree.error()).with_context("delegation"));
  if (!has_token(*subtree, "memory")) {
    // The root cgroup is exempt from the no-internal-processes rule; never empty it. A
    // process forked while we move the others makes the enable fail with EBUSY: list again.
    const bool is_root = base == *m.v2;
    std::size_t moved = 0;
    Result<void> enabled;
    for (int round = 0; round < kEnableRounds; ++round) {
      if (!is_root) {
        auto n = move_into_leaf(fs, base, c.leaf);
        if (!n) return std::unexpected(std::move(n.error()).with_context("delegation"));
        moved += *n;
      }
      enabled = fs.write(base + "/cgroup.subtree_control", "+memory");
      if (enabled || enabled.error().code != EBUSY || is_root) break;
    }
    if (moved)
      notes.push_back("moved " + std::to_string(moved) + " process(es) into " + c.leaf + "/");
    if (!enabled)
      return std::unexpected(std::move(enabled.error())
                                 .with_context("enabling memory for children of " + base +
                                               " (EBUSY: processes still in it)"));
    notes.push_back("enabled memory in cgroup.subtree_control");
  }
  f.dir = base;
  for (std::size_t i = 0; i < notes.size(); ++i) f.how += (i ? "; " : "") + notes[i];
  return f;
}

Result<Found> try_v1(CgroupFs& fs, const CgroupConfig& c, const oomguard::CgroupMounts& m,
                     const oomguard::ProcCgroups& own) {
  if (!m.v1_memory) return fail("no cgroup v1 memory mount", ENOENT);
  std::string base;
  if (c.parent) {
    base = *c.parent;
  } else {
    if (!own.v1_memory_path) return fail("the process is in no v1 memory cgroup", ENOENT);
    base = join(*m.v1_memory, *own.v1_memory_path);
  }
  if (!fs.exists(base + "/memory.limit_in_bytes"))
    return fail(base + " is not a v1 memory cgroup", ENOENT);
  if (!fs.writable(base))
    return fail(base + " is not writable by uid " + std::to_string(fs.euid()) + " (v1 needs root)",
                EACCES);
  Found f;
  f.dir = base;
  f.memsw = fs.exists(base + "/memory.memsw.limit_in_bytes");
  f.how = f.memsw ? "memory+swap limits" : "no swap accounting: swap not limited";
  return f;
}

}  // namespace

Result<CgroupManager> CgroupManager::open(CgroupConfig c) {
  auto base = std::make_shared<CgroupSlot::Base>();
  base->fs = c.fs ? c.fs : std::make_shared<CgroupFs>();
  base->proc = c.roots.proc;
  base->leaf = c.leaf;
  CgroupFs& fs = *base->fs;
  CgroupManager m;
  m.base_ = base;
  if (c.mode == CgroupMode::none) {
    m.description_ = "none: cgroups switched off by configuration";
    return m;
  }
  if (!valid_name(c.leaf)) return fail("invalid supervisor leaf name '" + c.leaf + "'", EINVAL);

  auto mounts = oomguard::resolve_mounts(c.roots);
  if (!mounts) return std::unexpected(std::move(mounts.error()).with_context("cgroup mounts"));
  oomguard::ProcCgroups own;
  if (auto text = fs.read(c.roots.proc + "/self/cgroup")) {
    if (auto entries = oomguard::parse_proc_cgroup(*text))
      own = oomguard::select_memory_cgroups(*entries);
  }
  if (c.parent) {
    c.parent = strip_trailing_slash(*c.parent);
    if (c.parent->empty() || c.parent->front() != '/')
      return fail("cgroup parent must be absolute: '" + *c.parent + "'", EINVAL);
    if (c.create_parent && !fs.exists(*c.parent)) {
      if (auto mk = fs.make_dir(*c.parent); !mk)
        return std::unexpected(std::move(mk.error()).with_context("cgroup parent"));
      base->created_dir = *c.parent;
    }
  }

  std::string why_not;
  Error last;
  auto attempt = [&](CgroupMode mode) {
    auto f = mode == CgroupMode::v2 ? try_v2(fs, c, *mounts, own) : try_v1(fs, c, *mounts, own);
    if (!f) {
      why_not +=
          (why_not.empty() ? "" : "; ") + std::string(to_string(mode)) + ": " + f.error().message;
      last = f.error();
      return false;
    }
    base->mode = mode;
    base->dir = f->dir;
    base->memsw = f->memsw;
    m.description_ = std::string(to_string(mode)) + ": slots in " + f->dir + " (" + f->how + ")";
    return true;
  };
  if (c.mode) {
    if (!attempt(*c.mode))
      return std::unexpected(
          std::move(last).with_context(std::string("cgroup mode ") + to_string(*c.mode)));
  } else if (!attempt(CgroupMode::v2) && !attempt(CgroupMode::v1)) {
    m.description_ = "none: " + why_not;
  }
  return m;
}

CgroupMode CgroupManager::mode() const noexcept {
  return base_->mode;
}
const std::string& CgroupManager::base_dir() const noexcept {
  return base_->dir;
}
const std::string& CgroupManager::proc() const noexcept {
  return base_->proc;
}

std::size_t CgroupManager::remove_orphans() const {
  if (base_->mode == CgroupMode::none) return 0;
  CgroupFs& fs = *base_->fs;
  auto names = fs.list_dirs(base_->dir);
  if (!names) {
    spdlog::warn("event=cgroup_orphans_unlisted dir={} error=\"{}\"", base_->dir, log_escape(names.error().message));
    return 0;
  }
  std::size_t removed = 0;
  for (const auto& name : *names) {
    const auto pid = slot_creator(name);
    if (!pid || *pid == ::getpid()) continue;
    if (fs.exists(base_->proc + "/" + std::to_string(*pid))) continue;  // its service runs
    const std::string dir = base_->dir + "/" + name;
    auto procs = fs.read(dir + "/cgroup.procs");
    if (!procs || !parse_pids(*procs).empty()) continue;  // tasks in it: not ours to end
    if (auto r = remove_cgroup(fs, dir, base_->mode, false); !r) {
      spdlog::warn("event=cgroup_orphan_kept dir={} error=\"{}\"", dir, log_escape(r.error().message));
      continue;
    }
    ++removed;
  }
  if (removed > 0) spdlog::info("event=cgroup_orphans_removed dir={} count={}", base_->dir, removed);
  return removed;
}

Result<std::unique_ptr<CgroupSlot>> CgroupManager::create(std::string_view name,
                                                          std::uint64_t limit_bytes) const {
  if (!valid_name(name) || name == base_->leaf)
    return fail("invalid cgroup slot name '" + std::string(name) + "'", EINVAL);
  std::string sname(name);
  if (base_->mode == CgroupMode::none) {
    std::unique_ptr<CgroupSlot> slot(new CgroupSlot(base_, sname, ""));
    slot->limit_ = limit_bytes;
    return slot;
  }
  CgroupFs& fs = *base_->fs;
  std::string dir = base_->dir + "/" + sname;
  auto mk = fs.make_dir(dir);
  if (!mk && mk.error().code == EEXIST) {
    spdlog::warn("event=cgroup_leftover_removed dir={}", dir);  // from an earlier run
    if (auto rm = remove_cgroup(fs, dir, base_->mode, true); !rm)
      return std::unexpected(std::move(rm.error()).with_context("leftover slot"));
    mk = fs.make_dir(dir);
  }
  if (!mk) return std::unexpected(std::move(mk.error()).with_context("creating cgroup slot"));
  // From here on the slot's destructor removes the directory on any failure.
  std::unique_ptr<CgroupSlot> slot(new CgroupSlot(base_, sname, dir));
  auto ctx = [&](Error e) {
    return std::unexpected(std::move(e).with_context("setting up " + dir));
  };
  if (base_->mode == CgroupMode::v2) {
    slot->needs_sampling_ = !fs.exists(slot->file("memory.peak"));  // 5.19+
    // A worker that swaps is slower than one that is killed and retried on a smaller chunk.
    // memory.swap.max exists only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1).
    if (fs.exists(slot->file("memory.swap.max"))) {
      if (auto r = fs.write(slot->file("memory.swap.max"), "0"); !r) return ctx(r.error());
    }
    // Kill the whole worker (it may have helpers) rather than leave it half-alive. 4.19+.
    if (fs.exists(slot->file("memory.oom.group"))) {
      if (auto r = fs.write(slot->file("memory.oom.group"), "1"); !r) return ctx(r.error());
    }
  }
  if (auto r = slot->write_limit(limit_bytes, 0); !r) return ctx(r.error());
  slot->limit_ = limit_bytes;
  return slot;
}

}  // namespace soroka::worker
