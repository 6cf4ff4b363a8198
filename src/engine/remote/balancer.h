// Balancer: which of an engine's URLs gets the next request, least outstanding requests first,
// with URLs that could not be reached set aside for a while and tried again after it.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace soroka::engine::remote {

// Thread-safe. State is per process (one worker): two workers of the same engine balance
// independently, each by its own requests (docs/remote-engines.en.md).
class Balancer {
 public:
  using Clock = std::chrono::steady_clock;
  // A URL that refused a connection is skipped for `cooldown` (then one request tries it
  // again). 5 s: a restarting whisper-server is back in seconds, and meanwhile the others
  // take its share.
  explicit Balancer(std::vector<std::string> urls, std::chrono::milliseconds cooldown = std::chrono::seconds(5));

  // The URL to use now and its index, counted as outstanding until done(). Healthy URLs
  // first, least outstanding, then the lowest index; when none is healthy, the one whose
  // cooldown ends first (so a request still goes out and finds out).
  std::size_t pick(Clock::time_point now = Clock::now());
  // `reached`: the server answered (any status) or at least accepted the connection.
  void done(std::size_t index, bool reached, Clock::time_point now = Clock::now());
  const std::string& url(std::size_t index) const { return urls_[index]; }
  std::size_t outstanding(std::size_t index) const;
  bool any_healthy(Clock::time_point now = Clock::now()) const;

 private:
  struct State {
    std::size_t outstanding = 0;
    Clock::time_point down_until{};
  };
  std::vector<std::string> urls_;
  std::chrono::milliseconds cooldown_;
  mutable std::mutex mu_;
  std::vector<State> state_;
};

}  // namespace soroka::engine::remote
