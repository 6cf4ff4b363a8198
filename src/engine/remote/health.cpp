// RemoteHealth: periodic reachability checks of the remote engines' URLs for /healthz.
#include "engine/remote/health.h"

#include <algorithm>

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

namespace {

// What a reload can change that needs a check at once: the engines' names and URLs.
std::string roster(const std::vector<RemoteEngineSettings>& engines) {
  std::string r;
  for (const auto& e : engines) {
    r += e.name + '\n';
    for (const auto& u : e.urls) r += u + ' ';
  }
  return r;
}

// How often the loop looks for a reloaded roster: an engine added by SIGHUP is in /healthz
// within a second or so, not at the next 15 s round.
constexpr std::chrono::seconds kRosterPoll{1};

}  // namespace

ProbeResult probe_urls(net::HttpClient& client, const std::vector<std::string>& urls,
                       std::chrono::milliseconds timeout, bool first_only) {
  ProbeResult r;
  for (const auto& url : urls) {
    auto a = client.get(url, {}, timeout);
    if (a.status > 0) {
      ++r.reachable;
      if (first_only) break;
    } else {
      r.last_error = log_escape(url + ": " + a.transport, 200);
    }
  }
  return r;
}

void RemoteHealth::check_now() { check(engines_()); }

void RemoteHealth::check(const std::vector<RemoteEngineSettings>& engines) {
  std::map<std::string, Checked> fresh;
  for (const auto& e : engines) {
    auto p = probe_urls(client_, e.urls, timeout_);
    fresh[e.name] = Checked{
        e.urls, EngineHealth{e.name, e.urls.size(), p.reachable, std::move(p.last_error), true}};
  }
  std::lock_guard l(mu_);
  state_ = std::move(fresh);
}

std::vector<EngineHealth> RemoteHealth::snapshot() const {
  const auto engines = engines_();
  std::lock_guard l(mu_);
  std::vector<EngineHealth> out;
  out.reserve(engines.size());
  for (const auto& e : engines) {
    auto it = state_.find(e.name);
    if (it != state_.end() && it->second.urls == e.urls) out.push_back(it->second.health);
    else out.push_back(EngineHealth{e.name, e.urls.size(), 0, "", false});
  }
  return out;
}

void RemoteHealth::loop() {
  std::string last;
  auto due = std::chrono::steady_clock::now();
  for (;;) {
    auto engines = engines_();
    auto now_roster = roster(engines);
    if (now_roster != last || std::chrono::steady_clock::now() >= due) {
      check(engines);
      last = std::move(now_roster);
      due = std::chrono::steady_clock::now() + every_;
    }
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, std::min<std::chrono::milliseconds>(every_, kRosterPoll), [&] { return stop_; }))
      return;
  }
}

}  // namespace soroka::engine::remote
