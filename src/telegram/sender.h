// Sender: a Bot API call carried out under the error policy (retry_policy.h): waits out 429s,
// backs off on 5xx and timeouts, ignores "not modified", stops at a blocked chat.
#pragma once

#include <atomic>
#include <cstdint>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
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
  deferred,  // (Patience::defer) the chat waits out a 429 or a backoff; try after `wait`
};

// How a send rides out 429s and backoffs: waiting in the call (the handlers), or returning
// `deferred` at once and refusing that chat's sends until the wait is over, so that one
// chat's rate limit never delays another's (the watcher, which serves every chat).
enum class Patience { wait, defer };

struct SendResult {
  Sent status = Sent::failed;
  nlohmann::json result;  // the API's result when ok
  ApiError error;         // the last error otherwise
  std::chrono::milliseconds wait{0};  // deferred: how long the chat waits
};

class Sender {
 public:
  // `stop`: checked while waiting; `on_blocked`: told of a chat that answered 403.
  Sender(BotApi& api, const std::atomic<bool>& stop, std::function<void(std::int64_t)> on_blocked,
         BackoffParams backoff = {});
  SendResult send(std::string_view method, const nlohmann::json& params, std::int64_t chat,
                  Patience patience = Patience::wait);
  SendResult send_file(std::string_view method, const nlohmann::json& fields, const Upload& file,
                       std::int64_t chat, Patience patience = Patience::wait);
  // Whether `chat` may be sent to with Patience::defer now (no wait pending).
  bool ready(std::int64_t chat) const;
  // 12 attempts: the backoff reaches its 60 s cap by the 8th, so an outage of ~5 minutes is
  // ridden out before a message is given up on (its update stays undone until a restart).
  int max_attempts = 12;

 private:
  SendResult run(std::string_view method, std::int64_t chat, const std::function<ApiResult()>& call);
  SendResult once(std::string_view method, std::int64_t chat, const std::function<ApiResult()>& call);
  bool wait(std::chrono::milliseconds d);

  // Chats waiting under Patience::defer: until when, and the attempts so far (the backoff
  // grows with them; max_attempts of them and the send fails). An entry lives from a failed
  // attempt to the next success or failure, so the map holds only chats in trouble.
  struct Backoff {
    std::chrono::steady_clock::time_point until;
    int attempts = 0;
  };
  mutable std::mutex mu_;
  std::map<std::int64_t, Backoff> waiting_;

  BotApi& api_;
  const std::atomic<bool>& stop_;
  std::function<void(std::int64_t)> on_blocked_;
  BackoffParams backoff_;
};

}  // namespace soroka::telegram
