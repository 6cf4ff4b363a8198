// ModelRegistry: protected model loading: reserve first, evict idle LRU models, never unload
// a model under a caller.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "oomguard/budget.h"
#include "util/result.h"

namespace soroka::oomguard {

// What a loader returns: the model object and, if it could measure it (RSS delta, allocator
// statistics), how much memory the model really takes.
struct LoadedModel {
  std::shared_ptr<void> object;
  std::optional<std::uint64_t> measured_bytes;
};
using ModelLoader = std::function<Result<LoadedModel>()>;

struct ModelInfo {
  std::string name;
  std::uint64_t bytes;  // reserved (estimate, corrected by measurement)
  std::size_t users;    // live leases
  std::chrono::steady_clock::duration idle_for;  // 0 while in use
};

class ModelRegistry;

// A lease keeps a model loaded; while any lease lives the model is never unloaded.
template <class T>
class ModelLease {
 public:
  ModelLease() = default;
  ModelLease(ModelLease&&) noexcept = default;
  ModelLease(const ModelLease&) = default;
  ModelLease& operator=(ModelLease o) noexcept {
    // Drop our object before our token (see below); then take the other lease.
    object_.reset();
    token_ = std::move(o.token_);
    object_ = std::move(o.object_);
    return *this;
  }
  T* get() const noexcept { return object_.get(); }
  T* operator->() const noexcept { return object_.get(); }
  T& operator*() const noexcept { return *object_; }
  explicit operator bool() const noexcept { return static_cast<bool>(object_); }

 private:
  friend class ModelRegistry;
  ModelLease(std::shared_ptr<T> obj, std::shared_ptr<void> token)
      : token_(std::move(token)), object_(std::move(obj)) {}
  // token_ is declared first so that object_ is dropped before the model is marked idle:
  // the registry may unload an idle model at once, and it credits the budget only after
  // dropping what must then be the last reference.
  std::shared_ptr<void> token_;  // its destruction marks the model idle
  std::shared_ptr<T> object_;
};

// Thread-safe. Concurrent acquire() of one model loads it once; the others wait for it.
// The registry must outlive its leases, and the budget must outlive the registry.
class ModelRegistry {
 public:
  struct Params {
    std::chrono::milliseconds idle_ttl{std::chrono::minutes(5)};
  };
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  ModelRegistry(MemoryBudget& budget, Params params, Clock clock = {});
  ~ModelRegistry();

  // Returns a lease on `name`, loading it if needed: reserves `estimated_bytes` in the
  // budget first, evicting idle models least-recently-used first to make room; refuses
  // (ENOMEM, with the sizes in the message) when it cannot fit even then, evicting nothing
  // in that case. Fails with EBUSY while the budget is paused, and with the loader's error
  // (given to every caller that waited for that load). A measured size from the loader
  // replaces the estimate.
  template <class T>
  Result<ModelLease<T>> acquire(const std::string& name, std::uint64_t estimated_bytes,
                                std::function<Result<LoadedModel>()> loader) {
    auto r = acquire_erased(name, estimated_bytes, std::move(loader));
    if (!r) return std::unexpected(r.error());
    return ModelLease<T>(std::static_pointer_cast<T>(r->first), std::move(r->second));
  }

  // Unloads models idle for longer than the TTL; returns bytes released.
  std::uint64_t unload_expired();
  // Unloads every idle model (critical memory pressure); returns bytes released.
  std::uint64_t unload_idle();
  // Bytes that unload_idle() would release now (a cleanup handler's estimate).
  std::uint64_t idle_bytes() const;
  std::vector<ModelInfo> list() const;

 private:
  struct Entry;
  struct Token;
  Result<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>> acquire_erased(
      const std::string& name, std::uint64_t estimated_bytes, ModelLoader loader);
  // Reserves `bytes`, evicting idle models (unlocking `lock` while it unloads them).
  Result<Reservation> reserve_locked(std::unique_lock<std::mutex>& lock, const std::string& name,
                                     std::uint64_t bytes);
  std::unexpected<Error> abandon_locked(const std::shared_ptr<Entry>& entry, Error error);
  std::shared_ptr<Entry> find_locked(const std::string& name) const;
  std::pair<std::shared_ptr<void>, std::shared_ptr<void>> lease_locked(
      const std::shared_ptr<Entry>& entry);
  void release_lease(Entry& entry) noexcept;
  // Frees the objects, then their reservations; call without the lock. Returns bytes freed.
  static std::uint64_t unload(std::vector<std::shared_ptr<Entry>>& victims) noexcept;

  MemoryBudget& budget_;
  Params params_;
  Clock clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Entry>> entries_;
};

}  // namespace soroka::oomguard
