// http::Limits: every bound the HTTP server enforces before a handler sees a request.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace soroka::http {

struct Limits {
  // Request line + headers of one request must fit this per-connection pool (libmicrohttpd
  // answers 414 or 431 beyond it, while reading). 32 KiB: the largest header block OpenAI's
  // Python and Node clients send is under 2 KiB; browsers stay under 16 KiB.
  std::size_t connection_memory = 32 * 1024;
  std::size_t max_headers = 64;  // beyond: 431 (OpenAI clients send ~15)
  // Open connections in all, and from one client address. Beyond either, the oldest
  // connection that has not finished sending its headers is closed to make room; if there is
  // none, the new connection is refused. 1024 idle connections measured at ~5 MiB RSS.
  std::size_t max_connections = 1024;
  std::size_t max_per_client = 256;
  // Kept for reserved routes (/healthz, /metrics): other requests in progress are capped at
  // max_connections - reserved_connections, beyond which they get 503.
  std::size_t reserved_connections = 16;
  // The request line and headers must arrive within this time from the connection's start
  // (or the end of the previous request on a kept-alive connection).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // A connection with no traffic at all for this long is closed (idle keep-alive, stalled body,
  // a client that stops reading its response).
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
  // After header_timeout into the body, a body arriving slower than this on average is cut.
  // 16 KiB/s: a 100 MB upload may take ~100 min; a byte every few seconds cannot hold a slot.
  std::uint64_t min_body_rate = 16 * 1024;
  // Multipart bodies: parts in all (a transcription form has ~6 fields and one file).
  std::size_t max_form_parts = 32;
  // Handlers that may block (disk, database, child processes) run on this many threads; at
  // most this many requests wait for one, beyond which the answer is 503.
  std::size_t handler_threads = 4;
  std::size_t handler_queue = 256;
  // The event loop's longest sleep between turns: header and body deadlines are checked once
  // a turn. Network events, resumed connections and handed-over sockets wake it at once.
  std::chrono::milliseconds loop_tick{100};
};

}  // namespace soroka::http
