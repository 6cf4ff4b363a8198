// Validators for transcript output: parse SRT, WebVTT and JSON and list every rule broken.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace soroka::test {

// "HH:MM:SS,mmm" (sep ',') or "HH:MM:SS.mmm" (sep '.'); hours have two or more digits.
// WebVTT also allows "MM:SS.mmm" (allow_short). Returns milliseconds.
std::optional<std::int64_t> parse_timestamp(std::string_view s, char sep, bool allow_short = false);

struct ParsedCue {
  std::int64_t start_ms = 0, end_ms = 0;
  std::string text;  // lines joined by '\n'
};

// Each validator returns the broken rules, one message each ("cue 3: start 00:00:05,000 is
// before the previous cue's start"); empty means valid. `duration_s` < 0 skips the
// within-duration check. Cues parsed on the way are appended to `cues` when given.
//
// SRT: cues separated by exactly one blank line; a cue is its 1-based index (consecutive),
// "HH:MM:SS,mmm --> HH:MM:SS,mmm", then one or more non-blank text lines; start < end,
// starts never decrease, end <= duration; the file ends with a newline.
std::vector<std::string> validate_srt(std::string_view text, double duration_s,
                                      std::vector<ParsedCue>* cues = nullptr);

// WebVTT: first line "WEBVTT" (optionally followed by a space or tab and text), then a
// blank line before each cue; a cue is an optional identifier line (without "-->"), the
// timing line "HH:MM:SS.mmm --> HH:MM:SS.mmm" (optionally followed by settings), then
// non-blank text lines without "-->"; the same timing rules as SRT.
std::vector<std::string> validate_vtt(std::string_view text, double duration_s,
                                      std::vector<ParsedCue>* cues = nullptr);

// JSON: an object with file (string), duration_s (number >= 0), language, engine, text
// (strings) and segments (array). Each segment: start, end (numbers, 0 <= start <= end <=
// duration, starts never decrease), text (non-empty string), optional words (array of
// {start, end, word} inside the segment, in order, word non-empty), optional speaker
// (string). `text` equals the segment texts joined by spaces.
std::vector<std::string> validate_json(std::string_view text, double duration_s);

// NIST RTTM speaker lines: exactly ten space-separated fields "SPEAKER <file> 1 <start> <dur>
// <NA> <NA> <name> <NA> <NA>", start and dur non-negative decimals, start + dur <= duration,
// lines of one file in time order and not overlapping; the file ends with a newline.
std::vector<std::string> validate_rttm(std::string_view text, double duration_s);

// Word error rate of `hypothesis` against `reference`: (substitutions + deletions +
// insertions) / reference words, on lower-cased words with punctuation dropped.
double word_error_rate(std::string_view reference, std::string_view hypothesis);

// Share of the reference's distinct words that the hypothesis contains (same normalisation).
double word_overlap(std::string_view reference, std::string_view hypothesis);

// Lower-cased words, punctuation other than apostrophes dropped.
std::vector<std::string> normalise_words(std::string_view text);

}  // namespace soroka::test
