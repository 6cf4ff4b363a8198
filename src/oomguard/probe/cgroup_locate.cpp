// Finds where a process's memory cgroup lives: parses /proc/<pid>/cgroup and mountinfo.
#include "oomguard/probe/cgroup_locate.h"

#include <limits>

#include "util/parse.h"

namespace soroka::oomguard {

Result<std::vector<CgroupEntry>> parse_proc_cgroup(std::string_view text) {
  std::vector<CgroupEntry> out;
  while (!text.empty()) {
    std::string_view line = parse::trim(parse::next_line(text));
    if (line.empty()) continue;
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return fail("malformed /proc/PID/cgroup line", EINVAL);
    auto id = parse::i64(line.substr(0, c1));
    std::string_view path = line.substr(c2 + 1);
    // Hierarchy ids are 0 (v2) and 1.. (v1); an id that does not fit an int could pass for
    // 0 after a cast and make a v1 line look like the v2 one.
    if (!id || *id < 0 || *id > std::numeric_limits<int>::max() || path.empty() ||
        path.front() != '/')
      return fail("malformed /proc/PID/cgroup line", EINVAL);
    out.push_back({static_cast<int>(*id), std::string(line.substr(c1 + 1, c2 - c1 - 1)),
                   std::string(path)});
  }
  if (out.empty()) return fail("empty /proc/PID/cgroup", EINVAL);
  return out;
}

ProcCgroups select_memory_cgroups(const std::vector<CgroupEntry>& entries) {
  ProcCgroups pc;
  for (const auto& e : entries) {
    if (e.hierarchy_id == 0 && e.controllers.empty()) {
      pc.v2_path = e.path;
      continue;
    }
    std::string_view ctl = e.controllers;
    while (!ctl.empty()) {
      auto comma = ctl.find(',');
      if (ctl.substr(0, comma) == "memory") pc.v1_memory_path = e.path;
      ctl.remove_prefix(comma == std::string_view::npos ? ctl.size() : comma + 1);
    }
  }
  return pc;
}

namespace {
// mountinfo escapes space, tab, newline and backslash as \ooo octal.
std::string unescape_mount(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (std::size_t j = 1; j <= 3; ++j) {
        char c = s[i + j];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}
}  // namespace

Result<CgroupMounts> parse_mountinfo(std::string_view text) {
  // "36 35 98:0 /mnt1 /mnt/point rw,noatime master:1 - cgroup cgroup rw,memory"
  CgroupMounts m;
  while (!text.empty()) {
    std::string_view line = parse::next_line(text);
    if (parse::trim(line).empty()) continue;
    std::string_view rest = line;
    parse::next_token(rest);  // mount id
    parse::next_token(rest);  // parent id
    parse::next_token(rest);  // major:minor
    std::string_view root = parse::next_token(rest);
    std::string_view mount_point = parse::next_token(rest);
    if (mount_point.empty()) return fail("malformed mountinfo line", EINVAL);
    auto sep = rest.find(" - ");
    if (sep == std::string_view::npos) return fail("malformed mountinfo line (no ' - ')", EINVAL);
    rest.remove_prefix(sep + 3);
    std::string_view fstype = parse::next_token(rest);
    parse::next_token(rest);  // source
    std::string_view super_opts = parse::next_token(rest);
    // Bind mounts of a sub-cgroup (root != "/") are views inside a container; still usable,
    // but the first full mount wins.
    (void)root;
    if (fstype == "cgroup2") {
      if (!m.v2) m.v2 = unescape_mount(mount_point);
    } else if (fstype == "cgroup") {
      std::string_view opts = super_opts;
      while (!opts.empty()) {
        auto comma = opts.find(',');
        if (opts.substr(0, comma) == "memory" && !m.v1_memory)
          m.v1_memory = unescape_mount(mount_point);
        opts.remove_prefix(comma == std::string_view::npos ? opts.size() : comma + 1);
      }
    }
  }
  return m;
}

}  // namespace soroka::oomguard
