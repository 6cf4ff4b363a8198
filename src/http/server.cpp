// http::Server: libmicrohttpd driven by our own event-loop thread, with connection accounting,
// eviction, deadlines, per-route body limits, a handler pool and deferred replies.
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <microhttpd.h>
#include <spdlog/spdlog.h>

#include "util/text.h"

namespace soroka::http {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// libmicrohttpd's buffer for a multipart part's headers (Content-Disposition, Content-Type);
// a part header longer than this is a malformed body.
constexpr std::size_t kPostBuffer = 8 * 1024;
// Slack above max_connections in libmicrohttpd's own limit: connections we closed to make room
// are still open until the loop's next turn.
constexpr unsigned kConnectionSlack = 64;
// A refused body is still read and thrown away up to this multiple of the route's limit, so
// that a client still sending reads our answer instead of a connection reset (clients write
// the whole body before they read); beyond, we answer at once and close.
constexpr std::uint64_t kDrainFactor = 4;
// What a request refused before its route is known (404, 405, 431) may send.
constexpr std::uint64_t kUnroutedBody = 16 * 1024;

bool is_loopback(const sockaddr* sa) {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

std::string numeric_address(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa == nullptr) return "?";
  if (sa->sa_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  else
    return "?";
  return buf;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

bool id_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

// A bounded FIFO of tasks run by a fixed set of threads.
class TaskPool {
 public:
  TaskPool(std::size_t threads, std::size_t queue) : cap_(queue) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~TaskPool() { stop(); }
  bool post(std::function<void()> f) {
    std::lock_guard lk(mu_);
    if (stopping_ || q_.size() >= cap_) return false;
    q_.push_back(std::move(f));
    cv_.notify_one();
    return true;
  }
  void stop() {
    {
      std::lock_guard lk(mu_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void run() {
    while (true) {
      std::function<void()> f;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !q_.empty(); });
        if (q_.empty()) return;  // stopping, and the queue is drained
        f = std::move(q_.front());
        q_.pop_front();
      }
      f();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  std::size_t cap_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::optional<std::string_view> Request::header(std::string_view lowercase_name) const {
  for (const auto& [k, v] : headers)
    if (k == lowercase_name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::vector<std::string>> match_route(std::string_view pattern, std::string_view path) {
  std::vector<std::string> caps;
  std::size_t i = 0, j = 0;
  while (i < pattern.size()) {
    if (pattern.substr(i).starts_with("{id}")) {
      std::size_t k = j;
      while (k < path.size() && id_char(path[k])) ++k;
      if (k == j || k - j > 64) return std::nullopt;
      caps.emplace_back(path.substr(j, k - j));
      i += 4;
      j = k;
      continue;
    }
    if (j >= path.size() || pattern[i] != path[j]) return std::nullopt;
    ++i;
    ++j;
  }
  if (j != path.size()) return std::nullopt;
  return caps;
}

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  std::string lc = lower(content_type);
  auto at = lc.find("boundary=");
  if (at == std::string::npos) return std::nullopt;
  std::string_view v = content_type.substr(at + 9);
  std::string b;
  if (!v.empty() && v.front() == '"') {
    auto end = v.find('"', 1);
    if (end == std::string_view::npos) return std::nullopt;
    b = v.substr(1, end - 1);
  } else {
    auto end = v.find_first_of("; \t");
    b = v.substr(0, end);
  }
  // RFC 2046: 1 to 70 characters.
  if (b.empty() || b.size() > 70) return std::nullopt;
  return b;
}

AcceptDecision decide_accept(const std::vector<ConnView>& open, const std::string& client,
                             std::size_t max_connections, std::size_t max_per_client) {
  std::size_t total = open.size(), mine = 0;
  for (const auto& c : open)
    if (c.client == client) ++mine;
  const bool over_client = mine >= max_per_client;
  const bool over_total = total >= max_connections;
  if (!over_client && !over_total) return {true, std::nullopt};
  // Oldest evictable: of this client when it is over its own share, else of anyone.
  const ConnView* victim = nullptr;
  for (const auto& c : open) {
    if (!c.evictable || (over_client && c.client != client)) continue;
    if (!victim || c.since < victim->since) victim = &c;
  }
  if (!victim) return {false, std::nullopt};
  return {true, victim->id};
}

// ---------------------------------------------------------------------------------------------

namespace {

enum class Phase { headers, request, waiting };

struct Conn {
  std::uint64_t id = 0;
  int fd = -1;
  std::string client;
  bool loopback = false;
  Phase phase = Phase::headers;
  Clock::time_point since;     // start of the current phase
  Clock::time_point last_io;   // last body bytes seen
  std::uint64_t body_bytes = 0;
  bool closing = false;        // we shut it down; libmicrohttpd closes it on its next turn
};

// Gives up on a connection: libmicrohttpd sees the shutdown and closes it on its next turn.
// Counted before the shutdown: a client that sees its connection end finds it in the stats.
void close_conn(Conn& c, std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1);
  c.closing = true;
  ::shutdown(c.fd, SHUT_RDWR);
}

}  // namespace

class ReplyImpl;

struct Server::Impl {
  Limits limits;
  MHD_Daemon* daemon = nullptr;
  int port = 0;
  std::vector<Route> routes;
  Gate gate;
  std::function<Response(int, std::string)> error_body;
  Stats stats;

  // Owned by the loop thread (libmicrohttpd calls back only there).
  std::map<std::uint64_t, Conn*> conns;
  std::uint64_t next_conn = 1;
  std::size_t active_unreserved = 0;

  std::unique_ptr<TaskPool> pool;
  std::thread loop;
  std::atomic<bool> stopping{false};   // no new connections
  std::atomic<bool> loop_stop{false};  // the event loop ends
  std::atomic<std::int64_t> loop_tick_ns{0};
  // The loop sleeps in poll() on libmicrohttpd's epoll descriptor and this eventfd; other
  // threads write it when they resume a connection or hand one over, since libmicrohttpd in
  // external mode takes either only when it is run again.
  int epoll_fd = -1;
  int wake_fd = -1;
  void wake() const {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  // Sockets handed over by add_connection(), taken in by the loop.
  std::mutex adopt_mu;
  std::vector<int> adopt;

  // Replies that wait with a suspended connection, and those that watch for a disconnect.
  std::mutex replies_mu;
  std::vector<std::shared_ptr<ReplyImpl>> waiting;

  Response error(int status, std::string message) const {
    if (error_body) return error_body(status, std::move(message));
    Response r;
    r.status = status;
    r.content_type = "text/plain";
    r.body = std::move(message);
    return r;
  }
  void run_loop();
  void reap(Clock::time_point now);
  void watch_disconnects();
};

class ReplyImpl final : public Reply, public std::enable_shared_from_this<ReplyImpl> {
 public:
  ReplyImpl(Server::Impl* srv, MHD_Connection* c, int fd) : srv_(srv), conn_(c), fd_(fd) {}

  void send(Response r) override { finish(std::move(r)); }
  void watch_disconnect(std::function<void()> on_gone) override {
    std::lock_guard lk(mu_);
    on_gone_ = std::move(on_gone);
  }
  bool sent() const override {
    std::lock_guard lk(mu_);
    return sent_;
  }

  // Loop thread: the connection is being suspended; false if already answered (no suspend).
  bool suspend() {
    std::lock_guard lk(mu_);
    if (sent_) return false;
    suspended_ = true;
    MHD_suspend_connection(conn_);
    return true;
  }
  std::optional<Response> take() {
    std::lock_guard lk(mu_);
    auto r = std::move(resp_);
    resp_.reset();
    return r;
  }
  // Watch thread: the client went away while we waited.
  bool gone_check(short revents) {
    if (!(revents & (POLLRDHUP | POLLHUP | POLLERR))) return false;
    std::function<void()> f;
    {
      std::lock_guard lk(mu_);
      if (sent_ || !on_gone_) return false;
      f = std::move(on_gone_);
      on_gone_ = nullptr;
    }
    f();
    finish(std::nullopt);  // resumed with no answer: the connection closes
    return true;
  }
  bool watching() const {
    std::lock_guard lk(mu_);
    return !sent_ && on_gone_ != nullptr;
  }
  int fd() const { return fd_; }

 private:
  // Answers once (nullopt: none, the connection is closed) and resumes it if suspended.
  void finish(std::optional<Response> r) {
    std::lock_guard lk(mu_);
    if (sent_) return;
    sent_ = true;
    resp_ = std::move(r);
    if (suspended_) {
      suspended_ = false;
      MHD_resume_connection(conn_);
      srv_->wake();
    }
  }

  Server::Impl* srv_;
  MHD_Connection* conn_;
  int fd_;
  mutable std::mutex mu_;
  bool sent_ = false;
  bool suspended_ = false;
  std::optional<Response> resp_;
  std::function<void()> on_gone_;
};

namespace {

// One request, from its headers to its end (libmicrohttpd's per-request pointer).
struct RequestState {
  Server::Impl* srv = nullptr;
  Conn* conn = nullptr;
  const Route* route = nullptr;
  Request req;
  std::unique_ptr<Handler> handler;
  std::optional<Response> refusal;  // answered once the body is drained (or at once)
  bool refuse_now = false;
  MHD_PostProcessor* pp = nullptr;
  std::uint64_t received = 0;
  std::uint64_t max_body = kUnroutedBody;  // the route's, once it is known
  std::size_t parts = 0;
  std::string part_name;
  std::uint64_t part_bytes = 0;
  std::uint64_t buffered = 0;  // counted in stats.buffered_bytes
  bool counted_active = false;
  bool completed = false;
  std::shared_ptr<ReplyImpl> reply;
  // The multipart close delimiter and the stream's last bytes: libmicrohttpd 0.9.75 fails on
  // an epilogue after it (RFC 2046 says to ignore one; OpenAI's Node client sends "\r\n"), so
  // the body is fed to it only up to the delimiter.
  std::string closing, tail;
  bool closed = false;

  ~RequestState() {
    if (pp) MHD_destroy_post_processor(pp);
    if (buffered) srv->stats.buffered_bytes.fetch_sub(buffered, std::memory_order_relaxed);
  }
  void refuse(Response r) {
    if (refusal) return;
    r.close = true;
    refusal = std::move(r);
    if (handler) handler.reset();  // an upload's file goes with it
  }
};

MHD_Result queue(MHD_Connection* c, const Response& r) {
  MHD_Response* m = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                     MHD_RESPMEM_MUST_COPY);
  if (!m) return MHD_NO;
  if (!r.content_type.empty()) MHD_add_response_header(m, "Content-Type", r.content_type.c_str());
  for (const auto& [k, v] : r.headers) MHD_add_response_header(m, k.c_str(), v.c_str());
  if (r.close) MHD_add_response_header(m, "Connection", "close");
  MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), m);
  MHD_destroy_response(m);
  return ok;
}

MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* v = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
  v->emplace_back(lower(key ? key : ""), value ? value : "");
  return MHD_YES;
}

MHD_Result on_post(void* cls, MHD_ValueKind, const char* key, const char* filename,
                   const char* content_type, const char*, const char* data, uint64_t off,
                   size_t size) {
  auto* st = static_cast<RequestState*>(cls);
  if (st->refusal) return MHD_YES;  // drain
  std::string_view name = key ? key : "";
  const bool first = off == 0 && (st->parts == 0 || name != st->part_name || st->part_bytes > 0);
  if (first) {
    if (++st->parts > st->srv->limits.max_form_parts) {
      st->refuse(st->srv->error(400, "too many form fields (at most " +
                                         std::to_string(st->srv->limits.max_form_parts) + ")"));
      return MHD_YES;
    }
    st->part_name.assign(name);
    st->part_bytes = 0;
  }
  st->part_bytes += size;
  FormChunk fc;
  fc.name = name;
  fc.filename = filename ? filename : "";
  fc.content_type = content_type ? content_type : "";
  fc.data = std::string_view(data ? data : "", size);
  fc.first = first;
  if (auto r = st->handler->on_form(fc)) st->refuse(std::move(*r));
  return MHD_YES;
}

// The request's headers are complete: check them, find the route, make the handler.
void begin(RequestState* st, MHD_Connection* c, const char* url, const char* method) {
  auto* srv = st->srv;
  const Limits& L = srv->limits;
  Request& req = st->req;
  req.method = method ? method : "";
  req.path = url ? url : "";
  if (auto q = req.path.find('?'); q != std::string::npos) req.path.resize(q);
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &req.headers);
  if (st->conn) {
    req.peer = st->conn->client;
    req.peer_loopback = st->conn->loopback;
  }
  if (auto cl = req.header("content-length")) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (ec == std::errc() && p == cl->data() + cl->size()) req.content_length = n;
  }
  if (auto ct = req.header("content-type")) req.multipart = lower(*ct).starts_with("multipart/form-data");
  // A refusal before the body: answered at once when no body follows or it is too big to be
  // worth reading; otherwise the body is drained first (see kDrainFactor).
  const bool chunked = req.header("transfer-encoding").has_value();
  auto refuse_now = [&](Response r) {
    const bool body_follows = chunked || (req.content_length && *req.content_length > 0);
    st->refuse(std::move(r));
    st->refuse_now = !body_follows || (req.content_length && *req.content_length > kDrainFactor * st->max_body);
  };
  if (req.headers.size() > L.max_headers) {
    srv->stats.bad_headers.fetch_add(1, std::memory_order_relaxed);
    return refuse_now(srv->error(431, "too many header fields (at most " + std::to_string(L.max_headers) + ")"));
  }

  const Route* route = nullptr;
  bool path_known = false;
  for (const auto& r : srv->routes) {
    auto caps = match_route(r.pattern, req.path);
    if (!caps) continue;
    path_known = true;
    if (r.method != req.method) continue;
    route = &r;
    req.captures = std::move(*caps);
    break;
  }
  if (!route) return refuse_now(path_known ? srv->error(405, "method not allowed")
                                           : srv->error(404, "no such endpoint"));
  st->route = route;
  st->max_body = route->max_body_now ? route->max_body_now() : route->max_body;
  if (!route->reserved) {
    if (srv->active_unreserved + L.reserved_connections >= L.max_connections) {
      srv->stats.busy.fetch_add(1, std::memory_order_relaxed);
      auto r = srv->error(503, "too many requests in progress; retry later");
      r.headers.emplace_back("Retry-After", "2");
      return refuse_now(std::move(r));
    }
    st->counted_active = true;
    ++srv->active_unreserved;
  }
  if (req.content_length && *req.content_length > st->max_body) {
    srv->stats.too_large.fetch_add(1, std::memory_order_relaxed);
    auto r = srv->error(413, "the request body is " + std::to_string(*req.content_length) + " bytes; at most " +
                                 std::to_string(st->max_body) + " are accepted here");
    return refuse_now(std::move(r));
  }
  if (srv->gate)
    if (auto r = srv->gate(req, *route)) return refuse_now(std::move(*r));
  std::optional<Response> refused;
  st->handler = route->make(req, refused);
  if (refused || !st->handler)
    return refuse_now(refused ? std::move(*refused) : srv->error(500, "no handler"));
  if (route->multipart) {
    if (!req.multipart) return refuse_now(srv->error(400, "expected a multipart/form-data body"));
    st->pp = MHD_create_post_processor(c, kPostBuffer, on_post, st);
    if (!st->pp) return refuse_now(srv->error(400, "malformed multipart/form-data (no boundary?)"));
    if (auto b = multipart_boundary(*req.header("content-type"))) st->closing = "\r\n--" + *b + "--";
  }
}

// A chunk of the body.
bool body(RequestState* st, const char* data, std::size_t n) {
  auto* srv = st->srv;
  st->received += n;
  if (st->conn) {
    st->conn->body_bytes += n;
    st->conn->last_io = Clock::now();
  }
  if (st->refusal) {
    return st->received <= kDrainFactor * st->max_body;
  }
  if (st->received > st->max_body) {
    srv->stats.too_large.fetch_add(1, std::memory_order_relaxed);
    st->refuse(srv->error(413, "the request body is over the limit of " + std::to_string(st->max_body) +
                                   " bytes"));
    return true;
  }
  if (st->pp) {
    if (st->closed) return true;  // the epilogue: ignored
    std::size_t feed = n;
    if (!st->closing.empty()) {
      std::string window = st->tail;
      window.append(data, n);
      if (auto k = window.find(st->closing); k != std::string::npos) {
        feed = k + st->closing.size() - st->tail.size();
        st->closed = true;
      } else {
        st->tail = window.substr(window.size() - std::min(window.size(), st->closing.size() - 1));
      }
    }
    bool ok = MHD_post_process(st->pp, data, feed) == MHD_YES;
    if (ok && st->closed) ok = MHD_post_process(st->pp, "\r\n", 2) == MHD_YES;
    if (!ok && !st->refusal) st->refuse(srv->error(400, "malformed multipart/form-data body"));
    return true;
  }
  if (auto r = st->handler->on_body(std::string_view(data, n))) st->refuse(std::move(*r));
  st->buffered += n;
  srv->stats.buffered_bytes.fetch_add(n, std::memory_order_relaxed);
  return true;
}

MHD_Result dispatch(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                    const char* upload_data, size_t* upload_data_size, void** con_cls) {
  auto* srv = static_cast<Server::Impl*>(cls);
  auto* st = static_cast<RequestState*>(*con_cls);
  if (!st) {
    st = new RequestState;
    st->srv = srv;
    *con_cls = st;
    if (const auto* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT); ci && ci->socket_context) {
      st->conn = static_cast<Conn*>(ci->socket_context);
      st->conn->phase = Phase::request;
      st->conn->since = st->conn->last_io = Clock::now();
      st->conn->body_bytes = 0;
    }
    begin(st, c, url, method);
    if (st->refusal && st->refuse_now) return queue(c, *st->refusal);
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    bool keep = body(st, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return keep ? MHD_YES : MHD_NO;
  }
  // The body is complete (or we were resumed with an answer).
  if (st->completed) {
    auto r = st->reply ? st->reply->take() : std::nullopt;
    return r ? queue(c, *r) : MHD_NO;  // none: the client is gone
  }
  st->completed = true;
  if (st->pp && !st->refusal) {
    MHD_Result whole = MHD_destroy_post_processor(st->pp);
    st->pp = nullptr;
    if (whole != MHD_YES) st->refuse(srv->error(400, "the multipart body was cut short or malformed"));
  }
  if (st->refusal) return queue(c, *st->refusal);
  int fd = st->conn ? st->conn->fd : -1;
  st->reply = std::make_shared<ReplyImpl>(srv, c, fd);
  if (st->conn) st->conn->phase = Phase::waiting;
  if (st->route->inline_complete) {
    st->handler->complete(st->reply);
    if (auto r = st->reply->take()) return queue(c, *r);
    if (!st->reply->suspend()) {  // answered from another thread meanwhile
      auto r = st->reply->take();
      return r ? queue(c, *r) : MHD_NO;
    }
  } else {
    st->reply->suspend();
    Handler* h = st->handler.get();
    std::shared_ptr<ReplyImpl> reply = st->reply;
    if (!srv->pool->post([h, reply] { h->complete(reply); })) {
      srv->stats.busy.fetch_add(1, std::memory_order_relaxed);
      auto r = srv->error(503, "the server is busy; retry later");
      r.headers.emplace_back("Retry-After", "2");
      reply->send(std::move(r));
      return MHD_YES;
    }
  }
  std::lock_guard lk(srv->replies_mu);
  srv->waiting.push_back(st->reply);
  return MHD_YES;
}

void completed(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  auto* srv = static_cast<Server::Impl*>(cls);
  auto* st = static_cast<RequestState*>(*con_cls);
  if (!st) return;
  if (st->counted_active) --srv->active_unreserved;
  if (st->conn) {
    st->conn->phase = Phase::headers;  // a kept-alive connection waits for its next request
    st->conn->since = Clock::now();
  }
  delete st;
  *con_cls = nullptr;
}

void on_connection(void* cls, MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) {
  auto* srv = static_cast<Server::Impl*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    auto* conn = new Conn;
    conn->id = srv->next_conn++;
    if (const auto* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)) conn->fd = ci->connect_fd;
    if (const auto* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) {
      conn->client = numeric_address(ci->client_addr);
      conn->loopback = is_loopback(ci->client_addr);
    }
    conn->since = conn->last_io = Clock::now();
    srv->conns[conn->id] = conn;
    *socket_context = conn;
    srv->stats.connections.store(srv->conns.size(), std::memory_order_relaxed);
    srv->stats.accepted.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto* conn = static_cast<Conn*>(*socket_context);
  if (!conn) return;
  srv->conns.erase(conn->id);
  srv->stats.connections.store(srv->conns.size(), std::memory_order_relaxed);
  delete conn;
  *socket_context = nullptr;
}

MHD_Result accept_policy(void* cls, const sockaddr* addr, socklen_t) {
  auto* srv = static_cast<Server::Impl*>(cls);
  if (srv->stopping) return MHD_NO;
  std::vector<ConnView> open;
  open.reserve(srv->conns.size());
  for (const auto& [id, c] : srv->conns) {
    if (c->closing) continue;
    open.push_back({id, c->client, c->since, c->phase == Phase::headers});
  }
  auto d = decide_accept(open, numeric_address(addr), srv->limits.max_connections, srv->limits.max_per_client);
  if (d.evict) {
    close_conn(*srv->conns.at(*d.evict), srv->stats.evicted);
  }
  if (!d.accept) srv->stats.refused.fetch_add(1, std::memory_order_relaxed);
  return d.accept ? MHD_YES : MHD_NO;
}

void mhd_log(void*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string_view s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  spdlog::debug("event=http_library message=\"{}\"", log_escape(s));
}

}  // namespace

void Server::Impl::reap(Clock::time_point now) {
  for (auto& [id, c] : conns) {
    if (c->closing || now - c->since <= limits.header_timeout) continue;
    if (c->phase == Phase::headers) {
      close_conn(*c, stats.header_timeouts);
    } else if (c->phase == Phase::request) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - c->since).count();
      if (c->body_bytes * 1000 / static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 1)) < limits.min_body_rate ||
          now - c->last_io > limits.idle_timeout)
        close_conn(*c, stats.slow_bodies);
    }
  }
}

void Server::Impl::watch_disconnects() {
  std::vector<std::shared_ptr<ReplyImpl>> watch;
  {
    std::lock_guard lk(replies_mu);
    std::erase_if(waiting, [](const auto& r) { return r->sent(); });
    for (const auto& r : waiting)
      if (r->watching() && r->fd() >= 0) watch.push_back(r);
  }
  if (watch.empty()) return;
  std::vector<pollfd> pfds;
  for (const auto& r : watch) pfds.push_back({r->fd(), POLLRDHUP, 0});
  if (::poll(pfds.data(), pfds.size(), 0) <= 0) return;
  for (std::size_t i = 0; i < pfds.size(); ++i)
    if (watch[i]->gone_check(pfds[i].revents)) stats.disconnects.fetch_add(1, std::memory_order_relaxed);
}

void Server::Impl::run_loop() {
  while (!loop_stop) {
    int wait = static_cast<int>(limits.loop_tick.count());
    if (MHD_UNSIGNED_LONG_LONG t = 0; MHD_get_timeout(daemon, &t) == MHD_YES)
      wait = static_cast<int>(std::min<MHD_UNSIGNED_LONG_LONG>(t, static_cast<MHD_UNSIGNED_LONG_LONG>(wait)));
    pollfd p[2] = {{epoll_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    ::poll(p, 2, wait);
    if (p[1].revents & POLLIN) {
      std::uint64_t n = 0;
      (void)!::read(wake_fd, &n, sizeof n);
    }
    MHD_run(daemon);
    std::vector<int> fds;
    {
      std::lock_guard lk(adopt_mu);
      fds.swap(adopt);
    }
    for (int fd : fds) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      MHD_add_connection(daemon, fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);  // closes fd if refused
    }
    auto now = Clock::now();
    loop_tick_ns.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    reap(now);
    watch_disconnects();
  }
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

namespace {

// Every connection is a descriptor: max_connections kept within what we may open (the soft
// RLIMIT_NOFILE raised to the hard one first); reserved_connections within max_connections.
Limits fit_to_descriptors(Limits limits) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
      ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    // Descriptors for the store, workers, uploads being written and the slack: 128.
    const std::uint64_t room = rl.rlim_cur > 128 + kConnectionSlack ? rl.rlim_cur - 128 - kConnectionSlack : 16;
    if (limits.max_connections > room) {
      spdlog::warn("event=http_connections_capped max_connections={} nofile={} hint=\"raise LimitNOFILE\"",
                   room, rl.rlim_cur);
      limits.max_connections = room;
    }
  }
  if (limits.reserved_connections >= limits.max_connections) limits.reserved_connections = limits.max_connections / 4;
  return limits;
}

// The address to bind: IPv6 when `host` has a ':', else IPv4 ("" and "*": any; "localhost":
// 127.0.0.1).
Result<sockaddr_storage> listen_address(const std::string& host, int port) {
  sockaddr_storage ss{};
  if (host.find(':') != std::string::npos) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1)
      return fail("not an IPv6 address: " + host, EINVAL);
    return ss;
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(static_cast<std::uint16_t>(port));
  std::string h = host.empty() || host == "*" ? "0.0.0.0" : host == "localhost" ? "127.0.0.1" : host;
  if (::inet_pton(AF_INET, h.c_str(), &in->sin_addr) != 1) return fail("not an IPv4 address: " + host, EINVAL);
  return ss;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::bind(const std::string& host, int port, Limits wanted) {
  auto impl = std::make_unique<Impl>();
  const Limits limits = fit_to_descriptors(wanted);
  impl->limits = limits;
  auto address = listen_address(host, port);
  if (!address) return std::unexpected(address.error());
  sockaddr_storage ss = *address;
  const bool v6 = ss.ss_family == AF_INET6;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  Impl* p = impl.get();
  impl->daemon = MHD_start_daemon(
      flags, static_cast<std::uint16_t>(port), accept_policy, p, dispatch, p,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&ss),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(limits.connection_memory),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits.max_connections + kConnectionSlack),
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned>(std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(limits.idle_timeout).count())),
      MHD_OPTION_NOTIFY_COMPLETED, completed, p,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, p,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, p,
      MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
      MHD_OPTION_END);
  if (!impl->daemon) return fail("cannot listen on " + host + ":" + std::to_string(port), EADDRINUSE);
  if (const auto* di = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT)) impl->port = di->port;
  if (const auto* di = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_EPOLL_FD)) impl->epoll_fd = di->epoll_fd;
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->wake_fd < 0) {
    MHD_stop_daemon(impl->daemon);
    if (impl->wake_fd >= 0) ::close(impl->wake_fd);
    return fail("cannot set up the HTTP event loop", errno ? errno : EIO);
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::add(Route route) { impl_->routes.push_back(std::move(route)); }
void Server::set_gate(Gate gate) { impl_->gate = std::move(gate); }
void Server::set_error_body(std::function<Response(int, std::string)> f) { impl_->error_body = std::move(f); }

Result<void> Server::start() {
  impl_->pool = std::make_unique<TaskPool>(impl_->limits.handler_threads, impl_->limits.handler_queue);
  impl_->loop_tick_ns.store(Clock::now().time_since_epoch().count());
  impl_->loop = std::thread([p = impl_.get()] { p->run_loop(); });
  return {};
}

void Server::stop() {
  if (!impl_ || !impl_->daemon) return;
  impl_->stopping = true;
  // Handlers in flight finish first and answer their own replies: answering one of theirs
  // from here would let the loop end its request (and free its handler) while it still runs.
  if (impl_->pool) impl_->pool->stop();
  // What still waits (long waits: synchronous jobs) is answered so its connection resumes and
  // can be closed.
  std::vector<std::shared_ptr<ReplyImpl>> waiting;
  {
    std::lock_guard lk(impl_->replies_mu);
    waiting = impl_->waiting;
  }
  for (auto& r : waiting) {
    Response resp = impl_->error(503, "the service is shutting down");
    resp.close = true;
    r->send(std::move(resp));
  }
  if (impl_->loop.joinable()) {
    // A few turns so resumed connections get their answers out before the daemon closes them.
    auto until = Clock::now() + 200ms;
    while (Clock::now() < until) std::this_thread::sleep_for(20ms);
    {
      std::lock_guard lk(impl_->adopt_mu);
      impl_->loop_stop = true;
      for (int fd : impl_->adopt) ::close(fd);
      impl_->adopt.clear();
    }
    impl_->loop.join();
  }
  MHD_stop_daemon(impl_->daemon);
  impl_->daemon = nullptr;
  ::close(impl_->wake_fd);
}

Result<void> Server::add_connection(int fd) {
  // libmicrohttpd runs the accept policy and the connection notification in the thread that
  // adds a connection; ours keep their table on the loop thread only, so the loop adds it.
  std::lock_guard lk(impl_->adopt_mu);
  if (impl_->loop_stop) {
    ::close(fd);
    return fail("the server is stopping", ESHUTDOWN);
  }
  impl_->adopt.push_back(fd);
  impl_->wake();
  return {};
}

int Server::port() const { return impl_->port; }
const Stats& Server::stats() const { return impl_->stats; }
const Limits& Server::limits() const { return impl_->limits; }

bool Server::loop_alive(std::chrono::milliseconds within) const {
  auto tick = Clock::time_point(Clock::duration(impl_->loop_tick_ns.load(std::memory_order_relaxed)));
  return Clock::now() - tick <= within;
}

std::uint64_t Server::memory_bytes() const {
  return impl_->stats.connections.load(std::memory_order_relaxed) * impl_->limits.connection_memory +
         impl_->stats.buffered_bytes.load(std::memory_order_relaxed);
}

}  // namespace soroka::http
