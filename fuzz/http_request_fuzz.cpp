// Fuzzes the HTTP server with whole requests (request line, headers, chunked and multipart
// bodies, pipelining) over a socketpair: nothing crashes, trips a sanitizer or leaks.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "fuzz_check.h"
#include "http/server.h"

namespace {

using namespace soroka::http;

// Records the form without keeping it: a part count and bytes, bounded by the server.
class FormSink final : public Handler {
 public:
  std::optional<Response> on_form(const FormChunk& c) override {
    parts_ += c.first;
    bytes_ += c.data.size();
    if (c.name == "refuse") {
      Response r;
      r.status = 400;
      return r;
    }
    return std::nullopt;
  }
  void complete(std::shared_ptr<Reply> reply) override {
    Response r;
    r.body = std::to_string(parts_) + " " + std::to_string(bytes_);
    reply->send(std::move(r));
  }

 private:
  std::size_t parts_ = 0, bytes_ = 0;
};

class Echo final : public Handler {
 public:
  void complete(std::shared_ptr<Reply> reply) override {
    Response r;
    r.body = std::to_string(body_.size());
    reply->send(std::move(r));
  }
};

Server& server() {
  static std::unique_ptr<Server> s = [] {
    Limits l;
    l.max_form_parts = 8;
    l.handler_threads = 1;
    auto made = Server::bind("127.0.0.1", 0, l);
    FUZZ_CHECK(made.has_value());
    Route form;
    form.method = "POST";
    form.pattern = "/v1/jobs";
    form.multipart = true;
    form.max_body = 64 * 1024;
    form.make = [](const Request&, std::optional<Response>&) { return std::make_unique<FormSink>(); };
    (*made)->add(form);
    Route small;
    small.method = "DELETE";
    small.pattern = "/v1/jobs/{id}";
    small.max_body = 256;
    small.make = [](const Request&, std::optional<Response>&) { return std::make_unique<Echo>(); };
    (*made)->add(small);
    Route health = small;
    health.method = "GET";
    health.pattern = "/healthz";
    health.reserved = true;
    health.inline_complete = true;
    (*made)->add(health);
    FUZZ_CHECK((*made)->start().has_value());
    return std::move(*made);
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Server& srv = server();
  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  if (!srv.add_connection(sv[0])) {
    ::close(sv[1]);
    return 0;
  }
  // The input, then end of input: the server answers what it parsed and closes.
  std::size_t off = 0;
  while (off < size) {
    pollfd p{sv[1], POLLOUT, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    ssize_t n = ::send(sv[1], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  // Then hang up without waiting for the answer: the server parses and answers on its own
  // thread (a crash or sanitizer report there ends this process like one here). Waiting for
  // answers would cost ~200 ms an input: libmicrohttpd notices a half-closed connection only
  // at its deadline. A bounded backlog keeps the inputs apart.
  ::close(sv[1]);
  for (int i = 0; i < 1000 && srv.stats().connections.load() > 16; ++i) ::usleep(1000);
  return 0;
}
