// Output writers for transcripts: plain text, SubRip (SRT), WebVTT and JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/transcript.h"

namespace soroka::pipeline {

enum class Format { txt, srt, vtt, json };

// "txt", "srt", "vtt", "json" (case-sensitive, as on the command line).
std::optional<Format> parse_format(std::string_view name) noexcept;
const char* to_string(Format f) noexcept;  // also the file extension, without the dot

// "HH:MM:SS,mmm" (SRT, sep ',') or "HH:MM:SS.mmm" (WebVTT, sep '.') for a time in
// milliseconds; hours grow past 99 rather than wrap. Negative times print as 0.
std::string format_timestamp(std::int64_t ms, char sep);

// A subtitle cue: times in whole milliseconds, text of one or two lines.
struct Cue {
  std::int64_t start_ms = 0, end_ms = 0;
  std::string text;
};

// Limits for cutting segments into readable cues (Netflix-style guidance: two lines of 42
// characters, at most 7 s on screen).
struct CueParams {
  std::size_t max_line_chars = 42;
  std::size_t max_lines = 2;
  double max_cue_s = 7.0;
};

// Cues for SRT and WebVTT: segments with word timings are cut at word boundaries to fit
// `params`; others give one cue each. Guarantees, whatever the input: 0 <= start < end <=
// duration (when the duration allows it), starts never decrease, no cue text is empty or
// holds a blank line.
std::vector<Cue> make_cues(const Transcript& t, const CueParams& params = {});

// Writers. txt: one line per segment. srt: numbered cues from 1, blank-line separated.
// vtt: "WEBVTT" header, then cues. json: {file, duration_s, language, engine, text,
// segments: [{start, end, text, words?: [{start, end, word, confidence?}], speaker?}]},
// times in seconds rounded to the millisecond.
void write_txt(std::ostream& out, const Transcript& t);
void write_srt(std::ostream& out, const Transcript& t);
void write_vtt(std::ostream& out, const Transcript& t);
void write_json(std::ostream& out, const Transcript& t);
void write(std::ostream& out, const Transcript& t, Format f);

}  // namespace soroka::pipeline
