// What to do after one request for a chunk: a pure decision from the answer, the tries made
// and how long the server has been out of reach.
#pragma once

#include <chrono>
#include <string>

#include "config/remote_engines.h"
#include "net/http_client.h"
#include "util/backoff.h"

namespace soroka::engine::remote {

enum class Next {
  done,         // a 2xx answer: parse it
  retry,        // wait, then send again (counted as a try)
  wait,         // the server could not be reached: wait, then again (not a try)
  fail_request, // a 4xx: the request itself is wrong; the server's message fails the job
  fail_tries,   // max_tries used up
  fail_unreachable,  // out of reach for longer than unreachable_wait
};

struct Decision {
  Next next = Next::fail_tries;
  std::chrono::milliseconds wait{0};
};

// `tries`: answers (or timeouts) already had for this chunk, this one included; `unreachable`:
// how long connections have failed in a row, this one included (0 after any answer).
// 429 and 503 wait Retry-After (capped at 10 min; backoff without one); 5xx, timeouts,
// resets and answers too large back off (util/backoff.h; first 1 s, cap 30 s); other 4xx
// fail at once. `jitter` in [0, 1).
Decision decide(const net::HttpAnswer& a, unsigned tries, std::chrono::milliseconds unreachable,
                const RemoteEngineSettings& e, double jitter);

// The backoff remote requests use: 1 s, doubling, at most 30 s (a GPU server restarting takes
// ~10-20 s to load a large model).
inline constexpr BackoffParams kRemoteBackoff{std::chrono::seconds(1), std::chrono::seconds(30)};

}  // namespace soroka::engine::remote
