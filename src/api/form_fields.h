// Form fields: the small fields of a transcription form (model, language, response_format)
// checked and turned into job parameters, the way OpenAI's endpoint reads them.
#pragma once

#include <expected>
#include <map>

#include <string>

#include "config/settings.h"
#include "api/api_errors.h"
#include "service/job_params.h"

namespace soroka::api {

struct FormRequest {
  service::JobParams params;
  service::ResponseFormat format = service::ResponseFormat::json;
};

// `fields`: the form's fields but the file (already bounded and UTF-8, see upload.h).
// model: a name engine::describe_model accepts with `engine` (empty and "whisper-1" mean
// pocketsphinx; sim-* only with engine.simulation); language: "en" (the default); response_format: json
// (the default), text, srt, vtt, verbose_json. Anything else: a 400 naming the field.
std::expected<FormRequest, ApiError> read_form(const std::map<std::string, std::string>& fields,
                                               const EngineSettings& engine);

}  // namespace soroka::api
