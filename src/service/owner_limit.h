// Owner limit: which queued job the dispatcher may start when an owner (an HTTP API key, a bot
// user) may run only so many jobs at once; a pure decision, tested by a table.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "jobs/job_store.h"

namespace soroka::service {

// Whether `c` may start now: no owner limit (0), or its owner runs fewer jobs than the limit.
bool may_start(const jobs::ClaimCandidate& c, const jobs::RunningByOwner& running);

// The first job of `page` (queue order) that may start: a blocked owner's jobs are passed
// over, keeping their place, so one user's backlog never holds up another's job. nullopt:
// every job on the page waits. A jobs::ClaimChooser.
std::optional<std::size_t> first_startable(const std::vector<jobs::ClaimCandidate>& page,
                                           const jobs::RunningByOwner& running);

}  // namespace soroka::service
