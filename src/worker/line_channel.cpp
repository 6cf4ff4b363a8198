// LineChannel: newline-delimited messages (text or JSON) to and from a worker's stdio.
#include "worker/line_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace soroka::worker {

namespace {

using Clock = std::chrono::steady_clock;

void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

// Waits for `events` on fd until the deadline: 0 ready, else an errno value.
int wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) left = 0;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return 0;  // POLLHUP/POLLERR too: the read or write then says what happened
    if (n == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

// write(2) to a pipe with SIGPIPE blocked for this thread, and a SIGPIPE we caused consumed,
// so that it is never delivered to the process (whose default action is to die).
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t len) {
  sigset_t pipe_set, old, pending;
  ::sigemptyset(&pipe_set);
  ::sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ::sigpending(&pending);
  bool was_pending = ::sigismember(&pending, SIGPIPE) == 1;
  ssize_t n = ::write(fd, data, len);
  int err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    timespec zero = {0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

}  // namespace

LineChannel::LineChannel(int write_fd, int read_fd) : wfd_(write_fd), rfd_(read_fd) {
  struct stat st;
  w_socket_ = ::fstat(wfd_, &st) == 0 && S_ISSOCK(st.st_mode);
  set_nonblocking(wfd_);
  if (rfd_ != wfd_) set_nonblocking(rfd_);
}

Result<void> LineChannel::send(std::string_view line, std::chrono::milliseconds timeout) {
  if (line.find('\n') != std::string_view::npos) return fail("line contains a newline", EINVAL);
  std::string msg(line);
  msg.push_back('\n');
  auto deadline = Clock::now() + timeout;
  std::size_t done = 0;
  while (done < msg.size()) {
    ssize_t n = w_socket_ ? ::send(wfd_, msg.data() + done, msg.size() - done, MSG_NOSIGNAL)
                          : write_no_sigpipe(wfd_, msg.data() + done, msg.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return sys_fail("send to worker");
    if (int e = wait_fd(wfd_, POLLOUT, deadline); e != 0) return sys_fail("send to worker", e);
  }
  return {};
}

std::optional<std::string> LineFramer::next_line() {
  auto nl = buf_.find('\n', scanned_);
  if (nl == std::string::npos) {
    scanned_ = buf_.size();
    return std::nullopt;
  }
  std::string line = buf_.substr(0, nl);
  buf_.erase(0, nl + 1);
  scanned_ = 0;
  return line;
}

Result<std::string> LineChannel::receive(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto line = framer_.next_line()) return std::move(*line);
    if (framer_.pending() > kMaxLine) return fail("line from worker longer than 1 MiB", EMSGSIZE);
    char chunk[4096];
    ssize_t n = ::read(rfd_, chunk, sizeof chunk);
    if (n > 0) {
      framer_.append({chunk, static_cast<std::size_t>(n)});
      continue;
    }
    if (n == 0) return fail("worker closed its output", EPIPE);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return sys_fail("read from worker");
    if (int e = wait_fd(rfd_, POLLIN, deadline); e != 0) return sys_fail("read from worker", e);
  }
}

}  // namespace soroka::worker
