// MemoryBudget: memory reserved before it is used, so concurrent jobs cannot oversubscribe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "util/result.h"

namespace soroka::oomguard {

class MemoryBudget;

// A held reservation; releases its bytes when destroyed. Move-only. Not thread-safe itself
// (one owner), but may be destroyed on any thread.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& o) noexcept;
  Reservation& operator=(Reservation&& o) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() { release(); }

  std::uint64_t bytes() const noexcept { return bytes_; }
  bool held() const noexcept { return budget_ != nullptr; }
  std::uint64_t id() const noexcept { return id_; }

  // Shrinking always succeeds. Growing succeeds if the budget has room, or if `force`
  // (used when a measurement shows more was really used than reserved: the budget then
  // reports itself over-committed until something is released).
  // Growing is not a new request: pause and queued waiters do not apply to it.
  bool resize(std::uint64_t new_bytes, bool force = false);
  void release() noexcept;

 private:
  friend class MemoryBudget;
  Reservation(MemoryBudget* b, std::uint64_t id, std::uint64_t bytes)
      : budget_(b), id_(id), bytes_(bytes) {}
  MemoryBudget* budget_ = nullptr;
  std::uint64_t id_ = 0;
  std::uint64_t bytes_ = 0;
};

struct ReservationInfo {
  std::uint64_t id;
  std::string label;
  std::uint64_t bytes;
};

// A fixed capacity shared by reservations. Thread-safe. Waiters are served in FIFO order, so
// a large request is not starved by a stream of small ones. The budget must outlive its
// reservations.
class MemoryBudget {
 public:
  explicit MemoryBudget(std::uint64_t capacity_bytes);
  ~MemoryBudget();

  // Succeeds at once or fails: ENOMEM if `bytes` exceeds the capacity (it can never fit),
  // EBUSY while paused, EAGAIN if it does not fit now or reserve() callers are queued (they
  // are served first).
  Result<Reservation> try_reserve(std::uint64_t bytes, std::string label);

  // Waits up to `timeout` for room. Fails at once with ENOMEM if `bytes` can never fit (also
  // when the capacity shrinks below it while waiting); ETIMEDOUT after the timeout, with a
  // message naming the free bytes and what holds the budget.
  Result<Reservation> reserve(std::uint64_t bytes, std::string label,
                              std::chrono::milliseconds timeout);

  // Changing the capacity (the cgroup limit changed) wakes waiters.
  void set_capacity(std::uint64_t bytes);
  // While paused (memory at warning), new reservations wait; held ones are unaffected.
  void set_paused(bool paused);

  std::uint64_t capacity() const;
  std::uint64_t reserved() const;
  std::uint64_t available() const;  // capacity - reserved, 0 if over-committed
  bool paused() const;
  std::size_t waiting() const;  // callers queued in reserve()
  std::vector<ReservationInfo> list() const;

 private:
  friend class Reservation;
  void release_id(std::uint64_t id, std::uint64_t bytes) noexcept;
  bool resize_id(std::uint64_t id, std::uint64_t old_bytes, std::uint64_t new_bytes, bool force);
  std::string holders_locked() const;
  bool fits_locked(std::uint64_t bytes) const noexcept;
  std::uint64_t available_locked() const noexcept;
  Reservation grant_locked(std::uint64_t bytes, std::string label);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t capacity_;
  std::uint64_t reserved_ = 0;
  bool paused_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, ReservationInfo> held_;
  std::deque<std::uint64_t> waiters_;  // ticket order
  std::uint64_t next_ticket_ = 1;
};

}  // namespace soroka::oomguard
