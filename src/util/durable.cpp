// Durable files: data that must survive power loss before a database row points at it.
#include "util/durable.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "util/fd.h"
#include "util/units.h"

namespace soroka::durable {

namespace {


std::string parent_of(const std::string& path) {
  auto p = std::filesystem::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

Result<void> write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail("writing " + what);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

Result<void> sync_fd(int fd, const std::string& what) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return sys_fail("fsync of " + what);
  }
  return {};
}

Result<void> sync_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_fail("opening " + path + " to fsync it");
  return sync_fd(fd.get(), path);
}

Result<void> sync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return sys_fail("opening directory " + dir + " to fsync it");
  return sync_fd(fd.get(), "directory " + dir);
}

Result<void> sync_file_and_dir(const std::string& path) {
  if (auto r = sync_file(path); !r) return r;
  return sync_dir(parent_of(path));
}

Result<void> write_file(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".partial";
  auto attempt = [&]() -> Result<void> {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return sys_fail("creating " + tmp);
    if (auto r = write_all(fd.get(), data, tmp); !r) return r;
    if (auto r = sync_fd(fd.get(), tmp); !r) return r;
    if (::close(fd.release()) != 0) return sys_fail("closing " + tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return sys_fail("renaming " + tmp);
    return {};
  };
  if (auto r = attempt(); !r) {
    ::unlink(tmp.c_str());  // a full disk gets its space back
    return r;
  }
  return sync_dir(parent_of(path));
}

Result<std::uint64_t> free_bytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return sys_fail("statvfs " + path);
  return static_cast<std::uint64_t>(st.f_bavail) * static_cast<std::uint64_t>(st.f_frsize);
}

Result<void> check_room(const std::string& dir, std::uint64_t incoming, std::uint64_t floor) {
  auto free = free_bytes(dir);
  if (!free) return std::unexpected(free.error());
  if (fits_above_floor(*free, incoming, floor)) return {};
  return fail(fmt::format("{} has {} MiB free; {} MiB more would leave less than the {} MiB "
                          "kept free for the job database (jobs.min_free_disk)",
                          dir, *free / kMiB, (incoming + kMiB - 1) / kMiB, floor / kMiB),
              ENOSPC);
}

}  // namespace soroka::durable
