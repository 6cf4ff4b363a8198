// Webhook: Telegram's updates posted to the service's HTTP server instead of long polling: the
// route, its secret checked in constant time, the body bounded, each update recorded before 200.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "config/settings.h"
#include "http/server.h"
#include "util/result.h"

namespace soroka::telegram {

class Bot;

// An update is a message of at most 4096 characters (UTF-8: up to 16 KB) with its entities,
// a reply and a caption: tens of KB. 1 MiB is far above any and bounds what a caller holds.
inline constexpr std::uint64_t kMaxUpdateBytes = 1u << 20;

// Compares in time that depends on the lengths only, never on where the first difference is:
// a caller timing wrong guesses learns nothing about the secret.
bool secret_matches(std::string_view got, std::string_view want) noexcept;

// The path of an https webhook URL ("https://host[:port]/tg/hook?x" -> "/tg/hook"): where
// the reverse proxy passes Telegram's posts to our listener. Refused: no path, or characters
// beyond A-Z a-z 0-9 / _ - . (the route's pattern is the path itself).
Result<std::string> webhook_path(std::string_view url);

// The secret: telegram.webhook_secret, else the file telegram.webhook_secret_file, else the
// systemd credential telegram_webhook_secret; trimmed; Telegram's rule, 1-256 characters of
// A-Z a-z 0-9 _ -. An error names where it looked, never the secret.
Result<std::string> read_webhook_secret(const Settings& s);

// Where the route finds the bot: none before it started and once it stops (503 then, which
// Telegram retries). Thread-safe.
class WebhookSlot {
 public:
  void set(Bot* bot);
  int take(std::string_view body);  // an HTTP status: 200 recorded, 400 not an update, 503
 private:
  std::shared_mutex mu_;
  Bot* bot_ = nullptr;
};

// POST `path` on `server`: a wrong or missing X-Telegram-Bot-Api-Secret-Token gets 401 before
// the body is read; a body over kMaxUpdateBytes 413; else the update goes to `slot`.
void install_webhook(http::Server& server, const std::string& path, std::string secret, WebhookSlot& slot);

}  // namespace soroka::telegram
