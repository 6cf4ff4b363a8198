// Form fields: the small fields of a transcription form checked and turned into job
// parameters, the way OpenAI's endpoint reads them.
#include "api/form_fields.h"

#include <algorithm>

#include <fmt/format.h>

#include <limits>
#include <optional>

#include "engine/factory.h"
#include "pipeline/speaker_options.h"
#include "util/parse.h"
#include "util/text.h"

namespace soroka::api {

namespace {

using Fields = std::map<std::string, std::string>;

std::string field(const Fields& fields, const char* k) {
  auto it = fields.find(k);
  return it == fields.end() ? std::string() : it->second;
}

// A count field: 0 when absent; a 400 unless a decimal integer an int holds (speaker_params
// then says which counts make sense).
std::expected<int, ApiError> count_field(const Fields& fields, const char* k) {
  const std::string v = field(fields, k);
  if (v.empty()) return 0;
  const auto n = parse::i64(v);
  if (!n || *n < std::numeric_limits<int>::min() || *n > std::numeric_limits<int>::max())
    return std::unexpected(bad_request(fmt::format("{} must be an integer, not '{}'", k, log_escape(v, 32)), k));
  return static_cast<int>(*n);
}

// The field a speaker_params message is about (it starts with the name it blames).
std::string blamed_field(const std::string& message) {
  for (const char* k : {"min_speakers", "max_speakers", "speakers"})
    if (message.starts_with(k)) return k;
  return "known_speaker_names[]";
}

// Diarization as the form asks for it: nullopt when not asked.
std::expected<std::optional<pipeline::SpeakerRequest>, ApiError> read_diarize(const Fields& fields, bool implied,
                                                                          const FormSpeakers& sp) {
  const std::string flag = field(fields, "diarize");
  if (!flag.empty() && flag != "true" && flag != "false" && flag != "1" && flag != "0")
    return std::unexpected(bad_request(fmt::format("diarize must be true or false, not '{}'", log_escape(flag, 32)),
                                       "diarize"));
  pipeline::SpeakerRequest r;
  for (auto [k, out] : {std::pair{"speakers", &r.speakers}, std::pair{"min_speakers", &r.min_speakers},
                        std::pair{"max_speakers", &r.max_speakers}}) {
    auto n = count_field(fields, k);
    if (!n) return std::unexpected(n.error());
    *out = *n;
  }
  const bool options = r.speakers || r.min_speakers || r.max_speakers || !sp.names.empty() || !sp.clips.empty();
  const bool off = flag == "false" || flag == "0";
  if (off && (options || implied))
    return std::unexpected(bad_request(
        "diarize=false contradicts the speaker fields, diarized_json or the diarization model", "diarize"));
  if (!(flag == "true" || flag == "1" || options || implied)) return std::nullopt;
  if (sp.names.size() != sp.clips.size())
    return std::unexpected(bad_request(
        fmt::format("known_speaker_names[] and known_speaker_references[] must pair up ({} names, {} references)",
                    sp.names.size(), sp.clips.size()),
        sp.names.size() < sp.clips.size() ? "known_speaker_names[]" : "known_speaker_references[]"));
  for (std::size_t i = 0; i < sp.names.size(); ++i) r.known.push_back({sp.names[i], sp.clips[i]});
  if (auto p = pipeline::speaker_params(r); !p) return std::unexpected(bad_request(p.error(), blamed_field(p.error())));
  return r;
}

}  // namespace

std::expected<FormRequest, ApiError> read_form(const Fields& fields, const EngineSettings& engine,
                                               const FormSpeakers& speakers) {
  FormRequest f;
  std::string model = field(fields, "model");
  const bool diarize_model = model == kDiarizeModel;
  if (diarize_model) model = "whisper-1";
  auto described = engine::describe_model(engine, model);
  if (!described)
    return std::unexpected(
        bad_request(fmt::format("model '{}' does not exist", log_escape(model, 64)), "model",
                    "model_not_found"));
  f.params.model = described->name;
  const std::string lang = field(fields, "language");
  f.params.language = lang.empty() ? "en" : lang;
  const auto& langs = described->languages;
  if (std::find(langs.begin(), langs.end(), f.params.language) == langs.end())
    return std::unexpected(bad_request(fmt::format("language '{}' is not supported by {} (supported: {})",
                                                   log_escape(f.params.language, 32), described->name,
                                                   fmt::join(langs, ", ")),
                                       "language", "unsupported_language"));
  const std::string rf = field(fields, "response_format");
  f.params.response_format = rf.empty() ? "json" : rf;
  auto format = service::parse_response_format(f.params.response_format);
  if (!format)
    return std::unexpected(bad_request(
        fmt::format("response_format '{}' is not one of json, text, srt, vtt, verbose_json, diarized_json",
                    log_escape(f.params.response_format, 32)),
        "response_format"));
  f.format = *format;
  auto d = read_diarize(fields, diarize_model || f.format == service::ResponseFormat::diarized_json, speakers);
  if (!d) return std::unexpected(d.error());
  f.params.diarize = std::move(*d);
  return f;
}

}  // namespace soroka::api
