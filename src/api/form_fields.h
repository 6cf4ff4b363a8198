// Form fields: the small fields of a transcription form (model, language, response_format,
// diarization's) checked and turned into job parameters, the way OpenAI's endpoint reads them.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <vector>

#include "config/settings.h"
#include "api/api_errors.h"
#include "service/job_params.h"

namespace soroka::api {

struct FormRequest {
  service::JobParams params;
  service::ResponseFormat format = service::ResponseFormat::json;
};

// OpenAI's model name that asks for speakers; here it is pocketsphinx with diarization.
inline constexpr std::string_view kDiarizeModel = "gpt-4o-transcribe-diarize";

// Known voices as the form gave them: names (known_speaker_names[]) and the clips stored from
// known_speaker_references[] (paths beside the upload), each in form order; paired by index.
struct FormSpeakers {
  std::vector<std::string> names;
  std::vector<std::string> clips;
};

// `fields`: the form's fields but the file (already bounded and UTF-8, see upload.h).
// model: a name engine::describe_model accepts with `engine` (empty and "whisper-1" mean
// pocketsphinx; sim-* only with engine.simulation), or kDiarizeModel; language: "en" (the
// default); response_format: json (the default), text, srt, vtt, verbose_json, diarized_json.
// Diarization: diarize=true|false (also 1|0); speakers, min_speakers, max_speakers
// (integers); known voices. It is on with diarize=true, response_format=diarized_json, model
// kDiarizeModel, or any speaker field (then diarize=false is a contradiction). Anything
// else, counts out of range (pipeline::speaker_params), names and clips that do not pair up:
// a 400 naming the field.
std::expected<FormRequest, ApiError> read_form(const std::map<std::string, std::string>& fields,
                                               const EngineSettings& engine, const FormSpeakers& speakers = {});

}  // namespace soroka::api
