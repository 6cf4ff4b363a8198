// MemoryBudget: reservations against a shared capacity, FIFO waiters, pause and resize.
#include "oomguard/budget.h"
#include "util/units.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace soroka::oomguard {

namespace {

// A timeout message names at most this many holders (largest first); a budget shared by a
// few jobs and models rarely has more, and a log line should stay readable.
constexpr std::size_t kMaxHoldersNamed = 8;


std::string who(const std::string& label) {
  return label.empty() ? std::string("reservation") : fmt::format("'{}'", label);
}

}  // namespace

// ---- Reservation ----

Reservation::Reservation(Reservation&& o) noexcept
    : budget_(std::exchange(o.budget_, nullptr)),
      id_(std::exchange(o.id_, 0)),
      bytes_(std::exchange(o.bytes_, 0)) {}

Reservation& Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    release();
    budget_ = std::exchange(o.budget_, nullptr);
    id_ = std::exchange(o.id_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

bool Reservation::resize(std::uint64_t new_bytes, bool force) {
  if (budget_ == nullptr) return false;
  if (!budget_->resize_id(id_, bytes_, new_bytes, force)) return false;
  bytes_ = new_bytes;
  return true;
}

void Reservation::release() noexcept {
  if (budget_ == nullptr) return;
  budget_->release_id(id_, bytes_);
  budget_ = nullptr;
  id_ = 0;
  bytes_ = 0;
}

// ---- MemoryBudget ----

MemoryBudget::MemoryBudget(std::uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

// Reservations must not outlive the budget (documented in the header); nothing to do here.
MemoryBudget::~MemoryBudget() = default;

Result<Reservation> MemoryBudget::try_reserve(std::uint64_t bytes, std::string label) {
  std::lock_guard lock(mu_);
  if (bytes > capacity_) {
    return fail(fmt::format("{} needs {}, capacity is {}", who(label), format_mib(bytes), format_mib(capacity_)),
                ENOMEM);
  }
  if (paused_) {
    return fail(
        fmt::format("{} refused: the memory budget is paused (memory is short)", who(label)),
        EBUSY);
  }
  // Queued waiters come first: letting try_reserve jump the queue would starve them.
  if (!waiters_.empty() || !fits_locked(bytes)) {
    std::string msg = fmt::format("{} needs {}, {} free of {}", who(label), format_mib(bytes),
                                  format_mib(available_locked()), format_mib(capacity_));
    if (!waiters_.empty()) msg += fmt::format(", {} earlier request(s) waiting", waiters_.size());
    return fail(std::move(msg), EAGAIN);
  }
  return grant_locked(bytes, std::move(label));
}

Result<Reservation> MemoryBudget::reserve(std::uint64_t bytes, std::string label,
                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  if (bytes > capacity_) {
    return fail(fmt::format("{} needs {}, capacity is {}", who(label), format_mib(bytes), format_mib(capacity_)),
                ENOMEM);
  }
  const std::uint64_t ticket = next_ticket_++;
  waiters_.push_back(ticket);
  auto leave_queue = [&] {
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), ticket));
    // The next waiter may now be at the head, or may fit where we did not.
    cv_.notify_all();
  };

  const bool woke = cv_.wait_until(lock, deadline, [&] {
    return bytes > capacity_ || (!paused_ && waiters_.front() == ticket && fits_locked(bytes));
  });
  if (bytes > capacity_) {  // the capacity shrank below the request while we waited
    leave_queue();
    return fail(fmt::format("{} needs {}, capacity is {}", who(label), format_mib(bytes), format_mib(capacity_)),
                ENOMEM);
  }
  if (!woke) {
    const auto ahead = static_cast<std::size_t>(
        std::find(waiters_.begin(), waiters_.end(), ticket) - waiters_.begin());
    std::string msg =
        fmt::format("timed out after {} ms waiting for {} for {}: {} free of {}", timeout.count(),
                    format_mib(bytes), who(label), format_mib(available_locked()), format_mib(capacity_));
    if (paused_) msg += "; the budget is paused (memory is short)";
    if (ahead > 0) msg += fmt::format("; {} earlier request(s) waiting", ahead);
    msg += "; held by " + holders_locked();
    leave_queue();
    return fail(std::move(msg), ETIMEDOUT);
  }
  leave_queue();
  return grant_locked(bytes, std::move(label));
}

void MemoryBudget::set_capacity(std::uint64_t bytes) {
  {
    std::lock_guard lock(mu_);
    capacity_ = bytes;
  }
  cv_.notify_all();
}

void MemoryBudget::set_paused(bool paused) {
  {
    std::lock_guard lock(mu_);
    paused_ = paused;
  }
  cv_.notify_all();
}

std::uint64_t MemoryBudget::capacity() const {
  std::lock_guard lock(mu_);
  return capacity_;
}

std::uint64_t MemoryBudget::reserved() const {
  std::lock_guard lock(mu_);
  return reserved_;
}

std::uint64_t MemoryBudget::available() const {
  std::lock_guard lock(mu_);
  return available_locked();
}

bool MemoryBudget::paused() const {
  std::lock_guard lock(mu_);
  return paused_;
}

std::size_t MemoryBudget::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

std::vector<ReservationInfo> MemoryBudget::list() const {
  std::lock_guard lock(mu_);
  std::vector<ReservationInfo> out;
  out.reserve(held_.size());
  for (const auto& [id, info] : held_) out.push_back(info);
  return out;
}

void MemoryBudget::release_id(std::uint64_t id, std::uint64_t bytes) noexcept {
  {
    std::lock_guard lock(mu_);
    auto it = held_.find(id);
    // The map holds the authoritative size; `bytes` is what the reservation believed.
    const std::uint64_t held = it != held_.end() ? it->second.bytes : bytes;
    if (it != held_.end()) held_.erase(it);
    reserved_ -= std::min(held, reserved_);
  }
  cv_.notify_all();
}

bool MemoryBudget::resize_id(std::uint64_t id, std::uint64_t old_bytes, std::uint64_t new_bytes,
                             bool force) {
  {
    std::lock_guard lock(mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return false;
    old_bytes = it->second.bytes;
    if (new_bytes > old_bytes) {
      const std::uint64_t grow = new_bytes - old_bytes;
      // A held reservation growing is not a new request: it does not queue behind waiters
      // and pause does not apply; it only needs room (or `force`).
      if (!force && !fits_locked(grow)) return false;
      reserved_ += grow;
      it->second.bytes = new_bytes;
      return true;
    }
    reserved_ -= std::min(old_bytes - new_bytes, reserved_);
    it->second.bytes = new_bytes;
  }
  cv_.notify_all();
  return true;
}

std::string MemoryBudget::holders_locked() const {
  if (held_.empty()) return "nothing";
  std::vector<const ReservationInfo*> by_size;
  by_size.reserve(held_.size());
  for (const auto& [id, info] : held_) by_size.push_back(&info);
  std::stable_sort(by_size.begin(), by_size.end(),
                   [](const auto* a, const auto* b) { return a->bytes > b->bytes; });
  std::string out;
  const std::size_t shown = std::min(by_size.size(), kMaxHoldersNamed);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    const auto& r = *by_size[i];
    out +=
        fmt::format("{} ({})", r.label.empty() ? fmt::format("#{}", r.id) : r.label, format_mib(r.bytes));
  }
  if (by_size.size() > shown) out += fmt::format(" and {} more", by_size.size() - shown);
  return out;
}

bool MemoryBudget::fits_locked(std::uint64_t bytes) const noexcept {
  return bytes <= capacity_ && reserved_ <= capacity_ - bytes;
}

std::uint64_t MemoryBudget::available_locked() const noexcept {
  return capacity_ > reserved_ ? capacity_ - reserved_ : 0;
}

Reservation MemoryBudget::grant_locked(std::uint64_t bytes, std::string label) {
  const std::uint64_t id = next_id_++;
  reserved_ += bytes;
  held_.emplace(id, ReservationInfo{id, std::move(label), bytes});
  return Reservation(this, id, bytes);
}

}  // namespace soroka::oomguard
