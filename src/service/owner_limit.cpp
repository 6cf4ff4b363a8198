// Owner limit: which queued job the dispatcher may start when an owner (an HTTP API key, a bot
// user) may run only so many jobs at once; a pure decision, tested by a table.
#include "service/owner_limit.h"

namespace soroka::service {

bool may_start(const jobs::ClaimCandidate& c, const jobs::RunningByOwner& running) {
  if (c.max_running_per_owner <= 0 || c.owner.empty()) return true;
  auto it = running.find(c.owner);
  return it == running.end() || it->second < c.max_running_per_owner;
}

std::optional<std::size_t> first_startable(const std::vector<jobs::ClaimCandidate>& page,
                                           const jobs::RunningByOwner& running) {
  for (std::size_t i = 0; i < page.size(); ++i)
    if (may_start(page[i], running)) return i;
  return std::nullopt;
}

}  // namespace soroka::service
