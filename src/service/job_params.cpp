// JobParams: what a transcription job asks for, as stored in the queue; rendering its result.
#include "service/job_params.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pipeline/formats.h"
#include "pipeline/speaker_options.h"

namespace soroka::service {

std::optional<ResponseFormat> parse_response_format(std::string_view s) noexcept {
  if (s == "json") return ResponseFormat::json;
  if (s == "text") return ResponseFormat::text;
  if (s == "srt") return ResponseFormat::srt;
  if (s == "vtt") return ResponseFormat::vtt;
  if (s == "verbose_json") return ResponseFormat::verbose_json;
  if (s == "diarized_json") return ResponseFormat::diarized_json;
  return std::nullopt;
}

std::string to_json(const JobParams& p) {
  nlohmann::json j{{"model", p.model},
                   {"language", p.language},
                   {"response_format", p.response_format},
                   {"duration_s", p.duration_s}};
  if (p.diarize) j["diarize"] = worker::to_json(*p.diarize);
  return j.dump();
}

std::string clip_path(const std::string& input_path, std::size_t i) {
  return fmt::format("{}.speaker{}", input_path, i);
}

std::vector<std::string> input_files(const std::string& input_path, std::string_view params_json) {
  if (input_path.empty()) return {};
  std::vector<std::string> files = {input_path};
  // Params that do not parse name no clips: only the input is known to be the job's.
  auto params = parse_job_params(params_json);
  if (params && params->diarize) {
    const std::size_t clips = std::min(params->diarize->known.size(), pipeline::kMaxKnownSpeakers);
    for (std::size_t i = 0; i < clips; ++i) files.push_back(clip_path(input_path, i));
  }
  return files;
}

namespace {
// Removes `path`; gone already is fine.
Result<void> remove_file(const std::string& path) {
  if (path.empty() || ::unlink(path.c_str()) == 0 || errno == ENOENT) return {};
  return sys_fail("removing " + path);
}
}  // namespace

Result<void> remove_input(const std::string& input_path, std::string_view params_json) {
  Result<void> first;
  for (const auto& f : input_files(input_path, params_json))
    if (auto r = remove_file(f); !r && first) first = r;
  return first;
}

Result<void> remove_purged(const jobs::PurgedJob& job) {
  auto in = remove_input(job.input_path, job.params);
  auto out = remove_file(job.result_path);
  return in ? out : in;
}

namespace {
// Type-checked reads of members that may be absent (the default then stays). nlohmann's
// value() throws type_error on a mismatch, and neither a queued job's params nor a worker's
// result file is trusted to match: a throw would end a scheduler or HTTP thread, and with it
// the service. False on a wrong type.
template <class T>
bool read_member(const nlohmann::json& obj, const char* key, T& out) {
  auto it = obj.find(key);  // end() on a non-object too
  if (it == obj.end()) return true;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return false;
  } else {
    if (!it->is_number()) return false;
  }
  out = it->template get<T>();
  return true;
}
}  // namespace

Result<JobParams> parse_job_params(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("job params are not a JSON object", EINVAL);
  JobParams p;
  if (!read_member(j, "model", p.model) || !read_member(j, "language", p.language) ||
      !read_member(j, "response_format", p.response_format))
    return fail("job params: model, language and response_format must be strings", EINVAL);
  // The memory estimate adds 8 KiB a second and converts to an integer: past 1e9 s (31 years)
  // no upload comes from, a double could overflow the conversion.
  if (!read_member(j, "duration_s", p.duration_s) || !(p.duration_s >= 0 && p.duration_s <= 1e9))
    return fail("job params: duration_s must be a number of seconds in [0, 1e9]", EINVAL);
  if (auto d = j.find("diarize"); d != j.end()) {
    auto dr = worker::diarize_from_json(*d);
    if (!dr) return fail("job params: " + dr.error().message, EINVAL);
    p.diarize = std::move(*dr);
  }
  return p;
}

Result<pipeline::Transcript> read_transcript_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_fail("opening result " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_transcript(text.str(), path);
}

Result<pipeline::Transcript> parse_transcript(std::string_view json, std::string_view origin) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail("result " + std::string(origin) + " is not JSON", EPROTO);
  auto wrong = [&](const char* what) {
    return fail(fmt::format("result {}: {} has the wrong type", origin, what), EPROTO);
  };
  pipeline::Transcript t;
  if (!read_member(j, "file", t.file) || !read_member(j, "duration_s", t.duration_s) ||
      !read_member(j, "language", t.language) || !read_member(j, "engine", t.engine))
    return wrong("a top-level field");
  if (auto it = j.find("segments"); it != j.end() && it->is_array()) {
    for (const auto& s : *it) {
      engine::SegmentText seg;
      if (!s.is_object() || !read_member(s, "start", seg.start_s) ||
          !read_member(s, "end", seg.end_s) || !read_member(s, "text", seg.text))
        return wrong("a segment");
      if (auto sp = s.find("speaker"); sp != s.end()) {
        if (!sp->is_string()) return wrong("a segment's speaker");
        seg.speaker = sp->get<std::string>();
      }
      if (auto w = s.find("words"); w != s.end() && w->is_array()) {
        for (const auto& wj : *w) {
          engine::Word word;
          if (!wj.is_object() || !read_member(wj, "start", word.start_s) ||
              !read_member(wj, "end", word.end_s) || !read_member(wj, "word", word.text))
            return wrong("a word");
          seg.words.push_back(std::move(word));
        }
      }
      t.segments.push_back(std::move(seg));
    }
  }
  return t;
}

namespace {
// OpenAI's diarized_json: every segment carries a speaker (a transcript not diarized, which
// the API does not produce for this format, says "Speaker 1"); usage is by duration as OpenAI
// bills audio, in whole seconds rounded up.
nlohmann::json diarized_json(const pipeline::Transcript& t) {
  nlohmann::json segs = nlohmann::json::array();
  std::size_t id = 0;
  for (const auto& s : t.segments)
    segs.push_back({{"type", "transcript.text.segment"}, {"id", fmt::format("seg_{}", id++)}, {"start", s.start_s},
                    {"end", s.end_s}, {"text", s.text}, {"speaker", s.speaker.value_or("Speaker 1")}});
  const double secs = std::isfinite(t.duration_s) && t.duration_s > 0 ? std::ceil(t.duration_s) : 0;
  return {{"task", "transcribe"},
          {"duration", t.duration_s},
          {"text", t.text()},
          {"segments", std::move(segs)},
          {"usage", {{"type", "duration"}, {"seconds", static_cast<std::int64_t>(secs)}}}};
}
}  // namespace

// The JSON formats say which engine produced the transcript ("engine", beside OpenAI's fields,
// which its clients ignore): a fallback shows there as "pocketsphinx (fallback for whisper)".
namespace {
nlohmann::json with_engine(nlohmann::json j, const pipeline::Transcript& t) {
  if (!t.engine.empty()) j["engine"] = t.engine;
  return j;
}
}  // namespace

Rendered render(const pipeline::Transcript& t, ResponseFormat f) {
  std::ostringstream out;
  switch (f) {
    case ResponseFormat::json:
      return {"application/json", with_engine(nlohmann::json{{"text", t.text()}}, t).dump()};
    case ResponseFormat::diarized_json:
      return {"application/json", with_engine(diarized_json(t), t).dump()};
    case ResponseFormat::verbose_json: {
      nlohmann::json segs = nlohmann::json::array();
      int id = 0;
      for (const auto& s : t.segments) {
        segs.push_back({{"id", id++}, {"start", s.start_s}, {"end", s.end_s}, {"text", s.text}});
        if (s.speaker) segs.back()["speaker"] = *s.speaker;
      }
      nlohmann::json j{{"task", "transcribe"},  {"language", t.language},
                       {"duration", t.duration_s}, {"text", t.text()},
                       {"segments", segs}};
      return {"application/json", with_engine(std::move(j), t).dump()};
    }
    case ResponseFormat::text:
      // Diarized: a "Speaker 1: ..." line per turn (the CLI's txt), else OpenAI's plain text.
      if (std::any_of(t.segments.begin(), t.segments.end(), [](const auto& s) { return s.speaker.has_value(); })) {
        pipeline::write_txt(out, t);
        return {"text/plain; charset=utf-8", out.str()};
      }
      return {"text/plain; charset=utf-8", t.text() + "\n"};
    case ResponseFormat::srt:
      pipeline::write_srt(out, t);
      return {"text/plain; charset=utf-8", out.str()};
    case ResponseFormat::vtt:
      pipeline::write_vtt(out, t);
      return {"text/plain; charset=utf-8", out.str()};
  }
  return {"application/json", "{}"};
}

}  // namespace soroka::service
