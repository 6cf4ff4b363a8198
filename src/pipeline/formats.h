// Output writers for transcripts: plain text, SubRip (SRT), WebVTT, JSON and NIST RTTM.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/transcript.h"

namespace soroka::pipeline {

enum class Format { txt, srt, vtt, json, rttm };

// "txt", "srt", "vtt", "json", "rttm" (case-sensitive, as on the command line).
std::optional<Format> parse_format(std::string_view name) noexcept;
const char* to_string(Format f) noexcept;  // also the file extension, without the dot

// "HH:MM:SS,mmm" (SRT, sep ',') or "HH:MM:SS.mmm" (WebVTT, sep '.') for a time in
// milliseconds; hours grow past 99 rather than wrap. Negative times print as 0.
std::string format_timestamp(std::int64_t ms, char sep);

// A subtitle cue: times in whole milliseconds, text of one or two lines.
struct Cue {
  std::int64_t start_ms = 0, end_ms = 0;
  std::string text;
  std::optional<std::string> speaker;  // its segment's, when diarized
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

// One speaker's stretch of a diarized transcript: consecutive segments of one speaker, cut
// where the pause between two is longer than kTurnGapS.
struct SpeakerTurn {
  double start_s = 0, end_s = 0;
  std::string speaker;
  std::string text;  // the segments' texts joined by spaces
};
// A pause longer than this between two segments of one speaker starts a new RTTM line: the
// segmenter closes segments at 0.3 s pauses and pads each by 0.2 s, so 1 s is a real silence
// that a scorer would otherwise count as speech.
inline constexpr double kTurnGapS = 1.0;
// Segments without a speaker are skipped; `max_gap_s` < 0: never cut on pauses.
std::vector<SpeakerTurn> speaker_turns(const Transcript& t, double max_gap_s);

// RTTM's fields are space-separated: a name's whitespace and control characters become '_'
// ("Speaker 1" -> "Speaker_1"); an empty name is "<NA>".
std::string rttm_token(std::string_view name);

// Writers. Segments with a speaker (a diarized transcript) show it; without, outputs are as
// they always were. txt: one line per segment; diarized, one "Speaker 1: text" line per
// speaker turn instead. srt: numbered cues from 1, blank-line separated, a "[Speaker 1] "
// prefix when diarized. vtt: "WEBVTT" header, then cues, a voice span "<v Speaker 1>" when
// diarized. json: {file, duration_s, language, engine, text, segments: [{start, end, text,
// words?: [{start, end, word, confidence?, speaker?}], speaker?}]}, times in seconds rounded
// to the millisecond. rttm: "SPEAKER <file> 1 <start> <dur> <NA> <NA> <name> <NA> <NA>" per
// speaker turn (speaker_turns with kTurnGapS), the file's name without its extension;
// nothing for a transcript without speakers.
void write_txt(std::ostream& out, const Transcript& t);
void write_srt(std::ostream& out, const Transcript& t);
void write_vtt(std::ostream& out, const Transcript& t);
void write_json(std::ostream& out, const Transcript& t);
void write_rttm(std::ostream& out, const Transcript& t);
void write(std::ostream& out, const Transcript& t, Format f);

}  // namespace soroka::pipeline
