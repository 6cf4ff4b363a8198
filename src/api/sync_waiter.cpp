// SyncWaiter: the synchronous POST /v1/audio/transcriptions waiting for its job, one thread
// for all such requests; a client that hangs up has its job cancelled.
#include "api/sync_waiter.h"

#include <algorithm>

#include "api/responses.h"

namespace soroka::api {

namespace {
// How long the thread sleeps between looks at the store when no job ends: a job end wakes it
// at once; this bounds a wake-up missed between a look and the wait.
constexpr std::chrono::milliseconds kTick{200};
constexpr int kRetryAfterS = 5;
}  // namespace

SyncWaiter::SyncWaiter(frontend::JobService& jobs) : jobs_(jobs) {
  thread_ = std::thread([this] { loop(); });
}

SyncWaiter::~SyncWaiter() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    for (auto& w : waiters_) {
      auto r =
          to_response(unavailable("the service is shutting down", "shutting_down", kRetryAfterS));
      r.close = true;
      w.reply->send(std::move(r));
    }
  }
  cv_.notify_all();
  thread_.join();
}

void SyncWaiter::add(std::string id, frontend::Caller caller, std::shared_ptr<http::Reply> reply,
                     service::ResponseFormat format,
                     std::chrono::steady_clock::time_point deadline) {
  reply->watch_disconnect([this, id, caller] {
    std::lock_guard lk(mu_);
    cancels_.push_back({id, caller});
    cv_.notify_all();
  });
  std::lock_guard lk(mu_);
  waiters_.push_back({std::move(id), std::move(caller), std::move(reply), format, deadline});
  cv_.notify_all();
}

std::size_t SyncWaiter::waiting() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

std::vector<std::string> SyncWaiter::answer_finished(const std::vector<Waiter>& ws) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> done;
  for (const auto& w : ws) {
    if (!w.reply->sent()) {
      auto v = jobs_.get(w.id, w.caller);
      if (!v && v.error().reason == frontend::Refusal::store_unavailable)
        continue;  // busy: next look
      if (!v)
        w.reply->send(to_response(internal("the job vanished: " + v.error().message)));
      else if (jobs::is_terminal(v->job.state) || now >= w.deadline)
        w.reply->send(sync_answer(v->job, w.format));
      else
        continue;
    }
    done.push_back(w.id);
  }
  return done;
}

void SyncWaiter::loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    std::vector<Cancel> to_cancel;
    to_cancel.swap(cancels_);
    std::vector<Waiter> ws = waiters_;
    lk.unlock();
    for (const auto& c : to_cancel) (void)jobs_.cancel(c.id, c.caller, "client_disconnected");
    const std::vector<std::string> done = answer_finished(ws);
    lk.lock();
    std::erase_if(waiters_, [&](const Waiter& w) {
      return std::find(done.begin(), done.end(), w.id) != done.end();
    });
    if (stop_) break;
    if (!cancels_.empty()) continue;
    if (waiters_.empty()) {
      cv_.wait(lk, [&] { return stop_ || !waiters_.empty() || !cancels_.empty(); });
      continue;
    }
    lk.unlock();
    jobs_.wait_any_finished(kTick);
    lk.lock();
  }
}

}  // namespace soroka::api
