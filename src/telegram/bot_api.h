// BotApi: the Telegram Bot API over net::HttpClient (keep-alive, timeouts, bounded answers,
// streamed downloads); every failure an ApiError value, never an exception.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "util/result.h"

namespace soroka::telegram {

// Why a call did not return a result. http_status 0: no HTTP answer at all (timeout, refused,
// DNS, TLS); then `transport` says what curl saw. Never contains the token.
struct ApiError {
  int http_status = 0;
  int error_code = 0;       // Telegram's error_code (usually the HTTP status)
  std::string description;  // Telegram's description, or what went wrong
  int retry_after_s = 0;    // parameters.retry_after of a 429
  std::string transport;    // curl's error text when there was no answer
  bool malformed = false;   // an answer that is not the Bot API's JSON (or too large)
  std::string summary() const;  // one line for the log
};
using ApiResult = std::expected<nlohmann::json, ApiError>;

struct ApiParams {
  std::string api_url = "https://api.telegram.org";
  std::string token;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // An ordinary call's whole time; a long poll gets its own timeout on top.
  std::chrono::milliseconds total_timeout{std::chrono::seconds(60)};
  // A download's whole time: 20 MB at 1 Mbit/s is ~160 s, so 10 min leaves room for 2 GB from
  // a local Bot API server on the same host.
  std::chrono::milliseconds download_timeout{std::chrono::minutes(10)};
  // The largest JSON answer read: getUpdates with 100 updates is ~100 KB; anything above
  // 4 MiB is a broken or hostile server and is refused before it is buffered.
  std::size_t max_answer_bytes = 4u << 20;
};

// A multipart file part for sendDocument.
struct Upload {
  std::string field = "document";
  std::string file_name;
  std::string content;  // small (a transcript); read into memory by the caller
  std::string mime = "text/plain";
};

// Thread-safe, as its HttpClient is (each call takes an idle connection from a small pool).
class BotApi {
 public:
  explicit BotApi(ApiParams p);
  ~BotApi();
  BotApi(const BotApi&) = delete;
  BotApi& operator=(const BotApi&) = delete;

  // POST {api_url}/bot{token}/{method} with a JSON body; the answer's "result" on ok.
  // `long_poll`: added to the total timeout (getUpdates' own timeout).
  ApiResult call(std::string_view method, const nlohmann::json& params,
                 std::chrono::seconds long_poll = std::chrono::seconds(0));
  // The same as multipart/form-data with a file (sendDocument).
  ApiResult call_multipart(std::string_view method, const nlohmann::json& fields,
                           const Upload& file);
  // GET {api_url}/file/bot{token}/{file_path} streamed into a new file `dest` (created 0600,
  // must not exist), at most `max_bytes`; fsynced. Returns the bytes written; on any failure
  // the partial file is removed.
  std::expected<std::uint64_t, ApiError> download(const std::string& file_path,
                                                  const std::string& dest, std::uint64_t max_bytes);
  // Ends every transfer in progress and any later one (the bot is stopping): a long poll
  // returns at once instead of after its timeout.
  void abort_all() { aborting_ = true; }
  // The URL with the token replaced by "<token>": for error messages.
  std::string redact(std::string text) const;
  const ApiParams& params() const { return p_; }

 private:
  std::string method_url(std::string_view method) const;
  ApiResult answer_of(const net::HttpAnswer& a) const;
  ApiError no_answer(const net::HttpAnswer& a) const;

  ApiParams p_;
  std::atomic<bool> aborting_{false};
  net::HttpClient http_;
};

// Copies a file a local Bot API server (--local) left on disk into a new 0600 file `dest`,
// at most `max_bytes`, fsynced; the bytes copied.
Result<std::uint64_t> copy_local_file(const std::string& src, const std::string& dest,
                                      std::uint64_t max_bytes);

// Parses a Bot API answer body: {"ok":true,"result":...} -> result; {"ok":false,...} -> the
// error with error_code, description and parameters.retry_after. Pure; exposed for tests.
ApiResult parse_answer(int http_status, std::string_view body);

}  // namespace soroka::telegram
