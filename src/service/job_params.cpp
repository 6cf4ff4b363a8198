// JobParams: what a transcription job asks for, as stored in the queue; rendering its result.
#include "service/job_params.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pipeline/formats.h"

namespace soroka::service {

std::optional<ResponseFormat> parse_response_format(std::string_view s) noexcept {
  if (s == "json") return ResponseFormat::json;
  if (s == "text") return ResponseFormat::text;
  if (s == "srt") return ResponseFormat::srt;
  if (s == "vtt") return ResponseFormat::vtt;
  if (s == "verbose_json") return ResponseFormat::verbose_json;
  return std::nullopt;
}

std::string to_json(const JobParams& p) {
  return nlohmann::json{{"model", p.model},
                        {"language", p.language},
                        {"response_format", p.response_format},
                        {"duration_s", p.duration_s}}
      .dump();
}

Result<JobParams> parse_job_params(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("job params are not a JSON object", EINVAL);
  JobParams p;
  p.model = j.value("model", p.model);
  p.language = j.value("language", p.language);
  p.response_format = j.value("response_format", p.response_format);
  p.duration_s = j.value("duration_s", 0.0);
  return p;
}

Result<pipeline::Transcript> read_transcript_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_fail("opening result " + path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("result " + path + " is not JSON", EPROTO);
  pipeline::Transcript t;
  t.file = j.value("file", "");
  t.duration_s = j.value("duration_s", 0.0);
  t.language = j.value("language", "");
  t.engine = j.value("engine", "");
  if (auto it = j.find("segments"); it != j.end() && it->is_array()) {
    for (const auto& s : *it) {
      engine::SegmentText seg;
      seg.start_s = s.value("start", 0.0);
      seg.end_s = s.value("end", 0.0);
      seg.text = s.value("text", "");
      if (auto w = s.find("words"); w != s.end() && w->is_array())
        for (const auto& wj : *w)
          seg.words.push_back({wj.value("start", 0.0), wj.value("end", 0.0),
                               wj.value("word", ""), std::nullopt});
      t.segments.push_back(std::move(seg));
    }
  }
  return t;
}

Rendered render(const pipeline::Transcript& t, ResponseFormat f) {
  std::ostringstream out;
  switch (f) {
    case ResponseFormat::json:
      return {"application/json", nlohmann::json{{"text", t.text()}}.dump()};
    case ResponseFormat::verbose_json: {
      nlohmann::json segs = nlohmann::json::array();
      int id = 0;
      for (const auto& s : t.segments)
        segs.push_back({{"id", id++}, {"start", s.start_s}, {"end", s.end_s}, {"text", s.text}});
      nlohmann::json j{{"task", "transcribe"},  {"language", t.language},
                       {"duration", t.duration_s}, {"text", t.text()},
                       {"segments", segs}};
      return {"application/json", j.dump()};
    }
    case ResponseFormat::text:
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
