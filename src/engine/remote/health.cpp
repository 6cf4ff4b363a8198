// RemoteHealth: periodic reachability checks of the remote engines' URLs for /healthz.
#include "engine/remote/health.h"

#include "util/text.h"

namespace soroka::engine::remote {

RemoteHealth::RemoteHealth(std::function<std::vector<RemoteEngineSettings>()> engines,
                           std::chrono::milliseconds every, std::chrono::milliseconds timeout)
    : engines_(std::move(engines)), every_(every), timeout_(timeout),
      client_(net::ClientParams{.max_answer_bytes = 64u << 10, .max_idle_handles = 4}) {
  thread_ = std::thread([this] { loop(); });
}

RemoteHealth::~RemoteHealth() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RemoteHealth::check_now() {
  std::map<std::string, EngineHealth> fresh;
  for (const auto& e : engines_()) {
    EngineHealth h{e.name, e.urls.size(), 0, "", true};
    for (const auto& url : e.urls) {
      // No key: any answer, a 401 too, shows the server is there.
      auto a = client_.get(url, {}, timeout_);
      if (a.status > 0) ++h.reachable;
      else h.last_error = log_escape(url + ": " + a.transport, 200);
    }
    fresh[e.name] = std::move(h);
  }
  std::lock_guard l(mu_);
  state_ = std::move(fresh);
}

std::vector<EngineHealth> RemoteHealth::snapshot() const {
  std::lock_guard l(mu_);
  std::vector<EngineHealth> out;
  for (const auto& [_, h] : state_) out.push_back(h);
  return out;
}

void RemoteHealth::loop() {
  for (;;) {
    check_now();
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, every_, [&] { return stop_; })) return;
  }
}

}  // namespace soroka::engine::remote
