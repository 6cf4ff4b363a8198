// SettingsStore: the running configuration as immutable snapshots; a reload swaps in a new one.
#include "config/settings_store.h"

#include <utility>

namespace soroka {

SettingsStore::SettingsStore(Settings initial)
    : current_(std::make_shared<const Settings>(std::move(initial))) {}

std::shared_ptr<const Settings> SettingsStore::current() const {
  std::lock_guard lk(mu_);
  return current_;
}

void SettingsStore::replace(Settings fresh) {
  auto next = std::make_shared<const Settings>(std::move(fresh));
  std::lock_guard lk(mu_);
  current_.swap(next);
  // The old snapshot is released here unless a reader still holds it.
}

namespace {

// Puts `running`'s value back into `fresh`, noting `key` when they differed.
template <class T>
void keep(T& fresh, const T& running, const char* key, std::vector<std::string>& changed) {
  if (!(fresh == running)) changed.emplace_back(key);
  fresh = running;
}

}  // namespace

std::vector<std::string> keep_restart_only(const Settings& running, Settings& fresh) {
  std::vector<std::string> changed;
  ServiceSettings& f = fresh.service;
  const ServiceSettings& r = running.service;
  keep(f.listen, r.listen, "server.listen", changed);
  keep(f.state_dir, r.state_dir, "server.state_dir", changed);
  keep(f.systemd_state_dir, r.systemd_state_dir, "$STATE_DIRECTORY", changed);
  keep(f.max_connections, r.max_connections, "server.max_connections", changed);
  keep(f.max_connections_per_client, r.max_connections_per_client,
       "server.max_connections_per_client", changed);
  keep(f.header_timeout, r.header_timeout, "server.header_timeout_ms", changed);
  keep(f.min_body_rate, r.min_body_rate, "server.min_body_rate", changed);
  keep(f.worker_sandbox, r.worker_sandbox, "worker.sandbox", changed);
  keep(f.worker_timeout, r.worker_timeout, "worker.timeout_ms", changed);
  keep(f.worker_stall_timeout, r.worker_stall_timeout, "worker.stall_timeout_ms", changed);
  keep(f.probe_memory, r.probe_memory, "worker.probe_memory", changed);
  keep(f.probe_timeout, r.probe_timeout, "worker.probe_timeout_ms", changed);
  // The bot connects once, at start.
  keep(fresh.telegram.token, running.telegram.token, "telegram.token", changed);
  keep(fresh.telegram.token_file, running.telegram.token_file, "telegram.token_file", changed);
  keep(fresh.telegram.api_url, running.telegram.api_url, "telegram.api_url", changed);
  keep(fresh.telegram.local_api, running.telegram.local_api, "telegram.local_api", changed);
  // The monitor's thresholds and sampling are set when it starts.
  const auto& m = running.monitor;
  auto& n = fresh.monitor;
  if (n.thresholds.warning_percent != m.thresholds.warning_percent ||
      n.thresholds.critical_percent != m.thresholds.critical_percent ||
      n.thresholds.min_available_bytes != m.thresholds.min_available_bytes ||
      n.thresholds.hysteresis_percent != m.thresholds.hysteresis_percent ||
      n.poll_interval != m.poll_interval || n.fast_poll_interval != m.fast_poll_interval)
    changed.emplace_back("[memory]/[monitor]");
  n = m;
  return changed;
}

}  // namespace soroka
