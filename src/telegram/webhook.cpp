// Webhook: Telegram's updates posted to the service's HTTP server instead of long polling: the
// route, its secret checked in constant time, the body bounded, each update recorded before 200.
#include "telegram/webhook.h"

#include <cctype>

#include "telegram/bot.h"
#include "util/file_reader.h"

namespace soroka::telegram {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

bool all_of(std::string_view s, std::string_view extra) {
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && extra.find(c) == std::string_view::npos) return false;
  return true;
}

class UpdateHandler final : public http::Handler {
 public:
  explicit UpdateHandler(WebhookSlot& slot) : slot_(slot) {}
  void complete(std::shared_ptr<http::Reply> reply) override {
    http::Response r;
    r.status = slot_.take(body_);
    r.body = r.status == 200 ? "{}" : R"({"error":"not taken"})";
    reply->send(std::move(r));
  }

 private:
  WebhookSlot& slot_;
};

}  // namespace

bool secret_matches(std::string_view got, std::string_view want) noexcept {
  // Every byte of the longer is looked at; a length difference is folded in, not returned early.
  const std::size_t n = std::max(got.size(), want.size());
  unsigned diff = got.size() == want.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = static_cast<unsigned char>(i < got.size() ? got[i] : 0);
    const auto b = static_cast<unsigned char>(i < want.size() ? want[i] : 0);
    diff |= static_cast<unsigned>(a ^ b);
  }
  return diff == 0 && !want.empty();
}

Result<std::string> webhook_path(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return fail("telegram.webhook_url must start with https://", EINVAL);
  url.remove_prefix(kScheme.size());
  const auto slash = url.find('/');
  if (slash == std::string_view::npos) return fail("telegram.webhook_url needs a path (https://host/tg/hook)", EINVAL);
  std::string_view path = url.substr(slash);
  if (auto q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  if (path.size() < 2 || path.size() > 200 || !all_of(path, "/_-."))
    return fail("telegram.webhook_url's path must be 2-200 characters of A-Z a-z 0-9 / _ - .", EINVAL);
  return std::string(path);
}

Result<std::string> read_webhook_secret(const Settings& s) {
  std::string secret = s.telegram.webhook_secret, where = "telegram.webhook_secret";
  if (secret.empty()) {
    std::string file = s.telegram.webhook_secret_file;
    if (file.empty() && !s.service.credentials_dir.empty())
      file = s.service.credentials_dir + "/telegram_webhook_secret";
    if (file.empty())
      return fail("webhook mode needs a secret: set telegram.webhook_secret or telegram.webhook_secret_file", EINVAL);
    auto text = read_file(file);
    if (!text) return std::unexpected(std::move(text.error()).with_context("telegram.webhook_secret_file"));
    secret = *text;
    where = "the file " + file;
  }
  secret = trim(secret);
  if (secret.empty() || secret.size() > 256 || !all_of(secret, "_-"))
    return fail("the webhook secret in " + where + " must be 1-256 characters of A-Z a-z 0-9 _ -", EINVAL);
  return secret;
}

void WebhookSlot::set(Bot* bot) {
  std::unique_lock lock(mu_);
  bot_ = bot;
}

int WebhookSlot::take(std::string_view body) {
  std::shared_lock lock(mu_);
  return bot_ ? bot_->take_update(body) : 503;
}

void install_webhook(http::Server& server, const std::string& path, std::string secret, WebhookSlot& slot) {
  http::Route r;
  r.method = "POST";
  r.pattern = path;
  r.max_body = kMaxUpdateBytes;
  r.own_auth = true;
  r.make = [&slot, secret = std::move(secret)](const http::Request& req,
                                                std::optional<http::Response>& no) -> std::unique_ptr<http::Handler> {
    const auto got = req.header("x-telegram-bot-api-secret-token");
    if (!got || !secret_matches(*got, secret)) {
      no = http::Response{401, "application/json", R"({"error":"wrong secret token"})", {}, true};
      return nullptr;
    }
    return std::make_unique<UpdateHandler>(slot);
  };
  server.add(std::move(r));
}

}  // namespace soroka::telegram
