// Form fields: the small fields of a transcription form (model, language, response_format)
// checked and turned into job parameters, the way OpenAI's endpoint reads them.
#include "api/form_fields.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/factory.h"
#include "util/text.h"

namespace soroka::api {

std::expected<FormRequest, ApiError> read_form(const std::map<std::string, std::string>& fields,
                                               const EngineSettings& engine) {
  auto field = [&](const char* k) {
    auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  FormRequest f;
  const std::string model = field("model");
  auto described = engine::describe_model(engine, model);
  if (!described)
    return std::unexpected(
        bad_request(fmt::format("model '{}' does not exist", log_escape(model, 64)), "model",
                    "model_not_found"));
  f.params.model = described->name;
  const std::string lang = field("language");
  f.params.language = lang.empty() ? "en" : lang;
  const auto& langs = described->languages;
  if (std::find(langs.begin(), langs.end(), f.params.language) == langs.end())
    return std::unexpected(bad_request(fmt::format("language '{}' is not supported by {} (supported: {})",
                                                   log_escape(f.params.language, 32), described->name,
                                                   fmt::join(langs, ", ")),
                                       "language", "unsupported_language"));
  const std::string rf = field("response_format");
  f.params.response_format = rf.empty() ? "json" : rf;
  auto format = service::parse_response_format(f.params.response_format);
  if (!format)
    return std::unexpected(bad_request(
        fmt::format("response_format '{}' is not one of json, text, srt, vtt, verbose_json",
                    log_escape(f.params.response_format, 32)),
        "response_format"));
  f.format = *format;
  return f;
}

}  // namespace soroka::api
