// Output writers for transcripts: cue cutting, timestamp syntax, speaker turns and the formats.
#include "pipeline/formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace soroka::pipeline {
namespace {

std::int64_t to_ms(double s) {
  if (!std::isfinite(s) || s <= 0) return 0;
  return std::llround(s * 1000.0);
}

// Seconds rounded to the millisecond, clamped to [0, duration] when the duration is known.
double json_time(double s, double duration_s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  if (duration_s > 0) s = std::min(s, duration_s);
  return static_cast<double>(std::llround(s * 1000.0)) / 1000.0;
}

// Cue text must not hold a line break of its own (a blank line ends a cue) nor the arrow
// that marks a timing line.
std::string clean_text(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  for (std::size_t p; (p = out.find("-->")) != std::string::npos;) out.replace(p, 3, "->");
  return out;
}

struct TimedWord {
  double start_s, end_s;
  std::string text;
};

// Words of a segment; without engine timings, times are spread over the segment in
// proportion to each word's length.
std::vector<TimedWord> timed_words(const engine::SegmentText& seg) {
  std::vector<TimedWord> out;
  if (!seg.words.empty()) {
    for (const auto& w : seg.words) {
      std::string t = clean_text(w.text);
      if (t.find_first_not_of(' ') != std::string::npos) out.push_back({w.start_s, w.end_s, t});
    }
    return out;
  }
  std::string text = clean_text(seg.text);
  std::vector<std::string> tokens;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    if (j > i) {
      tokens.emplace_back(text.substr(i, j - i));
      chars += j - i + 1;
    }
    i = j + 1;
  }
  double span = std::max(0.0, seg.end_s - seg.start_s);
  std::size_t before = 0;
  for (auto& tok : tokens) {
    double a = seg.start_s + span * static_cast<double>(before) / static_cast<double>(chars);
    before += tok.size() + 1;
    double b = seg.start_s + span * static_cast<double>(before) / static_cast<double>(chars);
    out.push_back({a, b, std::move(tok)});
  }
  return out;
}

// Builds cue text line by line; reports when a word would not fit.
class CueText {
 public:
  explicit CueText(const CueParams& p) : p_(p) {}
  bool empty() const { return text_.empty(); }
  bool fits(const std::string& w) const {
    if (text_.empty()) return true;
    if (line_len_ + 1 + w.size() <= p_.max_line_chars) return true;
    return lines_ < p_.max_lines;
  }
  void add(const std::string& w) {
    if (text_.empty()) {
      lines_ = 1;
      line_len_ = w.size();
      text_ = w;
    } else if (line_len_ + 1 + w.size() <= p_.max_line_chars) {
      text_ += ' ';
      text_ += w;
      line_len_ += 1 + w.size();
    } else {
      text_ += '\n';
      text_ += w;
      ++lines_;
      line_len_ = w.size();
    }
  }
  std::string take() {
    lines_ = 0;
    line_len_ = 0;
    return std::exchange(text_, {});
  }

 private:
  const CueParams& p_;
  std::string text_;
  std::size_t lines_ = 0;
  std::size_t line_len_ = 0;
};

std::string vtt_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::optional<Format> parse_format(std::string_view name) noexcept {
  if (name == "txt") return Format::txt;
  if (name == "srt") return Format::srt;
  if (name == "vtt") return Format::vtt;
  if (name == "json") return Format::json;
  if (name == "rttm") return Format::rttm;
  return std::nullopt;
}

const char* to_string(Format f) noexcept {
  switch (f) {
    case Format::txt: return "txt";
    case Format::srt: return "srt";
    case Format::vtt: return "vtt";
    case Format::json: return "json";
    case Format::rttm: return "rttm";
  }
  return "txt";
}

std::string format_timestamp(std::int64_t ms, char sep) {
  if (ms < 0) ms = 0;
  return fmt::format("{:02}:{:02}:{:02}{}{:03}", ms / 3'600'000, ms / 60'000 % 60, ms / 1000 % 60,
                     sep, ms % 1000);
}

std::vector<Cue> make_cues(const Transcript& t, const CueParams& params) {
  std::vector<Cue> cues;
  for (const auto& seg : t.segments) {
    auto words = timed_words(seg);
    CueText text(params);
    double start = 0, end = 0;
    auto flush = [&] {
      if (text.empty()) return;
      cues.push_back({to_ms(start), to_ms(end), text.take(), seg.speaker});
    };
    for (const auto& w : words) {
      bool too_long = !text.empty() && w.end_s - start > params.max_cue_s;
      if (!text.fits(w.text) || too_long) flush();
      if (text.empty()) start = w.start_s;
      text.add(w.text);
      end = std::max(end, w.end_s);
    }
    flush();
  }

  // Whatever the input: starts never decrease, 0 <= start < end <= duration, no overlap.
  const std::int64_t dur = to_ms(t.duration_s);
  std::int64_t prev_start = 0;
  for (auto& c : cues) {
    c.start_ms = std::max(c.start_ms, prev_start);
    if (dur > 0) {
      c.start_ms = std::min(c.start_ms, std::max<std::int64_t>(dur - 1, 0));
      c.end_ms = std::min(c.end_ms, dur);
    }
    if (c.end_ms <= c.start_ms) c.end_ms = c.start_ms + 1;
    prev_start = c.start_ms;
  }
  for (std::size_t i = 0; i + 1 < cues.size(); ++i)
    if (cues[i].end_ms > cues[i + 1].start_ms && cues[i + 1].start_ms > cues[i].start_ms)
      cues[i].end_ms = cues[i + 1].start_ms;
  return cues;
}

std::vector<SpeakerTurn> speaker_turns(const Transcript& t, double max_gap_s) {
  std::vector<SpeakerTurn> turns;
  for (const auto& seg : t.segments) {
    if (!seg.speaker) continue;
    const bool same = !turns.empty() && turns.back().speaker == *seg.speaker &&
                      (max_gap_s < 0 || seg.start_s - turns.back().end_s <= max_gap_s);
    if (!same) {
      turns.push_back({seg.start_s, seg.end_s, *seg.speaker, seg.text});
      continue;
    }
    auto& last = turns.back();
    last.end_s = std::max(last.end_s, seg.end_s);
    if (!seg.text.empty()) last.text += (last.text.empty() ? "" : " ") + seg.text;
  }
  return turns;
}

std::string rttm_token(std::string_view name) {
  if (name.empty()) return "<NA>";
  std::string out(name);
  for (char& c : out)
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') c = '_';
  return out;
}

namespace {
bool diarized(const Transcript& t) {
  return std::any_of(t.segments.begin(), t.segments.end(), [](const auto& s) { return s.speaker.has_value(); });
}
}  // namespace

void write_txt(std::ostream& out, const Transcript& t) {
  if (diarized(t)) {
    for (const auto& turn : speaker_turns(t, -1)) {
      std::string text = clean_text(turn.text);
      if (!text.empty()) out << clean_text(turn.speaker) << ": " << text << '\n';
    }
    return;
  }
  for (const auto& seg : t.segments) {
    std::string text = clean_text(seg.text);
    if (!text.empty()) out << text << '\n';
  }
}

void write_srt(std::ostream& out, const Transcript& t) {
  auto cues = make_cues(t);
  for (std::size_t i = 0; i < cues.size(); ++i) {
    if (i > 0) out << '\n';
    out << i + 1 << '\n'
        << format_timestamp(cues[i].start_ms, ',') << " --> "
        << format_timestamp(cues[i].end_ms, ',') << '\n';
    if (cues[i].speaker) out << '[' << clean_text(*cues[i].speaker) << "] ";
    out << cues[i].text << '\n';
  }
}

void write_vtt(std::ostream& out, const Transcript& t) {
  out << "WEBVTT\n";
  for (const auto& c : make_cues(t)) {
    out << '\n'
        << format_timestamp(c.start_ms, '.') << " --> " << format_timestamp(c.end_ms, '.') << '\n';
    // A voice span's annotation ends at '>' and holds no line break.
    if (c.speaker) out << "<v " << vtt_escape(clean_text(*c.speaker)) << '>';
    out << vtt_escape(c.text) << '\n';
  }
}

void write_json(std::ostream& out, const Transcript& t) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["file"] = t.file;
  j["duration_s"] = json_time(t.duration_s, 0);
  j["language"] = t.language;
  j["engine"] = t.engine;
  j["text"] = t.text();
  ordered_json segs = ordered_json::array();
  for (const auto& seg : t.segments) {
    ordered_json s;
    double start = json_time(seg.start_s, t.duration_s);
    s["start"] = start;
    s["end"] = std::max(start, json_time(seg.end_s, t.duration_s));
    s["text"] = seg.text;
    if (!seg.words.empty()) {
      ordered_json words = ordered_json::array();
      for (const auto& w : seg.words) {
        ordered_json wj;
        double ws = json_time(w.start_s, t.duration_s);
        wj["start"] = ws;
        wj["end"] = std::max(ws, json_time(w.end_s, t.duration_s));
        wj["word"] = w.text;
        if (w.confidence) wj["confidence"] = std::round(*w.confidence * 1000.0) / 1000.0;
        if (seg.speaker) wj["speaker"] = *seg.speaker;  // assign_speakers: a segment's words are its speaker's
        words.push_back(std::move(wj));
      }
      s["words"] = std::move(words);
    }
    if (seg.speaker) s["speaker"] = *seg.speaker;
    segs.push_back(std::move(s));
  }
  j["segments"] = std::move(segs);
  // Invalid UTF-8 from an engine is replaced, not thrown about.
  out << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

void write_rttm(std::ostream& out, const Transcript& t) {
  const std::string file = rttm_token(std::filesystem::path(t.file).stem().string());
  for (const auto& turn : speaker_turns(t, kTurnGapS)) {
    const double start = json_time(turn.start_s, t.duration_s);
    const double dur = std::max(0.0, json_time(turn.end_s, t.duration_s) - start);
    out << fmt::format("SPEAKER {} 1 {:.3f} {:.3f} <NA> <NA> {} <NA> <NA>\n", file, start, dur,
                       rttm_token(turn.speaker));
  }
}

void write(std::ostream& out, const Transcript& t, Format f) {
  switch (f) {
    case Format::txt: return write_txt(out, t);
    case Format::srt: return write_srt(out, t);
    case Format::vtt: return write_vtt(out, t);
    case Format::json: return write_json(out, t);
    case Format::rttm: return write_rttm(out, t);
  }
}

}  // namespace soroka::pipeline
