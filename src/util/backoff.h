// Capped exponential backoff with jitter: the one wait rule every retrying client uses.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace soroka {

struct BackoffParams {
  std::chrono::milliseconds first{500};
  // A minute: outages of a remote API last seconds to minutes; a longer sleep only delays
  // recovery.
  std::chrono::milliseconds cap{60'000};
};

// The wait before try `attempt` + 1 (attempt counts from 0): first * 2^attempt, at most cap;
// `jitter` in [0, 1) spreads it over [wait/2, wait) so that many clients do not retry in step.
// Never below 1 ms. Pure.
inline std::chrono::milliseconds backoff_wait(int attempt, double jitter, const BackoffParams& b = {}) {
  const int shift = std::clamp(attempt, 0, 20);
  const auto full = std::min<std::chrono::milliseconds>(b.cap, b.first * (1LL << shift));
  const double j = std::clamp(jitter, 0.0, 1.0);
  const auto wait = std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(full.count()) * (0.5 + j / 2)));
  return std::max(wait, std::chrono::milliseconds(1));
}

}  // namespace soroka
