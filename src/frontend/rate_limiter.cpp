// RateLimiter: submissions per minute per submitter, a token bucket each.
#include "frontend/rate_limiter.h"

#include <algorithm>

namespace soroka::frontend {

namespace {

double refilled(double tokens, std::chrono::steady_clock::duration since, double cap) {
  const double minutes = std::chrono::duration<double, std::ratio<60>>(since).count();
  return std::min(cap, tokens + minutes * cap);
}

}  // namespace

bool RateLimiter::allow(const std::string& submitter, std::uint64_t per_minute,
                        std::chrono::steady_clock::time_point now) {
  if (per_minute == 0) return true;
  std::lock_guard lk(mu_);
  if (buckets_.size() >= kMaxBuckets) forget_full(per_minute, now);
  auto [it, fresh] = buckets_.try_emplace(submitter);
  Bucket& b = it->second;
  const double cap = static_cast<double>(per_minute);
  if (fresh) {
    b.tokens = cap;
    b.at = now;
  }
  b.tokens = refilled(b.tokens, now - b.at, cap);
  b.at = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

// A full bucket is what a fresh one would be: forgetting it changes no answer.
void RateLimiter::forget_full(std::uint64_t per_minute, std::chrono::steady_clock::time_point now) {
  const double cap = static_cast<double>(per_minute);
  std::erase_if(buckets_, [&](const auto& kv) {
    return refilled(kv.second.tokens, now - kv.second.at, cap) >= cap;
  });
}

std::size_t RateLimiter::buckets() const {
  std::lock_guard lk(mu_);
  return buckets_.size();
}

}  // namespace soroka::frontend
