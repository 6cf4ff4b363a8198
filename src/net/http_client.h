// HttpClient: POSTs (a body as given, or multipart) and GETs (kept, or streamed to the caller)
// over libcurl with bounded answers, keep-alive and timeouts; every outcome is a value.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/curl_easy.h"

namespace soroka::net {

// One form field; a file when file_name is set. `data` is not copied (a file part is read
// straight from it while it is sent): it must stay alive and unchanged during the call.
struct FormPart {
  std::string name;
  std::string_view data;
  std::string file_name;
  std::string mime;
};

struct HttpAnswer {
  int status = 0;     // 0: no HTTP answer (then `transport` says why)
  std::string body;   // at most ClientParams::max_answer_bytes
  std::optional<int> retry_after_s;  // a Retry-After header in seconds
  std::string transport;  // curl's error text when there was no (whole) answer
  bool connect_failed = false;  // refused, unreachable, DNS: the request never reached a server
  bool timed_out = false;
  bool too_large = false;  // the answer was over the bound and was cut off
};

struct ClientParams {
  // A server on the same network answers a connect in milliseconds; 10 s covers a slow
  // DNS and a TLS handshake across continents.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // A transcription of a 30-minute chunk as verbose_json with word timings is ~1 MB; 16 MiB
  // is 16x that, and anything larger is a broken or hostile server.
  std::size_t max_answer_bytes = 16u << 20;
  std::size_t max_idle_handles = 8;
};

// Thread-safe: each call takes an idle handle (with its open connection) from a pool.
class HttpClient {
 public:
  explicit HttpClient(ClientParams p = {}) : p_(p), pool_(p.max_idle_handles) {}

  // `headers`: "Name: value" lines (an Authorization header is never logged by this class).
  HttpAnswer post_form(const std::string& url, const std::vector<FormPart>& parts,
                       const std::vector<std::string>& headers, std::chrono::milliseconds total,
                       const std::atomic<bool>* aborting = nullptr);
  // `body` sent as it is (a JSON call: its Content-Type goes in `headers`); not copied, so it
  // must stay alive during the call.
  HttpAnswer post(const std::string& url, std::string_view body, const std::vector<std::string>& headers,
                  std::chrono::milliseconds total, const std::atomic<bool>* aborting = nullptr);
  HttpAnswer get(const std::string& url, const std::vector<std::string>& headers,
                 std::chrono::milliseconds total, const std::atomic<bool>* aborting = nullptr);
  // A GET whose answer is handed to `write` chunk by chunk instead of kept in `body` (a
  // download to a file), at most `max_bytes` of it (beyond: too_large). `write` returning
  // false ends the transfer: no answer then (status 0), as for a dropped connection.
  HttpAnswer get_streamed(const std::string& url, const std::vector<std::string>& headers,
                          std::chrono::milliseconds total, std::uint64_t max_bytes,
                          std::function<bool(std::string_view)> write,
                          const std::atomic<bool>* aborting = nullptr);

 private:
  HttpAnswer perform(EasyHandle& h, const std::string& url, const std::vector<std::string>& headers,
                     std::chrono::milliseconds total, const std::atomic<bool>* aborting, BoundedBody& sink);
  BoundedBody in_memory() const;
  ClientParams p_;
  EasyPool pool_;
};

}  // namespace soroka::net
