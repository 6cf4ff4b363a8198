// BotApi: the Telegram Bot API over net::HttpClient (keep-alive, timeouts, bounded answers,
// streamed downloads); every failure an ApiError value, never an exception.
#include "telegram/bot_api.h"

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

// false: over the limit, or the write failed (write_errno says why).
bool to_file(FileSink& s, std::string_view data) {
  if (s.written + data.size() > s.limit) {
    s.overflow = true;
    return false;
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(s.fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      s.write_errno = errno;
      return false;
    }
    done += static_cast<std::size_t>(w);
  }
  s.written += data.size();
  return true;
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

// Eight idle connections: the poller, the watcher and the message handlers each keep one.
BotApi::BotApi(ApiParams p)
    : p_(std::move(p)), http_(net::ClientParams{p_.connect_timeout, p_.max_answer_bytes, 8}) {
  while (!p_.api_url.empty() && p_.api_url.back() == '/') p_.api_url.pop_back();
}
BotApi::~BotApi() = default;

std::string BotApi::redact(std::string text) const {
  if (p_.token.empty()) return text;
  for (auto at = text.find(p_.token); at != std::string::npos; at = text.find(p_.token, at))
    text.replace(at, p_.token.size(), "<token>");
  return text;
}

std::string BotApi::method_url(std::string_view method) const {
  return fmt::format("{}/bot{}/{}", p_.api_url, p_.token, method);
}

// No HTTP answer (timeout, refused, DNS, TLS, a dropped connection): what the client saw,
// without the token (curl's messages may quote the URL).
ApiError BotApi::no_answer(const net::HttpAnswer& a) const {
  ApiError e;
  e.transport = redact(a.transport);
  e.description = "no answer from the Bot API";
  return e;
}

ApiResult BotApi::answer_of(const net::HttpAnswer& a) const {
  if (a.too_large) {
    ApiError e;
    e.http_status = a.status;
    e.malformed = true;
    e.description = fmt::format("the answer exceeds {} bytes", p_.max_answer_bytes);
    return std::unexpected(e);
  }
  if (a.status == 0) return std::unexpected(no_answer(a));
  return parse_answer(a.status, a.body);
}

ApiResult BotApi::call(std::string_view method, const json& params, std::chrono::seconds long_poll) {
  const std::string body = params.dump(-1, ' ', false, json::error_handler_t::replace);
  return answer_of(http_.post(method_url(method), body, {"Content-Type: application/json"},
                              p_.total_timeout + long_poll, &aborting_));
}

ApiResult BotApi::call_multipart(std::string_view method, const json& fields, const Upload& file) {
  std::vector<std::string> texts;
  texts.reserve(fields.size());  // never reallocated: the parts point into it
  std::vector<net::FormPart> parts;
  for (const auto& [k, v] : fields.items()) {
    texts.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    parts.push_back({k, texts.back(), "", ""});
  }
  parts.push_back({file.field, file.content, file.file_name, file.mime});
  return answer_of(http_.post_form(method_url(method), parts, {}, p_.total_timeout, &aborting_));
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
  // The client bounds the answer at max_bytes first; the sink's own bound is the same.
  FileSink sink{file->fd(), 0, max_bytes, false, 0};
  auto write = [&sink](std::string_view chunk) { return to_file(sink, chunk); };
  const auto a = http_.get_streamed(fmt::format("{}/file/bot{}/{}", p_.api_url, p_.token, file_path), {},
                                    p_.download_timeout, max_bytes, write, &aborting_);
  ApiError e;
  e.http_status = a.status;
  if (a.too_large) {
    e.description = fmt::format("the file exceeds {} bytes", max_bytes);
    e.malformed = true;
    return std::unexpected(e);
  }
  if (a.status == 0) {
    e = no_answer(a);
    if (sink.write_errno) e.description = "writing the download failed";
    return std::unexpected(e);
  }
  if (a.status != 200) {
    e.error_code = a.status;
    e.description = "the file download was refused";
    return std::unexpected(e);
  }
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
    if (n > 0 && !to_file(sink, std::string_view(buf, static_cast<std::size_t>(n)))) break;
  if (sink.overflow) return fail(fmt::format("{} exceeds {} bytes", src, max_bytes), EFBIG);
  if (sink.write_errno || n < 0) return fail("copying " + src + " failed", sink.write_errno ? sink.write_errno : EIO);
  if (auto k = out->keep(); !k) return std::unexpected(k.error());
  return sink.written;
}

}  // namespace soroka::telegram
