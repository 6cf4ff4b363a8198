// Sampler: resolves what to watch (process, cgroup, host) and reads it cheaply, over and over.
#include "oomguard/sampler.h"

#include <sys/stat.h>
#include <algorithm>
#include <time.h>
#include <unistd.h>

#include "oomguard/probe/process.h"

namespace soroka::oomguard {

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join(const std::string& mount, const std::string& rel) {
  if (rel.empty() || rel == "/") return mount;
  if (!mount.empty() && mount.back() == '/') return mount + rel.substr(1);
  return mount + rel;
}

// "/a/b" is under "/a" (or equal to it).
bool under(const std::string& path, const std::string& mount) {
  if (path.compare(0, mount.size(), mount) != 0) return false;
  return path.size() == mount.size() || path[mount.size()] == '/' || mount.back() == '/';
}

std::string strip_trailing_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::int64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// Opens an optional file: missing is fine (returns a closed reader), other errors too.
FileReader open_optional(const std::string& path) {
  auto r = FileReader::open(path);
  return r ? std::move(*r) : FileReader{};
}

}  // namespace

Result<CgroupMounts> resolve_mounts(const Roots& roots) {
  CgroupMounts m;
  if (!roots.cgroup_v2 || !roots.cgroup_v1_memory) {
    auto text = read_file(roots.proc + "/self/mountinfo");
    if (text) {
      auto parsed = parse_mountinfo(*text);
      if (!parsed) return std::unexpected(std::move(parsed.error()).with_context("mountinfo"));
      m = *parsed;
    }
  }
  if (roots.cgroup_v2) m.v2 = roots.cgroup_v2->empty() ? std::nullopt : roots.cgroup_v2;
  if (roots.cgroup_v1_memory)
    m.v1_memory = roots.cgroup_v1_memory->empty() ? std::nullopt : roots.cgroup_v1_memory;
  if (m.v2) m.v2 = strip_trailing_slash(*m.v2);
  if (m.v1_memory) m.v1_memory = strip_trailing_slash(*m.v1_memory);
  return m;
}

void Sampler::pick(Source src, const std::string& mount, const std::string& rel) {
  info_.source = src;
  info_.cgroup_path = rel.empty() ? "/" : rel;
  info_.cgroup_dir = join(mount, rel);
}

namespace {

bool v2_usable(const CgroupMounts& m, const std::string& rel) {
  return m.v2 && exists(join(*m.v2, rel) + "/memory.current");
}

bool v1_usable(const CgroupMounts& m, const std::string& rel) {
  return m.v1_memory && exists(join(*m.v1_memory, rel) + "/memory.usage_in_bytes");
}

}  // namespace

// A cgroup named by the caller: an absolute path under a mount, or a path relative to one.
Result<void> Sampler::locate_named_cgroup(const std::string& named, const CgroupMounts& m) {
  const auto& v2 = m.v2;
  const auto& v1 = m.v1_memory;
  std::string c = strip_trailing_slash(named);
  if (c.empty() || c.front() != '/') return fail("cgroup path must start with '/': " + c, EINVAL);
  // The root of a hierarchy is the whole host: watch it as the system.
  if (c == "/" || (v2 && c == *v2) || (v1 && c == *v1)) return {};
  if (v2 && under(c, *v2) && is_dir(c)) {
    if (!exists(c + "/memory.current"))
      return fail("cgroup " + c + " has no memory controller (no memory.current)", ENOENT);
    pick(Source::cgroup_v2, *v2, c.substr(v2->size()));
  } else if (v1 && under(c, *v1) && is_dir(c)) {
    pick(Source::cgroup_v1, *v1, c.substr(v1->size()));
  } else if (v2_usable(m, c)) {
    pick(Source::cgroup_v2, *v2, c);
  } else if (v1_usable(m, c)) {
    pick(Source::cgroup_v1, *v1, c);
  } else {
    std::string where = (v2 ? *v2 : std::string("-")) + ", " + (v1 ? *v1 : std::string("-"));
    return fail("no memory cgroup '" + c + "' under the cgroup mounts (" + where + ")", ENOENT);
  }
  return {};
}

// The watched process's files; without a named cgroup, its own memory cgroup is watched.
Result<void> Sampler::open_process(const CgroupMounts& m) {
  const std::string pid_dir = target_.pid == 0 ? roots_.proc + "/self"
                                               : roots_.proc + "/" + std::to_string(target_.pid);
  if (target_.pid != 0 && !is_dir(pid_dir)) return fail("no process " + std::to_string(target_.pid), ESRCH);
  statm_ = open_optional(pid_dir + "/statm");
  if (!statm_.is_open()) return fail("cannot read " + pid_dir + "/statm", EACCES);
  status_ = open_optional(pid_dir + "/status");
  info_.pid = target_.pid == 0 ? ::getpid() : target_.pid;
  if (target_.cgroup) return {};
  auto text = read_file(pid_dir + "/cgroup");
  if (!text) return {};
  auto entries = parse_proc_cgroup(*text);
  if (!entries) return std::unexpected(std::move(entries.error()).with_context(pid_dir + "/cgroup"));
  ProcCgroups pc = select_memory_cgroups(*entries);
  if (pc.v2_path && *pc.v2_path != "/" && v2_usable(m, *pc.v2_path))
    pick(Source::cgroup_v2, *m.v2, *pc.v2_path);
  else if (pc.v1_memory_path && *pc.v1_memory_path != "/" && v1_usable(m, *pc.v1_memory_path))
    pick(Source::cgroup_v1, *m.v1_memory, *pc.v1_memory_path);
  return {};
}

Result<Sampler> Sampler::open(const Roots& roots, const Target& target) {
  Sampler s;
  s.roots_ = roots;
  s.target_ = target;
  long ps = ::sysconf(_SC_PAGESIZE);
  if (ps > 0) s.page_size_ = static_cast<std::uint64_t>(ps);

  auto mounts = resolve_mounts(roots);
  if (!mounts) return std::unexpected(mounts.error());
  if (target.cgroup) {
    if (auto r = s.locate_named_cgroup(*target.cgroup, *mounts); !r) return std::unexpected(r.error());
  }
  if (!target.cgroup || target.pid != 0) {
    if (auto r = s.open_process(*mounts); !r) return std::unexpected(r.error());
  }
  s.meminfo_ = open_optional(roots.proc + "/meminfo");
  if (!s.meminfo_.is_open()) return fail("cannot open " + roots.proc + "/meminfo", ENOENT);
  if (auto r = s.open_levels(); !r) return std::unexpected(r.error());
  return s;
}

Result<Sampler::Level> Sampler::open_level(const std::string& dir, bool is_v2) {
  Level l;
  l.dir = dir;
  auto usage = FileReader::open(dir + (is_v2 ? "/memory.current" : "/memory.usage_in_bytes"));
  if (!usage) return std::unexpected(usage.error());
  l.usage = std::move(*usage);
  auto stat = FileReader::open(dir + "/memory.stat");
  if (!stat) return std::unexpected(stat.error());
  l.stat = std::move(*stat);
  l.limit = open_optional(dir + (is_v2 ? "/memory.max" : "/memory.limit_in_bytes"));
  if (is_v2) {
    l.high = open_optional(dir + "/memory.high");
    l.swap = open_optional(dir + "/memory.swap.max");
  }
  return l;
}

// Whether an ancestor constrains the leaf: a limit (v1, v2) or a memory.high (v2).
bool Sampler::sets_limit(Level& l, bool is_v2) {
  auto lim = l.limit.is_open() ? l.limit.read() : Result<std::string_view>{"max"};
  if (lim) {
    auto parsed = is_v2 ? parse_v2_limit(*lim) : parse_v1_limit(*lim);
    if (parsed && parsed->has_value()) return true;
  }
  if (is_v2 && l.high.is_open()) {
    if (auto h = l.high.read(); h) {
      auto parsed = parse_v2_limit(*h);
      return parsed && parsed->has_value();
    }
  }
  return false;
}

Result<void> Sampler::open_levels() {
  levels_.clear();
  info_.chain.clear();
  events_ = {}, oom_control_ = {}, failcnt_ = {}, memsw_limit_ = {};
  const bool is_v2 = info_.source == Source::cgroup_v2;
  if (info_.source == Source::system) {
    psi_ = open_optional(roots_.proc + "/pressure/memory");
    return {};
  }
  psi_ = open_optional(is_v2 ? info_.cgroup_dir + "/memory.pressure"
                             : roots_.proc + "/pressure/memory");
  const std::string mount = info_.cgroup_dir.substr(
      0, info_.cgroup_dir.size() - (info_.cgroup_path == "/" ? 0 : info_.cgroup_path.size()));

  // Leaf first, then every ancestor below the mount root that sets a limit.
  auto leaf = open_level(info_.cgroup_dir, is_v2);
  if (!leaf) return std::unexpected(std::move(leaf.error()).with_context("cgroup " + info_.cgroup_dir));
  levels_.push_back(std::move(*leaf));
  std::string dir = info_.cgroup_dir;
  while (levels_.size() < kMaxLevels && dir.size() > mount.size()) {
    auto slash = dir.find_last_of('/');
    if (slash == std::string::npos || slash < mount.size()) break;
    dir = dir.substr(0, slash);
    if (dir.size() <= mount.size()) break;  // the root itself carries no limit
    if (auto l = open_level(dir, is_v2); l && sets_limit(*l, is_v2)) levels_.push_back(std::move(*l));
  }
  for (const auto& l : levels_) info_.chain.push_back(l.dir);

  const std::string& leaf_dir = info_.cgroup_dir;
  if (is_v2) {
    events_ = open_optional(leaf_dir + "/memory.events");
  } else {
    oom_control_ = open_optional(leaf_dir + "/memory.oom_control");
    failcnt_ = open_optional(leaf_dir + "/memory.failcnt");
    memsw_limit_ = open_optional(leaf_dir + "/memory.memsw.limit_in_bytes");
  }
  return {};
}

Result<void> Sampler::rescan() { return open_levels(); }

Result<Sampler> Sampler::reopen() const {
  Target t = target_;
  if (info_.source != Source::system) t.cgroup = info_.cgroup_dir;
  return open(roots_, t);
}

Result<LevelSample> Sampler::read_level(Level& l, bool fast, double grey_percent,
                                        std::int64_t now) {
  const bool is_v2 = info_.source == Source::cgroup_v2;
  LevelSample out;
  auto usage_text = l.usage.read();
  if (!usage_text) return std::unexpected(usage_text.error());
  auto usage = parse_counter(*usage_text);
  if (!usage) return std::unexpected(std::move(usage.error()).with_context(l.usage.path()));
  out.usage_bytes = *usage;

  if (l.limit.is_open()) {
    auto t = l.limit.read();
    if (!t) return std::unexpected(t.error());
    auto lim = is_v2 ? parse_v2_limit(*t) : parse_v1_limit(*t);
    if (!lim) return std::unexpected(std::move(lim.error()).with_context(l.limit.path()));
    out.limit_bytes = *lim;
  }
  if (l.high.is_open()) {
    auto t = l.high.read();
    if (!t) return std::unexpected(t.error());
    auto h = parse_v2_limit(*t);
    if (!h) return std::unexpected(std::move(h.error()).with_context(l.high.path()));
    out.high_bytes = *h;
  }

  bool need_stat = !fast || l.stat_read_ns == 0 || now - l.stat_read_ns >= kSlowRefreshNs;
  if (!need_stat) {
    // Usage bounds the working set from above: only near a limit does the cache matter.
    // The limit as compute_effective sees it: never above MemTotal (docker --memory=64g on
    // an 8 GiB host binds at 8 GiB, so 7.8 GiB charged is near it).
    auto near = [&](const Limit& lim) {
      if (!lim) return false;
      std::uint64_t binding = *lim;
      if (meminfo_cache_.total_bytes != 0) binding = std::min(binding, meminfo_cache_.total_bytes);
      return static_cast<double>(out.usage_bytes) * 100.0 >=
             grey_percent * static_cast<double>(binding);
    };
    need_stat = near(out.limit_bytes) || near(out.high_bytes);
  }
  if (need_stat) {
    auto stat_text = l.stat.read();
    if (!stat_text) return std::unexpected(stat_text.error());
    auto stat = is_v2 ? parse_v2_memory_stat(*stat_text) : parse_v1_memory_stat(*stat_text);
    if (!stat) return std::unexpected(std::move(stat.error()).with_context(l.stat.path()));
    l.inactive_file = stat->inactive_file;
    l.stat_read_ns = now;
  }
  out.working_set_bytes = out.usage_bytes - std::min(l.inactive_file, out.usage_bytes);
  return out;
}

void Sampler::read_slow_counters(CgroupSample& cg, std::int64_t now, bool fast) {
  if (fast && counters_read_ns_ != 0 && now - counters_read_ns_ < kSlowRefreshNs) {
    cg.oom_kill_count = counters_cache_.oom_kill_count;
    cg.high_events = counters_cache_.high_events;
    cg.max_events = counters_cache_.max_events;
    cg.swap_limit_bytes = counters_cache_.swap_limit_bytes;
    return;
  }
  if (oom_control_.is_open()) {
    if (auto t = oom_control_.read(); t) {
      if (auto o = parse_v1_oom_control(*t); o) cg.oom_kill_count = o->oom_kill;
    }
  }
  if (failcnt_.is_open()) {
    if (auto t = failcnt_.read(); t) {
      if (auto f = parse_counter(*t); f) cg.max_events = *f;
    }
  }
  if (events_.is_open()) {
    if (auto t = events_.read(); t) {
      if (auto e = parse_v2_memory_events(*t); e) {
        cg.oom_kill_count = e->oom_kill;
        cg.high_events = e->high;
        cg.max_events = e->max;
      }
    }
  }
  // Swap: v2 memory.swap.max along the path (tightest); v1 memsw.limit minus the limit.
  for (auto& l : levels_) {
    if (!l.swap.is_open()) continue;
    if (auto t = l.swap.read(); t) {
      if (auto sw = parse_v2_limit(*t); sw && *sw) {
        if (!cg.swap_limit_bytes || **sw < *cg.swap_limit_bytes) cg.swap_limit_bytes = *sw;
      }
    }
  }
  if (memsw_limit_.is_open() && cg.limit_bytes) {
    if (auto t = memsw_limit_.read(); t) {
      if (auto sw = parse_v1_limit(*t); sw && *sw && **sw >= *cg.limit_bytes)
        cg.swap_limit_bytes = **sw - *cg.limit_bytes;
    }
  }
  counters_cache_ = cg;
  counters_read_ns_ = now;
}

Result<void> Sampler::refresh_meminfo(bool fast, std::int64_t now) {
  bool need = !fast || meminfo_read_ns_ == 0 || host_near_binding_ ||
              now - meminfo_read_ns_ >= kMeminfoRefreshNs;
  if (!need) return {};
  auto mi_text = meminfo_.read();
  if (!mi_text) return std::unexpected(mi_text.error());
  auto mi = parse_meminfo(*mi_text);
  if (!mi) return std::unexpected(std::move(mi.error()).with_context(meminfo_.path()));
  meminfo_cache_ = *mi;
  meminfo_read_ns_ = now;
  return {};
}

// Every level of the chain; the cgroup's limit and high are the tightest along it.
Result<CgroupSample> Sampler::read_chain(LevelSample* levels, std::size_t& n, bool fast,
                                         double grey_percent, std::int64_t now) {
  CgroupSample cg;
  for (auto& level : levels_) {
    auto ls = read_level(level, fast, grey_percent, now);
    if (!ls) return std::unexpected(std::move(ls.error()).with_context("cgroup"));
    levels[n++] = *ls;
  }
  cg.usage_bytes = levels[0].usage_bytes;
  cg.working_set_bytes = levels[0].working_set_bytes;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& l = levels[i].limit_bytes;
    if (l && (!cg.limit_bytes || *l < *cg.limit_bytes)) cg.limit_bytes = l;
    const auto& h = levels[i].high_bytes;
    if (h && (!cg.high_bytes || *h < *cg.high_bytes)) cg.high_bytes = h;
  }
  read_slow_counters(cg, now, fast);
  return cg;
}

void Sampler::read_process(Snapshot& snap, bool fast) {
  if (!statm_.is_open() || process_gone_) return;
  auto t = statm_.read();
  if (!t || t->empty()) {
    process_gone_ = true;  // ESRCH: the process exited
    return;
  }
  if (auto rss = parse_statm_rss(*t, page_size_); rss)
    snap.process = ProcessSample{*info_.pid, *rss, std::nullopt, std::nullopt};
  if (!snap.process || fast || !status_.is_open()) return;
  if (auto st = status_.read(); st) {
    if (auto ps = parse_proc_status(*st); ps) {
      snap.process->peak_rss_bytes = ps->hwm_bytes;
      snap.process->swap_bytes = ps->swap_bytes;
    }
  }
}

void Sampler::read_psi(Snapshot& snap, bool fast, std::int64_t now) {
  if (!psi_.is_open()) return;
  if (!fast || psi_read_ns_ == 0 || now - psi_read_ns_ >= kSlowRefreshNs) {
    psi_cache_.reset();
    if (auto t = psi_.read(); t) {
      if (auto p = parse_psi(*t); p) psi_cache_ = *p;
    }
    psi_read_ns_ = now;
  }
  snap.psi = psi_cache_;
}

Result<Snapshot> Sampler::sample_impl(bool fast, double grey_percent) {
  Snapshot snap;
  const std::int64_t now = now_ns();
  snap.monotonic_ns = now;
  snap.source = info_.source;
  if (auto r = refresh_meminfo(fast, now); !r) return std::unexpected(r.error());
  snap.system = meminfo_cache_;

  std::array<LevelSample, kMaxLevels> levels{};
  std::size_t n = 0;
  if (info_.source != Source::system) {
    auto cg = read_chain(levels.data(), n, fast, grey_percent, now);
    if (!cg) return std::unexpected(cg.error());
    snap.cgroup = *cg;
  }
  compute_effective(snap, levels.data(), n);
  // The host is "near binding" when its headroom is within 2x of the cgroup's: then the
  // next fast sample re-reads meminfo instead of trusting a cached MemAvailable.
  if (!snap.bound_by_cgroup) {
    host_near_binding_ = true;
  } else {
    std::uint64_t cg_headroom = snap.limit_bytes - snap.used_bytes;
    host_near_binding_ = snap.system.available_bytes / 2 <= cg_headroom;
  }
  read_process(snap, fast);
  read_psi(snap, fast, now);
  return snap;
}

}  // namespace soroka::oomguard
