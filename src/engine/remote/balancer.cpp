// Balancer: least outstanding requests across an engine's URLs, unreachable ones set aside.
#include "engine/remote/balancer.h"

namespace soroka::engine::remote {

Balancer::Balancer(std::vector<std::string> urls, std::chrono::milliseconds cooldown)
    : urls_(std::move(urls)), cooldown_(cooldown), state_(urls_.size()) {}

std::size_t Balancer::pick(Clock::time_point now) {
  std::lock_guard l(mu_);
  std::size_t best = 0;
  bool best_healthy = false;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const State& s = state_[i];
    const bool healthy = s.down_until <= now;
    const State& b = state_[best];
    bool better = false;
    if (i == 0) better = true;
    else if (healthy != best_healthy) better = healthy;
    else if (healthy) better = s.outstanding < b.outstanding;
    else better = s.down_until < b.down_until;
    if (better) best = i, best_healthy = healthy;
  }
  ++state_[best].outstanding;
  return best;
}

void Balancer::done(std::size_t index, bool reached, Clock::time_point now) {
  std::lock_guard l(mu_);
  State& s = state_.at(index);
  if (s.outstanding > 0) --s.outstanding;
  s.down_until = reached ? Clock::time_point{} : now + cooldown_;
}

std::size_t Balancer::outstanding(std::size_t index) const {
  std::lock_guard l(mu_);
  return state_.at(index).outstanding;
}

bool Balancer::any_healthy(Clock::time_point now) const {
  std::lock_guard l(mu_);
  for (const auto& s : state_)
    if (s.down_until <= now) return true;
  return false;
}

}  // namespace soroka::engine::remote
