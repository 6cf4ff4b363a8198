// How much memory the scheduler may reserve for workers, from the latest memory snapshot.
#include "service/capacity.h"

#include <algorithm>

namespace soroka::service {

namespace {
// Hysteresis and the service's own growth (HTTP buffers, the job store's cache).
constexpr std::uint64_t kServiceSlack = 32ull << 20;
}  // namespace

std::uint64_t budget_capacity(const oomguard::Snapshot& s, const oomguard::Thresholds& t) {
  const auto th = oomguard::effective_thresholds(t, s);
  const double warn_share = (100.0 - th.warning_percent) / 100.0;
  std::uint64_t margin = std::max<std::uint64_t>(
      th.min_available_bytes, static_cast<std::uint64_t>(static_cast<double>(s.limit_bytes) * warn_share));
  margin += kServiceSlack;
  const std::uint64_t own = s.process ? s.process->rss_bytes : 0;
  if (s.bound_by_cgroup) return s.limit_bytes > own + margin ? s.limit_bytes - own - margin : 0;
  return s.available_bytes > margin ? s.available_bytes - margin : 0;
}

}  // namespace soroka::service
