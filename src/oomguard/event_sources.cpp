// Kernel event sources that wake the monitor: cgroup v1 thresholds, v2 memory.events, PSI.
#include "oomguard/event_sources.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <fmt/format.h>

#include "oomguard/probe/cgroup_files.h"
#include "util/file_reader.h"

namespace soroka::oomguard {

Result<V1ThresholdSource> V1ThresholdSource::arm(const std::vector<std::string>& chain,
                                                 const std::vector<double>& percents,
                                                 std::uint64_t min_available_bytes) {
  V1ThresholdSource s;
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return sys_fail("eventfd");
  s.efd_.reset(efd);
  std::string last_error = "no limited cgroup level";
  for (const auto& dir : chain) {
    // Registrations only mean something on cgroupfs (a fixture tree would accept the write).
    struct statfs sfs;
    if (::statfs(dir.c_str(), &sfs) != 0 || sfs.f_type != CGROUP_SUPER_MAGIC) {
      last_error = dir + " is not on a cgroup v1 filesystem";
      continue;
    }
    auto lim_text = read_file(dir + "/memory.limit_in_bytes");
    if (!lim_text) continue;
    auto lim = parse_v1_limit(*lim_text);
    if (!lim || !*lim) continue;
    int ufd = ::open((dir + "/memory.usage_in_bytes").c_str(), O_RDONLY | O_CLOEXEC);
    if (ufd < 0) {
      last_error = fmt::format("open {}/memory.usage_in_bytes: errno {}", dir, errno);
      continue;
    }
    Fd usage(ufd);
    std::vector<std::uint64_t> values;
    for (double p : percents) values.push_back(static_cast<std::uint64_t>(
                                  static_cast<double>(**lim) * p / 100.0));
    if (**lim > min_available_bytes) values.push_back(**lim - min_available_bytes);
    bool any = false;
    for (std::uint64_t v : values) {
      auto w = write_file(dir + "/cgroup.event_control",
                          fmt::format("{} {} {}", efd, usage.get(), v));
      if (w) {
        any = true;
        ++s.registrations_;
      } else {
        last_error = w.error().message;
      }
    }
    if (any) {
      s.armed_limit_ += **lim;
      s.targets_.push_back(std::move(usage));
    }
    // Reclaim in this cgroup: an early hint that usage is pressing on the limit.
    int pfd = ::open((dir + "/memory.pressure_level").c_str(), O_RDONLY | O_CLOEXEC);
    if (pfd >= 0) {
      Fd pressure(pfd);
      if (write_file(dir + "/cgroup.event_control",
                     fmt::format("{} {} medium", efd, pressure.get()))) {
        ++s.registrations_;
        s.targets_.push_back(std::move(pressure));
      }
    }
  }
  if (s.registrations_ == 0) return fail("cgroup v1 thresholds: " + last_error, ENOENT);
  return s;
}

void V1ThresholdSource::drain() noexcept {
  std::uint64_t v;
  while (::read(efd_.get(), &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
  }
}

Result<V2EventsSource> V2EventsSource::watch(const std::vector<std::string>& chain) {
  V2EventsSource s;
  int ifd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ifd < 0) return sys_fail("inotify_init1");
  s.ifd_.reset(ifd);
  int watched = 0;
  std::string last_error = "no memory.events";
  for (const auto& dir : chain) {
    std::string path = dir + "/memory.events";
    if (::inotify_add_watch(ifd, path.c_str(), IN_MODIFY) >= 0) ++watched;
    else last_error = fmt::format("inotify_add_watch {}: errno {}", path, errno);
  }
  if (watched == 0) return fail("cgroup v2 events: " + last_error, ENOENT);
  return s;
}

void V2EventsSource::drain() noexcept {
  alignas(inotify_event) char buf[4096];
  while (::read(ifd_.get(), buf, sizeof buf) > 0) {
  }
}

Result<PsiTriggerSource> PsiTriggerSource::arm(const std::string& pressure_file,
                                               std::uint64_t stall_us, std::uint64_t window_us) {
  int fd = ::open(pressure_file.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return sys_fail("open " + pressure_file);
  PsiTriggerSource s;
  s.fd_.reset(fd);
  std::string trig = fmt::format("some {} {}", stall_us, window_us);
  // The trigger string must be written with its terminating NUL.
  if (::write(fd, trig.c_str(), trig.size() + 1) < 0)
    return sys_fail(fmt::format("PSI trigger '{}' on {}", trig, pressure_file));
  return s;
}

}  // namespace soroka::oomguard
