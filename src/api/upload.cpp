// UploadReceiver: one multipart/form-data transcription form received into the state dir:
// the file streamed to disk (bounded, fsynced), the small fields bounded in size and number.
#include "api/upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "jobs/job.h"
#include "pipeline/speaker_options.h"
#include "service/job_params.h"
#include "util/durable.h"
#include "util/text.h"

namespace soroka::api {

namespace {

ApiError no_space(std::string message) {
  return {507, std::move(message), "server_error", "file", "insufficient_storage", 60};
}

// The disk cannot keep its floor (an unreadable statvfs is not taken for a full disk).
bool out_of_room(const std::string& dir, std::uint64_t floor) {
  auto r = durable::check_room(dir, 0, floor);
  return !r && r.error().code == ENOSPC;
}

}  // namespace

UploadReceiver::UploadReceiver(UploadLimits limits) : limits_(std::move(limits)) {}

UploadReceiver::~UploadReceiver() {
  if (!keep_) discard();
}

void UploadReceiver::discard() {
  out_.reset();
  clip_out_.reset();
  std::error_code ec;
  if (!up_.path.empty()) std::filesystem::remove(up_.path, ec);
  for (const auto& c : up_.clips) std::filesystem::remove(c, ec);
  keep_ = true;  // nothing left to remove
}

const std::string& UploadReceiver::base_path() {
  if (base_.empty()) {
    auto token = jobs::make_job_id(jobs::now_ms());
    base_ = limits_.dir + "/" + (token ? *token : std::string("upload")) + ".upload";
  }
  return base_;
}

std::optional<ApiError> UploadReceiver::write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int e = errno;
      spdlog::error("event=upload_failed error=\"{}\"", log_escape(fmt::format("writing {}: {}", path, std::strerror(e))));
      return e == ENOSPC || e == EDQUOT ? no_space("no disk space for the upload") : internal("cannot store the upload");
    }
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return std::nullopt;
}

// A known voice's clip: its data URL decoded into a file beside the upload as it arrives.
std::optional<ApiError> UploadReceiver::start_clip() {
  const std::string field(kClipField);
  if (up_.clips.size() >= pipeline::kMaxKnownSpeakers)
    return bad_request(fmt::format("at most {} known speaker references may be given", pipeline::kMaxKnownSpeakers),
                       field);
  if (out_of_room(limits_.dir, limits_.min_free_bytes)) return no_space("the server is out of disk space; retry later");
  std::string path = service::clip_path(base_path(), up_.clips.size());
  clip_out_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!clip_out_) {
    spdlog::error("event=upload_failed error=\"{}\"", log_escape(fmt::format("cannot create {}: {}", path, std::strerror(errno))));
    return internal("cannot store the upload");
  }
  up_.clips.push_back(std::move(path));
  clip_.emplace(limits_.max_clip_bytes);
  return std::nullopt;
}

std::optional<ApiError> UploadReceiver::clip_chunk(std::string_view data) {
  clip_bytes_.clear();
  if (auto e = clip_->feed(data, clip_bytes_))
    return bad_request(fmt::format("known_speaker_references[{}] {}", up_.clips.size() - 1, *e), std::string(kClipField));
  return write_all(clip_out_.get(), clip_bytes_, up_.clips.back());
}

std::optional<ApiError> UploadReceiver::end_clip() {
  if (!clip_) return std::nullopt;
  auto e = clip_->finish();
  clip_.reset();
  if (e) return bad_request(fmt::format("known_speaker_references[{}] {}", up_.clips.size() - 1, *e), std::string(kClipField));
  auto synced = durable::sync_fd(clip_out_.get(), up_.clips.back());
  clip_out_.reset();
  if (!synced) return internal("cannot store the upload");
  return std::nullopt;
}

std::optional<ApiError> UploadReceiver::start_file(const http::FormChunk& c) {
  if (have_file_) return bad_request("more than one 'file' part", "file");
  std::string name(c.filename.empty() ? std::string_view("upload") : c.filename);
  if (auto why = check_client_name(name); !why.empty())
    return bad_request(fmt::format("the filename {}", why), "file", "invalid_filename");
  // Refused before a byte is written when the disk cannot take a file of the largest size
  // and keep its floor; the exact size is checked again as it grows.
  if (out_of_room(limits_.dir, limits_.min_free_bytes))
    return no_space("the server is out of disk space; retry later");
  up_.path = base_path();
  in_flight_.emplace(limits_.in_flight, up_.path);
  out_.reset(::open(up_.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out_) {
    spdlog::error("event=upload_failed error=\"{}\"", log_escape(fmt::format("cannot create {}: {}", up_.path, std::strerror(errno))));
    up_.path.clear();
    return internal("cannot store the upload");
  }
  have_file_ = true;
  up_.original_name = std::move(name);
  return std::nullopt;
}

std::optional<ApiError> UploadReceiver::on_form(const http::FormChunk& c) {
  if (c.first) {
    if (auto e = end_clip()) return e;  // a new part: the clip before it is complete
    current_.assign(c.name);
    if (current_.empty() || current_.size() > 64 || !valid_utf8(current_))
      return bad_request("a form field has no valid name");
    if (current_ == "file") {
      if (auto e = start_file(c)) return e;
    } else if (current_ == kClipField) {
      if (auto e = start_clip()) return e;
    } else if (current_.ends_with("[]")) {
      up_.lists[current_].emplace_back();
    } else if (up_.fields.contains(current_)) {
      return bad_request(fmt::format("form field '{}' is given twice", log_escape(current_, 64)), current_);
    }
  }
  if (current_ == "file") {
    up_.file_bytes += c.data.size();
    if (up_.file_bytes > limits_.max_file_bytes)
      return too_large(fmt::format("the file is over the limit of {} bytes", limits_.max_file_bytes));
    // Every 1 MiB, the disk's floor again: a client must not fill the disk under the store.
    if ((up_.file_bytes >> 20) != ((up_.file_bytes - c.data.size()) >> 20)) {
      if (out_of_room(limits_.dir, limits_.min_free_bytes)) return no_space("the server is out of disk space; retry later");
    }
    return write_all(out_.get(), c.data, up_.path);
  }
  if (current_ == kClipField) return clip_chunk(c.data);
  std::string& v = current_.ends_with("[]") ? up_.lists[current_].back() : up_.fields[current_];
  if (v.size() + c.data.size() > limits_.max_field_bytes)
    return bad_request(fmt::format("form field '{}' is too long (at most {} bytes)", log_escape(current_, 64),
                                   limits_.max_field_bytes),
                       current_);
  v.append(c.data);
  return std::nullopt;
}

std::optional<ApiError> UploadReceiver::finish() {
  if (auto e = end_clip()) return e;
  if (!have_file_) return bad_request("the 'file' part is missing", "file");
  if (up_.file_bytes == 0) return bad_request("the file is empty", "file");
  for (const auto& [k, v] : up_.fields)
    if (!valid_utf8(v)) return bad_request(fmt::format("form field '{}' is not valid UTF-8", log_escape(k, 64)), k);
  for (const auto& [k, vs] : up_.lists)
    for (const auto& v : vs)
      if (!valid_utf8(v)) return bad_request(fmt::format("form field '{}' is not valid UTF-8", log_escape(k, 64)), k);
  auto synced = durable::sync_fd(out_.get(), up_.path);
  if (synced) synced = durable::sync_dir(limits_.dir);
  if (!synced) {
    int e = synced.error().code;
    spdlog::error("event=upload_failed error=\"{}\"", log_escape(synced.error().message));
    return e == ENOSPC || e == EDQUOT ? no_space("no disk space for the upload") : internal("cannot store the upload");
  }
  out_.reset();
  return std::nullopt;
}

}  // namespace soroka::api
