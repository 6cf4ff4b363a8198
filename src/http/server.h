// http::Server: a bounded HTTP/1.1 server (libmicrohttpd underneath) that enforces every
// size, count and time limit before a handler runs, streams bodies, and answers later.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/limits.h"
#include "util/result.h"

namespace soroka::http {

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this response
};

struct Request {
  std::string method;
  std::string path;  // without the query string
  std::vector<std::string> captures;  // the route's {id} segments, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string peer;             // the client's address, numeric
  bool peer_loopback = false;
  std::optional<std::uint64_t> content_length;
  bool multipart = false;       // Content-Type: multipart/form-data

  std::optional<std::string_view> header(std::string_view lowercase_name) const;
};

// One chunk of a multipart/form-data part. `first`: the part's first chunk (possibly empty).
struct FormChunk {
  std::string_view name;
  std::string_view filename;
  std::string_view content_type;
  std::string_view data;
  bool first = false;
};

// How a handler answers: now or later, from any thread, exactly once. Thread-safe.
class Reply {
 public:
  virtual ~Reply() = default;
  virtual void send(Response r) = 0;
  // Calls `on_gone` (once, on the server's watch thread) if the client disconnects before
  // send(); the reply is then answered with a closed connection. For long waits.
  virtual void watch_disconnect(std::function<void()> on_gone) = 0;
  virtual bool sent() const = 0;
};

// One request's handler, made when its headers are complete. The body callbacks run on the
// server's event loop and must not block; complete() runs on a handler thread and may block.
class Handler {
 public:
  virtual ~Handler() = default;
  // A chunk of a non-multipart body (already bounded by the route's max_body). Returning a
  // response stops reading; the connection is closed after it.
  virtual std::optional<Response> on_body(std::string_view chunk) {
    body_.append(chunk);
    return std::nullopt;
  }
  // A chunk of a multipart part (multipart routes only).
  virtual std::optional<Response> on_form(const FormChunk&) { return std::nullopt; }
  // The whole body has arrived (or the request had none).
  virtual void complete(std::shared_ptr<Reply> reply) = 0;

 protected:
  std::string body_;
};

struct Route {
  std::string method;   // "GET", "POST", "DELETE"
  std::string pattern;  // "/v1/jobs/{id}": {id} matches [0-9A-Za-z_-]{1,64}
  std::uint64_t max_body = 4096;  // declared or received beyond: 413
  // max_body for this request; overrides max_body when set (e.g. from settings that reload).
  std::function<std::uint64_t()> max_body_now;
  bool multipart = false;  // the body is parsed as multipart/form-data (on_form)
  bool reserved = false;   // may use the reserved capacity (/healthz, /metrics)
  bool inline_complete = false;  // complete() runs on the event loop (must not block)
  bool own_auth = false;  // the route checks its caller itself (the Telegram webhook's secret)
  // Makes the request's handler, or refuses the request (auth, capacity) with a response.
  std::function<std::unique_ptr<Handler>(const Request&, std::optional<Response>& refuse)> make;
};

// Counters for /metrics.
struct Stats {
  std::atomic<std::uint64_t> connections{0};        // open now
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};            // at accept: no room and nothing to evict
  std::atomic<std::uint64_t> evicted{0};            // closed to make room
  std::atomic<std::uint64_t> header_timeouts{0};
  std::atomic<std::uint64_t> slow_bodies{0};
  std::atomic<std::uint64_t> disconnects{0};        // clients gone while their reply waited
  std::atomic<std::uint64_t> busy{0};               // 503: capacity or handler queue full
  std::atomic<std::uint64_t> too_large{0};          // 413
  std::atomic<std::uint64_t> bad_headers{0};        // 431 from our header count
  std::atomic<std::uint64_t> buffered_bytes{0};     // request state held now (bodies, fields)
};

// Checks on a request before its route is made: an answer refuses it.
using Gate = std::function<std::optional<Response>(const Request&, const Route&)>;

class Server {
 public:
  // Binds; does not serve until start(). `host` "" or "0.0.0.0" = all IPv4, "::" = all IPv6.
  static Result<std::unique_ptr<Server>> bind(const std::string& host, int port, Limits limits);
  ~Server();  // stop()

  void add(Route route);
  // Called for every request after its headers, before its route (routes not found are 404).
  void set_gate(Gate gate);
  // Called for answers the server itself makes (404, 405, 413, 503...): status and message ->
  // the response; lets the service use its error shape.
  void set_error_body(std::function<Response(int status, std::string message)> f);
  Result<void> start();
  // Stops accepting, answers every waiting reply with 503, finishes the handler queue, closes.
  void stop();

  // Serves an already connected stream socket (ownership passes to the server), as if it had
  // been accepted from a loopback client: for fuzzing and tests, and for sockets handed over
  // by a supervisor.
  Result<void> add_connection(int fd);

  int port() const;
  const Stats& stats() const;
  const Limits& limits() const;
  // The event loop turned within the last `within` (for the systemd watchdog).
  bool loop_alive(std::chrono::milliseconds within) const;
  // Bytes held for connections now: the per-connection pools plus buffered request state.
  std::uint64_t memory_bytes() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Route pattern matching (exposed for tests): captures of `pattern` in `path`, or nullopt.
std::optional<std::vector<std::string>> match_route(std::string_view pattern, std::string_view path);

// The boundary parameter of a multipart Content-Type (quoted or not), or nullopt (exposed for
// tests and fuzzing).
std::optional<std::string> multipart_boundary(std::string_view content_type);

// The eviction decision at accept (pure, exposed for tests). Each open connection: its client,
// when its current phase began, and whether it is still sending headers (evictable).
struct ConnView {
  std::uint64_t id = 0;
  std::string client;
  std::chrono::steady_clock::time_point since;
  bool evictable = false;
};
struct AcceptDecision {
  bool accept = false;
  std::optional<std::uint64_t> evict;  // the connection to close first
};
AcceptDecision decide_accept(const std::vector<ConnView>& open, const std::string& client,
                             std::size_t max_connections, std::size_t max_per_client);

}  // namespace soroka::http
