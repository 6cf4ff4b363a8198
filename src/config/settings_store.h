// SettingsStore: the running configuration as immutable snapshots; a reload swaps in a new one.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/settings.h"

namespace soroka {

// Nothing writes a Settings another thread reads: a reader takes a snapshot (a shared_ptr to
// const) and uses it for as long as it holds it; replace() publishes a whole new object and
// never touches the old one, which lives until its last reader lets go. Thread-safe.
class SettingsStore {
 public:
  explicit SettingsStore(Settings initial);
  SettingsStore(const SettingsStore&) = delete;
  SettingsStore& operator=(const SettingsStore&) = delete;

  // The configuration now. Take one per unit of work (a request, a housekeeping turn) so that
  // its values agree with each other.
  std::shared_ptr<const Settings> current() const;
  // Publishes `fresh` to every later current().
  void replace(Settings fresh);

 private:
  mutable std::mutex mu_;  // guards the pointer only; a snapshot is read without it
  std::shared_ptr<const Settings> current_;
};

// What a running `soroka serve` cannot change without a restart: the listen address, the
// state dir, the HTTP server's bounds, the memory monitor, the worker sandbox and timeouts,
// the probe child. `fresh` gets `running`'s values for them, so the snapshot always says what
// is in effect; returns the keys whose new values wait for a restart (pure, for the log).
std::vector<std::string> keep_restart_only(const Settings& running, Settings& fresh);

}  // namespace soroka
