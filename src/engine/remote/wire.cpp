// What goes over the wire to a Whisper-class server and back: request forms and parsed answers.
#include "engine/remote/wire.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/text.h"

namespace soroka::engine::remote {

namespace {

using nlohmann::json;

std::string trimmed_base(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return std::string(base);
}

std::optional<double> seconds(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

// Start and end of a segment or word: "start"/"end" in seconds, or whisper.cpp's
// "offsets": {"from", "to"} in milliseconds.
std::optional<std::pair<double, double>> span_of(const json& j) {
  auto s = seconds(j, "start"), e = seconds(j, "end");
  if (s && e) return std::pair{*s, std::max(*s, *e)};
  auto o = j.find("offsets");
  if (o != j.end() && o->is_object()) {
    auto f = seconds(*o, "from"), t = seconds(*o, "to");
    if (f && t) return std::pair{*f / 1000.0, std::max(*f, *t) / 1000.0};
  }
  return std::nullopt;
}

std::string text_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void read_words(const json& arr, std::vector<WireWord>& out) {
  if (!arr.is_array()) return;
  for (const auto& w : arr) {
    if (!w.is_object()) continue;
    auto span = span_of(w);
    std::string t = text_of(w, "word");
    if (t.empty()) t = text_of(w, "text");
    if (!span || t.empty()) continue;
    out.push_back({span->first, span->second, std::move(t)});
  }
}

}  // namespace

bool uploads_wav(const RemoteEngineSettings& e) {
  return e.audio_format.empty() ? e.type == RemoteProtocol::whisper_cpp : e.audio_format == "wav";
}

std::string endpoint(RemoteProtocol type, std::string_view base) {
  return trimmed_base(base) + (type == RemoteProtocol::openai ? "/audio/transcriptions" : "/inference");
}

std::vector<net::FormPart> request_form(const RemoteEngineSettings& e, std::string_view audio,
                                        std::string_view language, std::string_view prompt) {
  std::vector<net::FormPart> parts;
  if (uploads_wav(e)) parts.push_back({"file", audio, "chunk.wav", "audio/wav"});
  else parts.push_back({"file", audio, "chunk.flac", "audio/flac"});
  parts.push_back({"response_format", "verbose_json", "", ""});
  if (e.type == RemoteProtocol::openai) {
    parts.push_back({"model", e.model.empty() ? std::string_view("whisper-1") : std::string_view(e.model), "", ""});
    parts.push_back({"timestamp_granularities[]", "segment", "", ""});
    parts.push_back({"timestamp_granularities[]", "word", "", ""});
  } else if (!e.model.empty()) {
    parts.push_back({"model", e.model, "", ""});
  }
  parts.push_back({"language", language, "", ""});
  parts.push_back({"temperature", "0", "", ""});
  if (!prompt.empty()) parts.push_back({"prompt", prompt, "", ""});
  return parts;
}

std::vector<std::string> request_headers(std::string_view api_key) {
  std::vector<std::string> h = {"Accept: application/json"};
  if (!api_key.empty()) h.push_back(fmt::format("Authorization: Bearer {}", api_key));
  return h;
}

Result<ChunkAnswer> parse_answer(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string())
    return fail(FailureKind::internal, "the server's answer is not a transcription (no JSON \"text\")", EPROTO);
  ChunkAnswer a;
  a.text = j["text"].get<std::string>();
  if (auto s = j.find("segments"); s != j.end() && s->is_array()) {
    for (const auto& seg : *s) {
      if (!seg.is_object()) continue;
      auto span = span_of(seg);
      if (!span) continue;
      a.segments.push_back({span->first, span->second, text_of(seg, "text")});
      if (auto w = seg.find("words"); w != seg.end()) read_words(*w, a.words);
    }
  }
  // OpenAI puts words at the top level (timestamp_granularities[]=word); use them when the
  // segments carried none.
  if (auto w = j.find("words"); a.words.empty() && w != j.end()) read_words(*w, a.words);
  return a;
}

std::string server_message(std::string_view body) {
  std::string msg;
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) msg = e->get<std::string>();
      else if (e->is_object()) msg = text_of(*e, "message");
    }
    if (msg.empty()) msg = text_of(j, "detail");
    if (msg.empty()) msg = text_of(j, "message");
  }
  if (msg.empty()) msg = std::string(body.substr(0, 300));
  return log_escape(msg, 300);
}

std::string prompt_tail(std::string_view text, std::size_t max_words) {
  constexpr std::size_t kMaxBytes = 224;
  std::vector<std::string_view> words;
  std::size_t end = text.size();
  while (end > 0 && words.size() < max_words) {
    while (end > 0 && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
    std::size_t b = end;
    while (b > 0 && !std::isspace(static_cast<unsigned char>(text[b - 1]))) --b;
    if (b == end) break;
    words.push_back(text.substr(b, end - b));
    end = b;
  }
  std::string out;
  for (auto it = words.begin(); it != words.end(); ++it) {
    if (out.size() + it->size() + 1 > kMaxBytes) break;
    out = std::string(*it) + (out.empty() ? "" : " ") + out;
  }
  return out;
}

}  // namespace soroka::engine::remote
