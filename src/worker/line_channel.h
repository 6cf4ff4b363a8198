// LineChannel: newline-delimited messages (text or JSON) to and from a worker's stdio.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace soroka::worker {

// The framing alone, without I/O (pure; fuzz/line_framing_fuzz.cpp): bytes in, complete
// '\n'-terminated lines out, the incomplete rest held for the next bytes.
class LineFramer {
 public:
  void append(std::string_view bytes) { buf_.append(bytes); }
  // The next complete line without its '\n'; nullopt while none is complete.
  std::optional<std::string> next_line();
  // Bytes held that are not yet a complete line (after next_line() returned nullopt).
  std::size_t pending() const noexcept { return buf_.size(); }

 private:
  std::string buf_;
  std::size_t scanned_ = 0;  // bytes of buf_ known to hold no '\n'
};

// Does not own the fds (they stay with the WorkerHandle) but makes them non-blocking, so
// that a stuck worker costs a timeout, never a hung thread. For a socketpair pass the
// socket twice. Writing to a worker that died is EPIPE, never a SIGPIPE for the service.
// Not thread-safe: one thread sends, or use one channel per direction.
class LineChannel {
 public:
  // 1 MiB: an hour of speech is ~60 KB of JSON; a longer line is a protocol error.
  static constexpr std::size_t kMaxLine = 1024 * 1024;

  LineChannel(int write_fd, int read_fd);

  // Writes `line` and a '\n'. ETIMEDOUT when the worker does not read in time.
  Result<void> send(std::string_view line, std::chrono::milliseconds timeout);
  // The next line, without its '\n'. ETIMEDOUT when none arrives in time; EPIPE at end of
  // stream (the worker closed stdout or died); EMSGSIZE beyond kMaxLine.
  Result<std::string> receive(std::chrono::milliseconds timeout);

 private:
  int wfd_ = -1, rfd_ = -1;
  bool w_socket_ = false;
  LineFramer framer_;  // read but not yet returned
};

}  // namespace soroka::worker
