// ModelRegistry: loads each model once under a budget reservation, evicts idle ones LRU first.
#include "oomguard/model_registry.h"
#include "util/units.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <utility>

namespace soroka::oomguard {

namespace {


}  // namespace

struct ModelRegistry::Entry {
  enum class State { loading, ready, failed };

  std::string name;
  State state = State::loading;
  // Declared before `object` so that the object is destroyed (its memory freed) before the
  // reservation hands the bytes back to the budget.
  Reservation reservation;
  std::shared_ptr<void> object;
  std::size_t users = 0;  // live leases
  std::chrono::steady_clock::time_point last_used{};
  Error error;  // why the load failed (state == failed), for the callers that waited
};

// Shared by every lease handed out for one acquire(); the last copy going away ends the lease.
struct ModelRegistry::Token {
  Token(ModelRegistry* r, std::shared_ptr<Entry> e) : registry(r), entry(std::move(e)) {}
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;
  ~Token() { registry->release_lease(*entry); }

  ModelRegistry* registry;
  std::shared_ptr<Entry> entry;
};

ModelRegistry::ModelRegistry(MemoryBudget& budget, Params params, Clock clock)
    : budget_(budget), params_(params), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

// Entries destroy their objects before their reservations (member order), so the budget
// never counts bytes as free that are still allocated.
ModelRegistry::~ModelRegistry() = default;

Result<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>> ModelRegistry::acquire_erased(
    const std::string& name, std::uint64_t estimated_bytes, ModelLoader loader) {
  std::unique_lock lock(mu_);
  for (;;) {
    auto found = find_locked(name);
    if (!found) break;  // not loaded and nobody loading it: this caller loads it
    if (found->state == Entry::State::ready) return lease_locked(found);
    // Another caller is loading it: wait for the outcome instead of loading twice.
    cv_.wait(lock, [&] { return found->state != Entry::State::loading; });
    if (found->state == Entry::State::failed) return std::unexpected(found->error);
    // Loaded; look it up again, as it may have been unloaded before this thread woke.
  }

  auto entry = std::make_shared<Entry>();
  entry->name = name;
  entries_.push_back(entry);  // visible as "loading" so concurrent callers wait for us

  auto reservation = reserve_locked(lock, name, estimated_bytes);
  if (!reservation) return abandon_locked(entry, std::move(reservation.error()));
  entry->reservation = std::move(*reservation);

  // The load itself (seconds, gigabytes) runs without the registry lock.
  lock.unlock();
  Result<LoadedModel> loaded = fail("loader returned nothing");
  try {
    loaded = loader();
  } catch (const std::exception& e) {
    loaded = fail(fmt::format("loader threw: {}", e.what()));
  } catch (...) {
    loaded = fail("loader threw an unknown exception");
  }
  lock.lock();

  if (!loaded) {
    return abandon_locked(
        entry, std::move(loaded.error()).with_context(fmt::format("loading model '{}'", name)));
  }
  if (!loaded->object) {
    return abandon_locked(entry, Error{EINVAL, fmt::format("loading model '{}': the loader "
                                                           "returned no object",
                                                           name)});
  }
  // A measurement beats the estimate. Growing is forced: the memory is already in use, and
  // the budget must say so (over-committed) rather than pretend otherwise.
  if (loaded->measured_bytes) entry->reservation.resize(*loaded->measured_bytes, /*force=*/true);
  entry->object = std::move(loaded->object);
  entry->state = Entry::State::ready;
  entry->last_used = clock_();
  cv_.notify_all();
  return lease_locked(entry);
}

Result<Reservation> ModelRegistry::reserve_locked(std::unique_lock<std::mutex>& lock,
                                                  const std::string& name, std::uint64_t bytes) {
  const std::string label = "model " + name;
  for (;;) {
    auto r = budget_.try_reserve(bytes, label);
    if (r) return r;
    if (r.error().code != EAGAIN) {
      return std::unexpected(
          std::move(r.error()).with_context(fmt::format("loading model '{}'", name)));
    }

    // Idle models, least recently used first; evict only as many as needed, and none at all
    // when even evicting every one of them would not make room.
    std::vector<std::shared_ptr<Entry>> idle;
    for (const auto& e : entries_) {
      if (e->state == Entry::State::ready && e->users == 0) idle.push_back(e);
    }
    std::stable_sort(idle.begin(), idle.end(),
                     [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
    const std::uint64_t free_now = budget_.available();
    std::uint64_t would_be_free = free_now;
    std::uint64_t idle_total = 0;
    std::vector<std::shared_ptr<Entry>> victims;
    for (const auto& e : idle) {
      idle_total += e->reservation.bytes();
      if (would_be_free < bytes) {
        victims.push_back(e);
        would_be_free += e->reservation.bytes();
      }
    }
    if (victims.empty() || would_be_free < bytes) {
      std::string msg = fmt::format(
          "not enough memory to load model '{}': needs {}, {} free, {} in use ({} of it by idle "
          "models) of a {} budget",
          name, format_mib(bytes), format_mib(free_now), format_mib(budget_.reserved()), format_mib(idle_total),
          format_mib(budget_.capacity()));
      if (const auto waiting = budget_.waiting(); waiting > 0) {
        msg += fmt::format("; {} earlier request(s) are waiting for memory", waiting);
      }
      return fail(std::move(msg), ENOMEM);
    }

    for (const auto& v : victims) std::erase(entries_, v);
    lock.unlock();
    unload(victims);
    lock.lock();
    // Someone may have taken the room meanwhile; then the loop evicts more or refuses.
  }
}

std::unexpected<Error> ModelRegistry::abandon_locked(const std::shared_ptr<Entry>& entry,
                                                     Error error) {
  entry->state = Entry::State::failed;
  entry->error = error;
  entry->reservation.release();
  std::erase(entries_, entry);
  cv_.notify_all();
  return std::unexpected(std::move(error));
}

std::shared_ptr<ModelRegistry::Entry> ModelRegistry::find_locked(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e->name == name) return e;
  }
  return nullptr;
}

std::pair<std::shared_ptr<void>, std::shared_ptr<void>> ModelRegistry::lease_locked(
    const std::shared_ptr<Entry>& entry) {
  ++entry->users;
  return {entry->object, std::make_shared<Token>(this, entry)};
}

void ModelRegistry::release_lease(Entry& entry) noexcept {
  std::lock_guard lock(mu_);
  if (entry.users > 0) --entry.users;
  if (entry.users == 0) entry.last_used = clock_();
}

std::uint64_t ModelRegistry::unload(std::vector<std::shared_ptr<Entry>>& victims) noexcept {
  std::uint64_t released = 0;
  for (auto& v : victims) {
    released += v->reservation.bytes();
    v->object.reset();  // free the memory first, then return it to the budget
    v->reservation.release();
  }
  victims.clear();
  return released;
}

std::uint64_t ModelRegistry::unload_expired() {
  std::vector<std::shared_ptr<Entry>> victims;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_();
    std::erase_if(entries_, [&](const std::shared_ptr<Entry>& e) {
      const bool expired =
          e->state == Entry::State::ready && e->users == 0 && now - e->last_used > params_.idle_ttl;
      if (expired) victims.push_back(e);
      return expired;
    });
  }
  return unload(victims);
}

std::uint64_t ModelRegistry::unload_idle() {
  std::vector<std::shared_ptr<Entry>> victims;
  {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [&](const std::shared_ptr<Entry>& e) {
      const bool idle = e->state == Entry::State::ready && e->users == 0;
      if (idle) victims.push_back(e);
      return idle;
    });
  }
  return unload(victims);
}

std::uint64_t ModelRegistry::idle_bytes() const {
  std::lock_guard lock(mu_);
  std::uint64_t total = 0;
  for (const auto& e : entries_) {
    if (e->state == Entry::State::ready && e->users == 0) total += e->reservation.bytes();
  }
  return total;
}

std::vector<ModelInfo> ModelRegistry::list() const {
  std::lock_guard lock(mu_);
  const auto now = clock_();
  std::vector<ModelInfo> out;
  for (const auto& e : entries_) {
    if (e->state != Entry::State::ready) continue;
    const auto idle_for =
        e->users == 0 ? now - e->last_used : std::chrono::steady_clock::duration{};
    out.push_back(ModelInfo{e->name, e->reservation.bytes(), e->users, idle_for});
  }
  return out;
}

}  // namespace soroka::oomguard
