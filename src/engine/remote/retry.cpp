// What to do after one request for a chunk: a pure decision.
#include "engine/remote/retry.h"

#include <algorithm>

namespace soroka::engine::remote {

Decision decide(const net::HttpAnswer& a, unsigned tries, std::chrono::milliseconds unreachable,
                const RemoteEngineSettings& e, double jitter) {
  using namespace std::chrono;
  if (a.status >= 200 && a.status < 300 && !a.too_large) return {Next::done, {}};
  const int attempt = static_cast<int>(std::max(1u, tries)) - 1;
  if (a.status == 0 && a.connect_failed) {
    if (unreachable >= e.unreachable_wait) return {Next::fail_unreachable, {}};
    // 2-4 s between connection attempts: a restarted server is found within seconds, and a
    // refused connect costs the server nothing.
    return {Next::wait, backoff_wait(2, jitter, kRemoteBackoff)};
  }
  const bool overloaded = a.status == 429 || a.status == 503;
  const bool transient = a.status == 0 || a.status >= 500 || a.too_large || a.status == 408;
  if (!overloaded && !transient) return {Next::fail_request, {}};
  if (tries >= e.max_tries) return {Next::fail_tries, {}};
  // Retry-After caps at 10 min: a longer one is an outage, better failed and retried as a job.
  if (overloaded && a.retry_after_s)
    return {Next::retry, std::clamp<milliseconds>(seconds(*a.retry_after_s), milliseconds(1), minutes(10))};
  return {Next::retry, backoff_wait(attempt, jitter, kRemoteBackoff)};
}

}  // namespace soroka::engine::remote
