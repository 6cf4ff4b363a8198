// BotApi: the Telegram Bot API over libcurl (keep-alive, timeouts, bounded answers, streamed
// downloads); every failure an ApiError value, never an exception.
#include "telegram/bot_api.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "util/durable.h"
#include "util/fd.h"

namespace soroka::telegram {

namespace {

using nlohmann::json;

// A download: bytes to a file descriptor, at most `limit`.
struct FileSink {
  int fd = -1;
  std::uint64_t written = 0;
  std::uint64_t limit = 0;
  bool overflow = false;
  int write_errno = 0;
};

std::size_t to_file(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<FileSink*>(user);
  const std::size_t len = size * n;
  if (s->written + len > s->limit) {
    s->overflow = true;
    return 0;
  }
  std::size_t done = 0;
  while (done < len) {
    ssize_t w = ::write(s->fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      s->write_errno = errno;
      return 0;
    }
    done += static_cast<std::size_t>(w);
  }
  s->written += len;
  return len;
}

ApiError transport_error(CURLcode rc, const char* errbuf) {
  ApiError e;
  e.transport = (errbuf && *errbuf) ? errbuf : curl_easy_strerror(rc);
  e.description = "no answer from the Bot API";
  return e;
}

}  // namespace

std::string ApiError::summary() const {
  if (http_status == 0) return "transport: " + transport;
  return fmt::format("http {} code {}: {}", http_status, error_code, description);
}

ApiResult parse_answer(int http_status, std::string_view body) {
  ApiError e;
  e.http_status = http_status;
  e.error_code = http_status;
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    e.malformed = true;
    e.description = "the answer is not Bot API JSON";
    return std::unexpected(e);
  }
  if (j["ok"].get<bool>() && http_status >= 200 && http_status < 300) {
    if (!j.contains("result")) {
      e.malformed = true;
      e.description = "an ok answer without a result";
      return std::unexpected(e);
    }
    return std::move(j["result"]);
  }
  if (auto c = j.find("error_code"); c != j.end() && c->is_number_integer()) e.error_code = c->get<int>();
  if (auto d = j.find("description"); d != j.end() && d->is_string()) e.description = d->get<std::string>();
  if (auto p = j.find("parameters"); p != j.end() && p->is_object())
    if (auto r = p->find("retry_after"); r != p->end() && r->is_number_integer())
      e.retry_after_s = std::max(0, r->get<int>());
  if (e.http_status >= 200 && e.http_status < 300) e.http_status = e.error_code;
  return std::unexpected(e);
}

BotApi::BotApi(ApiParams p) : p_(std::move(p)) {
  while (!p_.api_url.empty() && p_.api_url.back() == '/') p_.api_url.pop_back();
}
BotApi::~BotApi() = default;

std::string BotApi::redact(std::string text) const {
  if (p_.token.empty()) return text;
  for (auto at = text.find(p_.token); at != std::string::npos; at = text.find(p_.token, at))
    text.replace(at, p_.token.size(), "<token>");
  return text;
}

ApiResult BotApi::perform_json(net::EasyHandle& h, std::string_view method, long total_ms) {
  CURL* c = h.curl.get();
  const std::string url = fmt::format("{}/bot{}/{}", p_.api_url, p_.token, method);
  net::common_options(h, p_.connect_timeout, std::chrono::milliseconds(total_ms), &aborting_);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  net::BoundedBody sink;
  sink.limit = p_.max_answer_bytes;
  net::read_into(h, sink);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    ApiError e;
    e.http_status = static_cast<int>(status);
    e.malformed = true;
    e.description = fmt::format("the answer exceeds {} bytes", p_.max_answer_bytes);
    return std::unexpected(e);
  }
  if (rc != CURLE_OK) {
    ApiError e = transport_error(rc, h.errbuf);
    e.transport = redact(e.transport);
    return std::unexpected(e);
  }
  return parse_answer(static_cast<int>(status), sink.body);
}

ApiResult BotApi::call(std::string_view method, const json& params, std::chrono::seconds long_poll) {
  auto h = pool_.take();
  if (!h->curl) return std::unexpected(ApiError{0, 0, "curl_easy_init failed", 0, "no handle", false});
  const std::string body = params.dump(-1, ' ', false, json::error_handler_t::replace);
  std::unique_ptr<curl_slist, net::SlistDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"));
  const long total = static_cast<long>(p_.total_timeout.count() + long_poll.count() * 1000);
  // The body and headers first: perform_json sets the rest and performs.
  CURL* c = h->curl.get();
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  auto r = perform_json(*h, method, total);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  pool_.give_back(std::move(h));
  return r;
}

ApiResult BotApi::call_multipart(std::string_view method, const json& fields, const Upload& file) {
  auto h = pool_.take();
  if (!h->curl) return std::unexpected(ApiError{0, 0, "curl_easy_init failed", 0, "no handle", false});
  CURL* c = h->curl.get();
  std::unique_ptr<curl_mime, net::MimeDeleter> mime(curl_mime_init(c));
  for (const auto& [k, v] : fields.items()) {
    curl_mimepart* part = curl_mime_addpart(mime.get());
    const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    curl_mime_name(part, k.c_str());
    curl_mime_data(part, text.data(), text.size());
  }
  curl_mimepart* part = curl_mime_addpart(mime.get());
  curl_mime_name(part, file.field.c_str());
  curl_mime_filename(part, file.file_name.c_str());
  curl_mime_type(part, file.mime.c_str());
  curl_mime_data(part, file.content.data(), file.content.size());
  curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
  auto r = perform_json(*h, method, static_cast<long>(p_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_MIMEPOST, nullptr);
  pool_.give_back(std::move(h));
  return r;
}

namespace {

// A new private file: 0600, never an existing one (O_EXCL), so a link planted there is not
// followed. Removed again unless keep() is called: every failure path leaves nothing behind.
class PrivateFile {
 public:
  static Result<PrivateFile> create(const std::string& path) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return sys_fail("create " + path);
    return PrivateFile(std::move(fd), path);
  }
  PrivateFile(PrivateFile&&) = default;
  ~PrivateFile() {
    if (fd_) {
      fd_.reset();
      std::remove(path_.c_str());
    }
  }
  int fd() const { return fd_.get(); }
  // The download is whole: durable (file and directory entry) and kept.
  Result<void> keep() {
    auto s = durable::sync_fd(fd_.get(), path_);
    if (!s) return s;
    auto d = durable::sync_dir(std::filesystem::path(path_).parent_path().string());
    if (d) fd_.reset();  // kept; on failure the destructor removes it
    return d;
  }

 private:
  PrivateFile(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Fd fd_;
  std::string path_;
};

ApiError local_file_error(const Error& e) { return ApiError{0, 0, e.message, 0, "local file", false}; }

}  // namespace

std::expected<std::uint64_t, ApiError> BotApi::download(const std::string& file_path,
                                                        const std::string& dest,
                                                        std::uint64_t max_bytes) {
  auto file = PrivateFile::create(dest);
  if (!file) return std::unexpected(local_file_error(file.error()));
  auto h = pool_.take();
  CURL* c = h->curl.get();
  const std::string url = fmt::format("{}/file/bot{}/{}", p_.api_url, p_.token, file_path);
  net::common_options(*h, p_.connect_timeout, p_.download_timeout, &aborting_);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  FileSink sink{file->fd(), 0, max_bytes, false, 0};
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_file);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes));
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  ApiError e;
  e.http_status = static_cast<int>(status);
  if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    e.description = fmt::format("the file exceeds {} bytes", max_bytes);
    e.malformed = true;
  } else if (rc != CURLE_OK) {
    e = transport_error(rc, h->errbuf);
    e.transport = redact(e.transport);
    if (sink.write_errno) e.description = "writing the download failed";
  } else if (status != 200) {
    e.error_code = static_cast<int>(status);
    e.description = "the file download was refused";
  }
  pool_.give_back(std::move(h));
  if (rc != CURLE_OK || status != 200 || sink.overflow) return std::unexpected(e);
  if (auto k = file->keep(); !k) return std::unexpected(local_file_error(k.error()));
  return sink.written;
}

Result<std::uint64_t> copy_local_file(const std::string& src, const std::string& dest,
                                      std::uint64_t max_bytes) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return sys_fail("open " + src);
  auto out = PrivateFile::create(dest);
  if (!out) return std::unexpected(out.error());
  FileSink sink{out->fd(), 0, max_bytes, false, 0};
  char buf[64 * 1024];
  ssize_t n = 0;
  while ((n = ::read(in.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && to_file(buf, 1, static_cast<std::size_t>(n), &sink) == 0) break;
  if (sink.overflow) return fail(fmt::format("{} exceeds {} bytes", src, max_bytes), EFBIG);
  if (sink.write_errno || n < 0) return fail("copying " + src + " failed", sink.write_errno ? sink.write_errno : EIO);
  if (auto k = out->keep(); !k) return std::unexpected(k.error());
  return sink.written;
}

}  // namespace soroka::telegram
