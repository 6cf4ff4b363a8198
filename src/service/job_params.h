// JobParams: what a transcription job asks for, as stored in the queue; rendering its result.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pipeline/transcript.h"
#include "util/result.h"

namespace soroka::service {

// OpenAI's response_format values.
enum class ResponseFormat { json, text, srt, vtt, verbose_json };
std::optional<ResponseFormat> parse_response_format(std::string_view s) noexcept;

struct JobParams {
  std::string model = "pocketsphinx";  // or "whisper-1" (an alias), or sim-* when enabled
  std::string language = "en";
  std::string response_format = "json";
  double duration_s = 0;  // probed at upload; drives the memory estimate
};

std::string to_json(const JobParams& p);
Result<JobParams> parse_job_params(std::string_view json);

// The transcript a worker wrote (pipeline::write_json's shape) read back.
Result<pipeline::Transcript> read_transcript_file(const std::string& path);
// The same from the file's text (pure; fuzz/transcript_fuzz.cpp). `origin` names it in errors.
Result<pipeline::Transcript> parse_transcript(std::string_view json, std::string_view origin);

struct Rendered {
  std::string content_type;
  std::string body;
};
// json -> {"text"}; verbose_json -> {task, language, duration, text, segments[{id,start,end,
// text}]}; text/srt/vtt as text/plain.
Rendered render(const pipeline::Transcript& t, ResponseFormat f);

}  // namespace soroka::service
