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

  // A read that returns fewer bytes than this ended at the end of the file. The kernel
  // files polled here are one record each (single_open, cgroup seq_show): one read gives all
  // of them. Other seq_files stop a read short only where the next record would overflow
  // their buffer (a page at least), which a line shorter than 2 KiB cannot do below 2 KiB.
  // Longer files pay one more pread, returning 0, to be sure.
  static constexpr std::size_t kWholeBelow = 2048;

  // Reads the whole file from offset 0, in one pread when it is under kWholeBelow (the pread
  // that returned 0 to confirm the end was half of BM_Snapshot's syscalls: 3.4 -> 2.4 us).
  // The view is valid until the next read(). A file larger than the buffer is an error
  // (truncation would corrupt parses).
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
