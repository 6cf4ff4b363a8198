// Sender: a Bot API call carried out under the error policy (retry_policy.h): waits out 429s,
// backs off on 5xx and timeouts, ignores "not modified", stops at a blocked chat.
#include "telegram/sender.h"

#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "util/text.h"

namespace soroka::telegram {

Sender::Sender(BotApi& api, const std::atomic<bool>& stop,
               std::function<void(std::int64_t)> on_blocked, BackoffParams backoff)
    : api_(api), stop_(stop), on_blocked_(std::move(on_blocked)), backoff_(backoff) {}

bool Sender::wait(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop_) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(50),
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()) +
            std::chrono::milliseconds(1)));
  }
  return !stop_;
}

SendResult Sender::run(std::string_view method, std::int64_t chat, const std::function<ApiResult()>& call) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  SendResult out;
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    if (stop_) return {Sent::stopped, {}, {}};
    auto r = call();
    if (r) return {Sent::ok, std::move(*r), {}};
    out.error = r.error();
    const Decision d = decide(r.error(), attempt, std::uniform_real_distribution<double>(0, 1)(rng), backoff_);
    spdlog::log(d.action == Action::ignore ? spdlog::level::debug : spdlog::level::warn,
                "event=telegram_call_failed method={} chat={} attempt={} action={} wait_ms={} error=\"{}\"",
                method, chat, attempt + 1, to_string(d.action), d.wait.count(), log_escape(r.error().summary()));
    switch (d.action) {
      case Action::ignore: return {Sent::ignored, {}, r.error()};
      case Action::chat_blocked:
        if (on_blocked_) on_blocked_(chat);
        return {Sent::blocked, {}, r.error()};
      case Action::give_up: return {Sent::failed, {}, r.error()};
      case Action::retry_after:
      case Action::backoff:
        if (!wait(d.wait)) return {Sent::stopped, {}, r.error()};
    }
  }
  out.status = Sent::failed;
  return out;
}

bool Sender::ready(std::int64_t chat) const {
  std::lock_guard lock(mu_);
  auto it = waiting_.find(chat);
  return it == waiting_.end() || std::chrono::steady_clock::now() >= it->second.until;
}

// One attempt, unless the chat still waits; a retryable error starts (or lengthens) its wait.
SendResult Sender::once(std::string_view method, std::int64_t chat, const std::function<ApiResult()>& call) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto now = std::chrono::steady_clock::now();
  int attempt = 0;
  {
    std::lock_guard lock(mu_);
    if (auto it = waiting_.find(chat); it != waiting_.end()) {
      if (now < it->second.until)
        return {Sent::deferred, {}, {}, std::chrono::duration_cast<std::chrono::milliseconds>(it->second.until - now)};
      attempt = it->second.attempts;
    }
  }
  if (stop_) return {Sent::stopped, {}, {}};
  auto r = call();
  std::lock_guard lock(mu_);
  if (r) {
    waiting_.erase(chat);
    return {Sent::ok, std::move(*r), {}};
  }
  const Decision d = decide(r.error(), attempt, std::uniform_real_distribution<double>(0, 1)(rng), backoff_);
  spdlog::log(d.action == Action::ignore ? spdlog::level::debug : spdlog::level::warn,
              "event=telegram_call_failed method={} chat={} attempt={} action={} wait_ms={} deferred=true error=\"{}\"",
              method, chat, attempt + 1, to_string(d.action), d.wait.count(), log_escape(r.error().summary()));
  const bool retry = d.action == Action::retry_after || d.action == Action::backoff;
  if (!retry || attempt + 1 >= max_attempts) {
    waiting_.erase(chat);
    if (d.action == Action::chat_blocked && on_blocked_) on_blocked_(chat);
    const Sent s = d.action == Action::ignore ? Sent::ignored : d.action == Action::chat_blocked ? Sent::blocked : Sent::failed;
    return {s, {}, r.error()};
  }
  waiting_[chat] = {now + d.wait, attempt + 1};
  return {Sent::deferred, {}, r.error(), d.wait};
}

SendResult Sender::send(std::string_view method, const nlohmann::json& params, std::int64_t chat,
                        Patience patience) {
  auto call = [&] { return api_.call(method, params); };
  return patience == Patience::defer ? once(method, chat, call) : run(method, chat, call);
}

SendResult Sender::send_file(std::string_view method, const nlohmann::json& fields, const Upload& file,
                             std::int64_t chat, Patience patience) {
  auto call = [&] { return api_.call_multipart(method, fields, file); };
  return patience == Patience::defer ? once(method, chat, call) : run(method, chat, call);
}

}  // namespace soroka::telegram
