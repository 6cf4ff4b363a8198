// What to do after a failed Bot API call: a pure decision from the error and the attempt.
#include "telegram/retry_policy.h"

#include <algorithm>

namespace soroka::telegram {

const char* to_string(Action a) noexcept {
  switch (a) {
    case Action::retry_after: return "retry_after";
    case Action::backoff: return "backoff";
    case Action::ignore: return "ignore";
    case Action::chat_blocked: return "chat_blocked";
    case Action::give_up: return "give_up";
  }
  return "give_up";
}

bool is_not_modified(const ApiError& e) {
  return e.http_status == 400 && e.description.find("message is not modified") != std::string::npos;
}

Decision decide(const ApiError& e, int attempt, double jitter, const BackoffParams& b) {
  if (e.http_status == 429) {
    // No retry_after given: a second, Telegram's smallest.
    return {Action::retry_after, std::chrono::seconds(std::max(1, e.retry_after_s))};
  }
  if (is_not_modified(e)) return {Action::ignore, {}};
  if (e.http_status == 403) return {Action::chat_blocked, {}};
  const bool transient = e.http_status == 0 || e.http_status >= 500 || e.http_status == 409 ||
                         (e.malformed && e.http_status < 400);
  if (!transient) return {Action::give_up, {}};
  return {Action::backoff, backoff_wait(attempt, jitter, b)};
}

}  // namespace soroka::telegram
