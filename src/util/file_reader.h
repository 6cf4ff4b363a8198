// FileReader: keeps a kernel file open and re-reads it with pread into a fixed buffer.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "util/fd.h"
#include "util/result.h"

namespace soroka {

// The hot path of the monitor: open once, then each read() is one pread() into a buffer
// owned by the reader; no allocation after open(). Not thread-safe; one reader per thread.
class FileReader {
 public:
  // 16 KiB holds the largest file we poll: cgroup v2 memory.stat is ~1.5 KiB on 6.x kernels.
  static constexpr std::size_t kBufferSize = 16 * 1024;

  FileReader() = default;
  static Result<FileReader> open(std::string path);

  // Reads the whole file from offset 0. The view is valid until the next read().
  // A file larger than the buffer is an error (truncation would corrupt parses).
  Result<std::string_view> read();

  const std::string& path() const noexcept { return path_; }
  bool is_open() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }

 private:
  std::string path_;
  Fd fd_;
  std::unique_ptr<std::array<char, kBufferSize>> buf_;
};

// Reads a whole small file (config, cgroup path files) in one go; allocates.
Result<std::string> read_file(const std::string& path);

// Writes `data` to an existing file (cgroup control files).
Result<void> write_file(const std::string& path, std::string_view data);

}  // namespace soroka
