// JobParams: what a transcription job asks for, as stored in the queue; rendering its result.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job_store.h"
#include "pipeline/transcript.h"
#include "util/result.h"
#include "worker/protocol.h"

namespace soroka::service {

// OpenAI's response_format values.
enum class ResponseFormat { json, text, srt, vtt, verbose_json, diarized_json };
std::optional<ResponseFormat> parse_response_format(std::string_view s) noexcept;

struct JobParams {
  std::string model = "pocketsphinx";  // or "whisper-1" (an alias), or sim-* when enabled
  std::string language = "en";
  std::string response_format = "json";
  double duration_s = 0;  // probed at upload; drives the memory estimate
  // Present: diarize (who spoke when). Stored as "diarize" in the params' JSON, the same
  // object the worker's job line carries; known voices' clips are files beside the input
  // (clip_path), removed with it (remove_input).
  std::optional<pipeline::SpeakerRequest> diarize;
};

// Where the i-th known voice's clip of the job whose input is `input_path` is kept: beside the
// input, so the state dir's sweep keeps it while the job refers to the input.
std::string clip_path(const std::string& input_path, std::size_t i);
// The files a job keeps in the uploads dir: its input and one clip per known voice its params
// (JobSpec::params, this file's JSON) name. Exactly these: a stray file beside them is the
// state dir's sweep's (service/state_sweep.h), never guessed at here.
std::vector<std::string> input_files(const std::string& input_path, std::string_view params_json);
// Removes input_files(). A file already gone is not an error (the job ended, then its row was
// purged); the first other failure is, after trying every file.
Result<void> remove_input(const std::string& input_path, std::string_view params_json);
// A purged job's input files and its result file.
Result<void> remove_purged(const jobs::PurgedJob& job);

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
// text, speaker?}]}; diarized_json -> OpenAI's {task, duration, text, segments[{type:
// "transcript.text.segment", id: "seg_N", start, end, text, speaker}], usage: {type:
// "duration", seconds}}; text/srt/vtt as text/plain (srt and vtt mark speakers). The JSON
// formats add "engine": the engine that produced the transcript, a fallback labelled as such.
Rendered render(const pipeline::Transcript& t, ResponseFormat f);

}  // namespace soroka::service
