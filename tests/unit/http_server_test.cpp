// http::Server on its own: route matching and the accept decision by table, then a live server
// on loopback with test routes (body limits, multipart parts, deferred replies, disconnects).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "http/server.h"

namespace soroka::http {
namespace {

using namespace std::chrono_literals;

TEST(MatchRoute, Table) {
  EXPECT_EQ(match_route("/healthz", "/healthz"), std::vector<std::string>{});
  EXPECT_FALSE(match_route("/healthz", "/healthz/"));
  EXPECT_FALSE(match_route("/healthz", "/health"));
  EXPECT_EQ(match_route("/v1/jobs/{id}", "/v1/jobs/01ABC"), std::vector<std::string>{"01ABC"});
  EXPECT_FALSE(match_route("/v1/jobs/{id}", "/v1/jobs/"));
  EXPECT_FALSE(match_route("/v1/jobs/{id}", "/v1/jobs/a/b"));
  EXPECT_FALSE(match_route("/v1/jobs/{id}", "/v1/jobs/a%20b"));
  EXPECT_FALSE(match_route("/v1/jobs/{id}", "/v1/jobs/" + std::string(65, 'a')));
}

TEST(MultipartBoundary, Table) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; BOUNDARY=\"a b;c\""), "a b;c");
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=x; charset=utf-8"), "x");
  EXPECT_FALSE(multipart_boundary("multipart/form-data"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary="));
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=\"unterminated"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'b')));
}

TEST(DecideAccept, Table) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ConnView> open = {{1, "a", t0, true}, {2, "a", t0 - 5s, true}, {3, "b", t0 - 9s, false},
                                {4, "b", t0 - 1s, true}};
  // Room: accepted, nobody evicted.
  auto d = decide_accept(open, "c", 10, 10);
  EXPECT_TRUE(d.accept);
  EXPECT_FALSE(d.evict);
  // Full: the oldest connection still in its headers goes (3 is older but busy).
  d = decide_accept(open, "c", 4, 10);
  EXPECT_TRUE(d.accept);
  EXPECT_EQ(d.evict, 2u);
  // Client b over its share: only b's own idle connections are candidates.
  d = decide_accept(open, "b", 10, 2);
  EXPECT_TRUE(d.accept);
  EXPECT_EQ(d.evict, 4u);
  // Nothing evictable: refused.
  std::vector<ConnView> busy = {{1, "a", t0, false}, {2, "a", t0, false}};
  d = decide_accept(busy, "c", 2, 10);
  EXPECT_FALSE(d.accept);
}

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on a fresh connection; the whole response (until close or 3 s).
std::string roundtrip(int port, const std::string& req, std::chrono::milliseconds wait = 3000ms) {
  int fd = connect_to(port);
  if (fd < 0) return {};
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      if (out.find("\r\n\r\n") != std::string::npos) break;
      continue;
    }
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

int status_of(const std::string& r) { return r.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(r.substr(9, 3)) : 0; }

class Echo final : public Handler {
 public:
  void complete(std::shared_ptr<Reply> reply) override {
    Response r;
    r.content_type = "text/plain";
    r.body = "got " + std::to_string(body_.size());
    reply->send(std::move(r));
  }
};

class Form final : public Handler {
 public:
  std::optional<Response> on_form(const FormChunk& c) override {
    if (c.first) names_ += std::string(c.name) + (c.filename.empty() ? "" : "(" + std::string(c.filename) + ")") + ",";
    bytes_ += c.data.size();
    return std::nullopt;
  }
  void complete(std::shared_ptr<Reply> reply) override {
    Response r;
    r.content_type = "text/plain";
    r.body = names_ + std::to_string(bytes_);
    reply->send(std::move(r));
  }

 private:
  std::string names_;
  std::size_t bytes_ = 0;
};

struct Waiting {
  std::shared_ptr<Reply> reply;
  std::atomic<bool> gone{false};
};

class Later final : public Handler {
 public:
  explicit Later(Waiting* w) : w_(w) {}
  void complete(std::shared_ptr<Reply> reply) override {
    w_->reply = reply;
    reply->watch_disconnect([w = w_] { w->gone = true; });
  }

 private:
  Waiting* w_;
};

class LiveServer : public ::testing::Test {
 protected:
  void SetUp() override {
    Limits l;
    l.max_form_parts = 4;
    l.header_timeout = 1000ms;
    auto s = Server::bind("127.0.0.1", 0, l);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    Route echo;
    echo.method = "POST";
    echo.pattern = "/echo";
    echo.max_body = 1000;
    echo.make = [](const Request&, std::optional<Response>&) { return std::make_unique<Echo>(); };
    server_->add(echo);
    Route form;
    form.method = "POST";
    form.pattern = "/form";
    form.multipart = true;
    form.max_body = 100000;
    form.make = [](const Request&, std::optional<Response>&) { return std::make_unique<Form>(); };
    server_->add(form);
    Route later;
    later.method = "GET";
    later.pattern = "/later/{id}";
    later.make = [this](const Request&, std::optional<Response>&) { return std::make_unique<Later>(&waiting_); };
    server_->add(later);
    ASSERT_TRUE(server_->start());
    port_ = server_->port();
  }
  std::unique_ptr<Server> server_;
  int port_ = 0;
  Waiting waiting_;
};

TEST_F(LiveServer, BodiesWithinAndBeyondTheRouteLimit) {
  auto r = roundtrip(port_, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("got 5"), std::string::npos);
  r = roundtrip(port_, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'q'));  // drained, then refused
  EXPECT_EQ(status_of(r), 413) << r;
  // Far beyond the limit: refused at once, before any of it is read.
  r = roundtrip(port_, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  EXPECT_EQ(status_of(r), 413) << r;
  // Chunked, no length: cut when the received bytes pass the limit.
  std::string big = "800\r\n" + std::string(0x800, 'z') + "\r\n0\r\n\r\n";
  r = roundtrip(port_, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + big);
  EXPECT_EQ(status_of(r), 413) << r;
  EXPECT_EQ(status_of(roundtrip(port_, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")), 404);
  EXPECT_EQ(status_of(roundtrip(port_, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")), 405);
  EXPECT_GE(server_->stats().too_large.load(), 2u);
}

TEST_F(LiveServer, MultipartPartsAreCountedAndBounded) {
  auto body = [](int parts) {
    std::string b;
    for (int i = 0; i < parts; ++i)
      b += "--BB\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"" +
           (i == 0 ? "; filename=\"a.wav\"" : "") + "\r\n\r\nvalue\r\n";
    return b + "--BB--\r\n";
  };
  auto req = [&](const std::string& b) {
    return "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=BB\r\nContent-Length: " +
           std::to_string(b.size()) + "\r\n\r\n" + b;
  };
  auto r = roundtrip(port_, req(body(3)));
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("f0(a.wav),f1,f2,15"), std::string::npos) << r;
  // An epilogue after the close delimiter (OpenAI's Node client sends "\r\n") is ignored.
  r = roundtrip(port_, req(body(3) + "\r\nepilogue"));
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("f0(a.wav),f1,f2,15"), std::string::npos) << r;
  r = roundtrip(port_, req(body(5)));
  EXPECT_EQ(status_of(r), 400) << r;
  EXPECT_NE(r.find("too many form fields"), std::string::npos);
  // Cut short: no closing boundary.
  std::string cut = "--BB\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nval";
  r = roundtrip(port_, req(cut));
  EXPECT_EQ(status_of(r), 400) << r;
  // Not multipart at all.
  r = roundtrip(port_, "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(status_of(r), 400) << r;
}

TEST_F(LiveServer, DeferredReplyAndDisconnectWatch) {
  // Answered later from another thread.
  std::thread t([&] {
    for (int i = 0; i < 100 && !waiting_.reply; ++i) std::this_thread::sleep_for(20ms);
    std::this_thread::sleep_for(200ms);
    Response r;
    r.body = "{\"later\":true}";
    waiting_.reply->send(std::move(r));
  });
  auto r = roundtrip(port_, "GET /later/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  t.join();
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("later"), std::string::npos);
  // The client hangs up while the reply waits: the watcher says so.
  waiting_.reply.reset();
  int fd = connect_to(port_);
  std::string req = "GET /later/2 HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  for (int i = 0; i < 100 && !waiting_.reply; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(waiting_.reply);
  ::close(fd);
  for (int i = 0; i < 100 && !waiting_.gone; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(waiting_.gone);
  EXPECT_EQ(server_->stats().disconnects.load(), 1u);
}

TEST_F(LiveServer, HeaderDeadlineClosesDribblers) {
  int fd = connect_to(port_);
  ::send(fd, "GET /ech", 8, MSG_NOSIGNAL);
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    ::send(fd, "o", 1, MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char b[256];
      closed = ::recv(fd, b, sizeof b, MSG_DONTWAIT) <= 0;
    }
  }
  ::close(fd);
  EXPECT_TRUE(closed);
  // Counted before the server's shutdown (close_conn), so already there when the client sees it.
  EXPECT_EQ(server_->stats().header_timeouts.load(), 1u);
}

TEST_F(LiveServer, StopAnswersWaitingReplies) {
  std::string r;
  std::thread client([&] { r = roundtrip(port_, "GET /later/3 HTTP/1.1\r\nHost: x\r\n\r\n", 5000ms); });
  for (int i = 0; i < 100 && !waiting_.reply; ++i) std::this_thread::sleep_for(20ms);
  server_->stop();
  client.join();
  EXPECT_EQ(status_of(r), 503) << r;
}

}  // namespace
}  // namespace soroka::http
