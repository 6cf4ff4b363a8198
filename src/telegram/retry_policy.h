// What to do after a failed Bot API call: a pure decision from the error and the attempt.
#pragma once

#include <chrono>

#include "telegram/bot_api.h"
#include "util/backoff.h"

namespace soroka::telegram {

enum class Action {
  retry_after,   // 429: wait parameters.retry_after, then again
  backoff,       // 5xx, timeout, refused, 409, a garbled answer: capped exponential backoff
  ignore,        // 400 "message is not modified": the message already says this
  chat_blocked,  // 403: the user blocked the bot (or left); stop sending to that chat
  give_up,       // any other 4xx: the request itself is wrong; retrying cannot help
};
const char* to_string(Action a) noexcept;

struct Decision {
  Action action = Action::give_up;
  std::chrono::milliseconds wait{0};
};

// `attempt` counts from 0; `jitter` in [0, 1) spreads the wait over [wait/2, wait) so that
// many clients (or chats) do not retry in step. Telegram's outages last seconds to minutes:
// util/backoff.h's default cap of a minute fits.
Decision decide(const ApiError& e, int attempt, double jitter, const BackoffParams& b = {});

// Telegram's 400 for an edit that changes nothing.
bool is_not_modified(const ApiError& e);

}  // namespace soroka::telegram
