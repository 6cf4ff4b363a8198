// NotifySocket: a Unix datagram socket standing in for systemd's NOTIFY_SOCKET, for tests.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <poll.h>

namespace soroka::test {

// One message as systemd would see it: the text and the sender's pid (SO_PASSCRED).
struct NotifyMessage {
  std::string text;
  pid_t pid = 0;
};

class NotifySocket {
 public:
  NotifySocket() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "soroka-notify-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) dir_ = tmpl;
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path_.copy(a.sun_path, sizeof a.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }

  // The next message, or nullopt after `timeout`.
  std::optional<NotifyMessage> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[4096];
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctrl;
    m.msg_controllen = sizeof ctrl;
    ssize_t n = ::recvmsg(fd_, &m, 0);
    if (n < 0) return std::nullopt;
    NotifyMessage msg{std::string(buf, static_cast<std::size_t>(n)), 0};
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cr;
        std::memcpy(&cr, CMSG_DATA(c), sizeof cr);
        msg.pid = cr.pid;
      }
    return msg;
  }

 private:
  std::string dir_, path_;
  int fd_ = -1;
  bool ok_ = false;
};

}  // namespace soroka::test
