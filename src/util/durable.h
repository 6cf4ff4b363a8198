// Durable files: data that must survive power loss before a database row points at it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace soroka::durable {

// A file is durable once its data and its directory entry are on disk: fsync(file) makes the
// bytes durable, fsync(directory) the name (create, rename). Until both, a power loss can
// leave a row that names a missing or empty file. Every function here blocks on the disk
// (one fsync is ~1-10 ms on SSD, tens on a busy HDD); none is for a hot loop.

// Writes `data` to `path` whole or not at all: into "<path>.partial", fsync, rename over
// `path`, fsync the directory. A failure (ENOSPC, EIO...) leaves `path` as it was and removes
// the partial file.
Result<void> write_file(const std::string& path, std::string_view data);

Result<void> sync_fd(int fd, const std::string& what);  // fsync; `what` names it in errors
Result<void> sync_file(const std::string& path);        // opens, fsyncs, closes
Result<void> sync_dir(const std::string& dir);          // fsync of the directory itself
// sync_file(path), then sync_dir of its parent: after this the file survives power loss.
Result<void> sync_file_and_dir(const std::string& path);

// Bytes an unprivileged writer may still use on the file system holding `path`
// (statvfs f_bavail * f_frsize: root's reserved blocks are not counted).
Result<std::uint64_t> free_bytes(const std::string& path);

// The decision whether `incoming` more bytes fit on a file system with `free` bytes left
// while keeping `floor` free (room for the job database to commit). Pure.
constexpr bool fits_above_floor(std::uint64_t free, std::uint64_t incoming,
                                std::uint64_t floor) noexcept {
  return free >= floor && free - floor >= incoming;
}

// free_bytes(dir) and fits_above_floor: ENOSPC with a message naming both figures when
// `incoming` would take the file system below `floor`.
Result<void> check_room(const std::string& dir, std::uint64_t incoming, std::uint64_t floor);

}  // namespace soroka::durable
