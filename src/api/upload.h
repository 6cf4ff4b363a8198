// UploadReceiver: one multipart/form-data transcription form received into the state dir:
// the file streamed to disk (bounded, fsynced), the small fields bounded in size and number.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/api_errors.h"
#include "api/data_url.h"
#include "http/server.h"
#include "service/state_sweep.h"
#include "util/fd.h"

namespace soroka::api {

// The limits come from the request's Settings snapshot (memory.max_file_size,
// jobs.min_free_disk); only the field size is the protocol's own.
struct UploadLimits {
  std::string dir;                   // <state>/uploads
  std::uint64_t max_file_bytes = 0;  // memory.max_file_size
  std::size_t max_field_bytes = 1024;  // a form field's value (model, language, prompt...)
  // A known voice's clip (known_speaker_references[], a base64 data URL), decoded: 1 MiB holds
  // 30 s of 16 kHz WAV or minutes of Opus, and OpenAI asks for 2-10 s.
  std::size_t max_clip_bytes = 1 << 20;
  // The filesystem must keep this much free after the upload (SQLite's WAL and results need
  // room to commit); an upload that would eat into it is refused with 507. jobs.min_free_disk.
  std::uint64_t min_free_bytes = 0;
  service::InFlightFiles* in_flight = nullptr;
};

struct ReceivedUpload {
  std::string path;           // our copy
  std::string original_name;  // the client's filename, validated
  std::uint64_t file_bytes = 0;
  std::map<std::string, std::string> fields;
  // Fields named "x[]" (OpenAI's arrays, e.g. known_speaker_names[]), in order; each value
  // bounded like a field. known_speaker_references[] are not here but in clips.
  std::map<std::string, std::vector<std::string>> lists;
  // known_speaker_references[] decoded, in order, stored beside the upload
  // (service::clip_path(path, i)); never parsed here: the worker decodes them.
  std::vector<std::string> clips;
};

// The form field whose values are clips (data URLs), OpenAI's name.
inline constexpr std::string_view kClipField = "known_speaker_references[]";

class UploadReceiver {
 public:
  explicit UploadReceiver(UploadLimits limits);
  ~UploadReceiver();  // removes the file unless kept
  UploadReceiver(const UploadReceiver&) = delete;
  UploadReceiver& operator=(const UploadReceiver&) = delete;

  // Event loop: one chunk of a part. An error refuses the request.
  std::optional<ApiError> on_form(const http::FormChunk& c);
  // Handler thread: the body is complete. Checks the form, makes the file durable (fsync of
  // the file and its directory, so the job row never points at a file a crash took).
  std::optional<ApiError> finish();
  const ReceivedUpload& upload() const { return up_; }
  void keep() { keep_ = true; }  // a job refers to the file now
  // The request is refused: the file and its clips go now, before the answer is sent, so a
  // client that sees the refusal never finds them still on disk.
  void discard();

 private:
  std::optional<ApiError> start_file(const http::FormChunk& c);
  std::optional<ApiError> start_clip();
  std::optional<ApiError> clip_chunk(std::string_view data);
  std::optional<ApiError> end_clip();
  std::optional<ApiError> write_all(int fd, std::string_view data, const std::string& path);
  // Where the upload goes ("<dir>/<token>.upload"), chosen at the first part that needs it.
  const std::string& base_path();
  UploadLimits limits_;
  std::string base_;
  Fd clip_out_;
  std::optional<DataUrlDecoder> clip_;
  std::string clip_bytes_;  // decoded, waiting to be written
  ReceivedUpload up_;
  Fd out_;
  std::string current_;
  bool have_file_ = false;
  bool keep_ = false;
  std::optional<service::InFlightGuard> in_flight_;
};

}  // namespace soroka::api
