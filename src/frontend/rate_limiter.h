// RateLimiter: submissions per minute per submitter, a token bucket each.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace soroka::frontend {

// Thread-safe. Buckets that have refilled are forgotten once there are many, so a front end
// with unbounded submitters (Telegram chats) holds at most kMaxBuckets of them.
class RateLimiter {
 public:
  static constexpr std::size_t kMaxBuckets = 4096;
  // true: allowed (a token taken). per_minute 0: unlimited.
  bool allow(const std::string& submitter, std::uint64_t per_minute,
             std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  std::size_t buckets() const;

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  void forget_full(std::uint64_t per_minute, std::chrono::steady_clock::time_point now);
  mutable std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace soroka::frontend
