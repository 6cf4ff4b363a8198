// HttpClient: POSTs and GETs over libcurl with bounded answers, keep-alive, timeouts.
#include "net/http_client.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "util/parse.h"

namespace soroka::net {

namespace {

// "Retry-After: 7" -> 7; an HTTP-date or garbage -> nullopt. Capped at a day.
std::optional<int> parse_retry_after(std::string_view value) {
  auto v = parse::u64(parse::trim(value));
  if (!v) return std::nullopt;
  return static_cast<int>(std::min<std::uint64_t>(*v, 86'400));
}

// A file part read from memory without a copy (curl_mime_data would copy it whole).
struct Cursor {
  std::string_view data;
  std::size_t at = 0;
};

std::size_t read_part(char* buf, std::size_t size, std::size_t n, void* arg) {
  auto* c = static_cast<Cursor*>(arg);
  const std::size_t len = std::min(size * n, c->data.size() - c->at);
  std::memcpy(buf, c->data.data() + c->at, len);
  c->at += len;
  return len;
}

int seek_part(void* arg, curl_off_t offset, int origin) {
  auto* c = static_cast<Cursor*>(arg);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::size_t>(offset) > c->data.size())
    return CURL_SEEKFUNC_CANTSEEK;
  c->at = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

HttpAnswer no_handle() {
  HttpAnswer a;
  a.transport = "curl_easy_init failed";  // out of memory
  return a;
}

}  // namespace

BoundedBody HttpClient::in_memory() const {
  BoundedBody sink;
  sink.limit = p_.max_answer_bytes;
  return sink;
}

HttpAnswer HttpClient::perform(EasyHandle& h, const std::string& url,
                               const std::vector<std::string>& headers, std::chrono::milliseconds total,
                               const std::atomic<bool>* aborting, BoundedBody& sink) {
  CURL* c = h.curl.get();
  common_options(h, p_.connect_timeout, total, aborting);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  std::unique_ptr<curl_slist, SlistDeleter> list;
  for (const auto& line : headers) {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (!next) break;
    (void)list.release();
    list.reset(next);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  read_into(h, sink);
  const CURLcode rc = curl_easy_perform(c);
  HttpAnswer a;
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_header* ra = nullptr;
  if (status > 0 && curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK && ra)
    a.retry_after_s = parse_retry_after(ra->value);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  a.too_large = sink.overflow || rc == CURLE_FILESIZE_EXCEEDED;
  if (rc != CURLE_OK) {
    a.transport = h.errbuf[0] ? h.errbuf : curl_easy_strerror(rc);
    a.connect_failed = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                       rc == CURLE_COULDNT_RESOLVE_PROXY;
    a.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    // A transfer cut short is not an answer, whatever status line came before it.
    if (!a.too_large) status = 0;
  }
  a.status = static_cast<int>(status);
  a.body = std::move(sink.body);
  return a;
}

HttpAnswer HttpClient::post_form(const std::string& url, const std::vector<FormPart>& parts,
                                 const std::vector<std::string>& headers,
                                 std::chrono::milliseconds total, const std::atomic<bool>* aborting) {
  auto h = pool_.take();
  if (!h->curl) return no_handle();
  CURL* c = h->curl.get();
  std::unique_ptr<curl_mime, MimeDeleter> mime(curl_mime_init(c));
  std::vector<Cursor> cursors(parts.size());  // sized once: curl keeps pointers into it
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    curl_mimepart* part = curl_mime_addpart(mime.get());
    curl_mime_name(part, p.name.c_str());
    if (p.file_name.empty()) {
      curl_mime_data(part, p.data.data(), p.data.size());
    } else {
      cursors[i].data = p.data;
      curl_mime_data_cb(part, static_cast<curl_off_t>(p.data.size()), read_part, seek_part, nullptr, &cursors[i]);
      curl_mime_filename(part, p.file_name.c_str());
    }
    if (!p.mime.empty()) curl_mime_type(part, p.mime.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
  auto sink = in_memory();
  auto a = perform(*h, url, headers, total, aborting, sink);
  curl_easy_setopt(c, CURLOPT_MIMEPOST, nullptr);
  pool_.give_back(std::move(h));
  return a;
}

HttpAnswer HttpClient::post(const std::string& url, std::string_view body,
                            const std::vector<std::string>& headers, std::chrono::milliseconds total,
                            const std::atomic<bool>* aborting) {
  auto h = pool_.take();
  if (!h->curl) return no_handle();
  CURL* c = h->curl.get();
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());  // null: no POST
  auto sink = in_memory();
  auto a = perform(*h, url, headers, total, aborting, sink);
  // The handle goes back to the pool: a later multipart POST must not inherit this body's size.
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
  pool_.give_back(std::move(h));
  return a;
}

HttpAnswer HttpClient::get(const std::string& url, const std::vector<std::string>& headers,
                           std::chrono::milliseconds total, const std::atomic<bool>* aborting) {
  auto h = pool_.take();
  if (!h->curl) return no_handle();
  curl_easy_setopt(h->curl.get(), CURLOPT_HTTPGET, 1L);
  auto sink = in_memory();
  auto a = perform(*h, url, headers, total, aborting, sink);
  pool_.give_back(std::move(h));
  return a;
}

HttpAnswer HttpClient::get_streamed(const std::string& url, const std::vector<std::string>& headers,
                                    std::chrono::milliseconds total, std::uint64_t max_bytes,
                                    std::function<bool(std::string_view)> write,
                                    const std::atomic<bool>* aborting) {
  auto h = pool_.take();
  if (!h->curl) return no_handle();
  curl_easy_setopt(h->curl.get(), CURLOPT_HTTPGET, 1L);
  BoundedBody sink;
  sink.limit = max_bytes;
  sink.write = std::move(write);
  auto a = perform(*h, url, headers, total, aborting, sink);
  pool_.give_back(std::move(h));
  return a;
}

}  // namespace soroka::net
