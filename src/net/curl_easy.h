// Bounded libcurl building blocks shared by every HTTP client (Telegram's Bot API, remote
// engines): a pool of keep-alive handles, the options every request shares, a capped body.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace soroka::net {

void curl_global_once();  // curl_global_init, once per process, thread-safe

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
struct MimeDeleter {
  void operator()(curl_mime* m) const noexcept { curl_mime_free(m); }
};

// One easy handle and its error buffer; a handle keeps its connection alive between uses.
struct EasyHandle {
  std::unique_ptr<CURL, CurlDeleter> curl;
  char errbuf[CURL_ERROR_SIZE] = {};
};

// Idle handles for reuse. Thread-safe. take() never returns null; its curl may be null when
// curl_easy_init failed (out of memory), which callers report as a transport error.
class EasyPool {
 public:
  explicit EasyPool(std::size_t max_idle) : max_idle_(max_idle) { curl_global_once(); }
  std::unique_ptr<EasyHandle> take();
  void give_back(std::unique_ptr<EasyHandle> h);

 private:
  std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<EasyHandle>> idle_;
};

// Options every request shares: TLS verified, no redirects, http(s) only, no signals, connect
// and total timeouts, TCP keep-alive; when `aborting` is given, the transfer ends once it is
// true (checked by curl's progress callback, about once a second and on every chunk).
void common_options(EasyHandle& h, std::chrono::milliseconds connect, std::chrono::milliseconds total,
                    const std::atomic<bool>* aborting);

// A body refused past `limit` bytes: the write callback stops the transfer, and
// CURLOPT_MAXFILESIZE refuses a declared Content-Length above it before a byte is read. Read
// into `body`, or, when `write` is set, handed to it chunk by chunk (a download to a file);
// `write` returning false ends the transfer (CURLE_WRITE_ERROR).
struct BoundedBody {
  std::string body;
  std::uint64_t limit = 0;
  std::uint64_t received = 0;
  bool overflow = false;
  std::function<bool(std::string_view)> write;
};
void read_into(EasyHandle& h, BoundedBody& sink);

}  // namespace soroka::net
