// FileReader: keeps a kernel file open and re-reads it with pread into a fixed buffer.
#include "util/file_reader.h"

#include "util/parse.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>

namespace soroka {

Result<FileReader> FileReader::open(std::string path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_fail("open " + path);
  FileReader r;
  r.path_ = std::move(path);
  r.fd_.reset(fd);
  r.buf_ = std::make_unique<std::array<char, kBufferSize>>();
  return r;
}

Result<std::string_view> FileReader::read() {
  if (!fd_) return fail("read of a closed file", EBADF);
  std::size_t total = 0;
  // A long seq_file may come in several short reads: loop until a read returns 0, unless the
  // file is short enough to have come whole (kWholeBelow).
  while (total < kBufferSize) {
    ssize_t n = ::pread(fd_.get(), buf_->data() + total, kBufferSize - total,
                        static_cast<off_t>(total));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail("read " + path_);
    }
    if (n == 0) return std::string_view(buf_->data(), total);
    total += static_cast<std::size_t>(n);
    if (total < kWholeBelow) return std::string_view(buf_->data(), total);
  }
  return fail("read " + path_ + ": file larger than " + std::to_string(kBufferSize) + " bytes",
              EFBIG);
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_fail("open " + path);
  Fd guard(fd);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<void> write_file(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_fail("open " + path);
  Fd guard(fd);
  ssize_t n = ::write(fd, data.data(), data.size());
  if (n < 0) return sys_fail("write '" + std::string(parse::trim(data)) + "' to " + path);
  if (static_cast<std::size_t>(n) != data.size()) return fail("short write to " + path, EIO);
  return {};
}

}  // namespace soroka
