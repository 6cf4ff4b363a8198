// Bounded libcurl building blocks shared by every HTTP client.
#include "net/curl_easy.h"

namespace soroka::net {

void curl_global_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::unique_ptr<EasyHandle> EasyPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      curl_easy_reset(h->curl.get());  // keeps the connection cache
      return h;
    }
  }
  auto h = std::make_unique<EasyHandle>();
  h->curl.reset(curl_easy_init());
  return h;
}

void EasyPool::give_back(std::unique_ptr<EasyHandle> h) {
  if (!h || !h->curl) return;
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(h));
}

namespace {

int abort_check(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return flag && static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
}

std::size_t to_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<BoundedBody*>(user);
  const std::size_t len = size * n;
  if (s->received + len > s->limit) {
    s->overflow = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  if (s->write) {
    if (!s->write(std::string_view(data, len))) return 0;
  } else {
    s->body.append(data, len);
  }
  s->received += len;
  return len;
}

}  // namespace

void common_options(EasyHandle& h, std::chrono::milliseconds connect, std::chrono::milliseconds total,
                    const std::atomic<bool>* aborting) {
  CURL* c = h.curl.get();
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_check);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, aborting);
  h.errbuf[0] = 0;
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h.errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
}

void read_into(EasyHandle& h, BoundedBody& sink) {
  CURL* c = h.curl.get();
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(sink.limit));
}

}  // namespace soroka::net
