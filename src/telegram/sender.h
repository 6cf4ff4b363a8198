// Sender: a Bot API call carried out under the error policy (retry_policy.h): waits out 429s,
// backs off on 5xx and timeouts, ignores "not modified", stops at a blocked chat.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "telegram/bot_api.h"
#include "telegram/retry_policy.h"

namespace soroka::telegram {

enum class Sent {
  ok,       // the API confirmed it
  ignored,  // "message is not modified": the message already shows this
  blocked,  // 403: the chat blocked the bot; on_blocked was called
  failed,   // a request the API refuses, or out of attempts
  stopped,  // the bot is stopping
};

struct SendResult {
  Sent status = Sent::failed;
  nlohmann::json result;  // the API's result when ok
  ApiError error;         // the last error otherwise
};

class Sender {
 public:
  // `stop`: checked while waiting; `on_blocked`: told of a chat that answered 403.
  Sender(BotApi& api, const std::atomic<bool>& stop, std::function<void(std::int64_t)> on_blocked,
         BackoffParams backoff = {});
  SendResult send(std::string_view method, const nlohmann::json& params, std::int64_t chat);
  SendResult send_file(std::string_view method, const nlohmann::json& fields, const Upload& file,
                       std::int64_t chat);
  // 12 attempts: the backoff reaches its 60 s cap by the 8th, so an outage of ~5 minutes is
  // ridden out before a message is given up on (its update stays undone until a restart).
  int max_attempts = 12;

 private:
  SendResult run(std::string_view method, std::int64_t chat, const std::function<ApiResult()>& call);
  bool wait(std::chrono::milliseconds d);

  BotApi& api_;
  const std::atomic<bool>& stop_;
  std::function<void(std::int64_t)> on_blocked_;
  BackoffParams backoff_;
};

}  // namespace soroka::telegram
