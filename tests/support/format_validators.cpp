// Validators for transcript output: line-level parsers of SRT and WebVTT, a JSON schema check,
// and WER / word overlap for recognition tests.
#include "support/format_validators.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace soroka::test {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    lines.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return lines;
}

std::optional<std::int64_t> digits(std::string_view s, std::size_t min_len, std::size_t max_len) {
  if (s.size() < min_len || s.size() > max_len) return std::nullopt;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string ts(std::int64_t ms) {
  return fmt::format("{:02}:{:02}:{:02}.{:03}", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
                     ms % 1000);
}

// Parses "A --> B[ settings]"; settings only when allowed (WebVTT).
bool parse_timing(std::string_view line, char sep, bool vtt, std::int64_t& a, std::int64_t& b) {
  auto arrow = line.find(" --> ");
  if (arrow == std::string_view::npos) return false;
  auto left = line.substr(0, arrow);
  auto right = line.substr(arrow + 5);
  if (vtt) {
    auto sp = right.find_first_of(" \t");
    if (sp != std::string_view::npos) right = right.substr(0, sp);
  }
  auto pa = parse_timestamp(left, sep, vtt);
  auto pb = parse_timestamp(right, sep, vtt);
  if (!pa || !pb) return false;
  a = *pa;
  b = *pb;
  return true;
}

bool blank(std::string_view l) { return l.find_first_not_of(" \t\r") == std::string_view::npos; }

// Timing rules shared by SRT and WebVTT.
void check_timing(std::vector<std::string>& errors, std::size_t n, std::int64_t start,
                  std::int64_t end, std::int64_t& prev_start, double duration_s) {
  if (start >= end)
    errors.push_back(fmt::format("cue {}: start {} is not before end {}", n, ts(start), ts(end)));
  if (start < prev_start)
    errors.push_back(fmt::format("cue {}: start {} is before the previous cue's start {}", n,
                                 ts(start), ts(prev_start)));
  if (duration_s >= 0 && static_cast<double>(end) > duration_s * 1000.0 + 0.5)
    errors.push_back(fmt::format("cue {}: end {} is after the end of the audio ({:.3f} s)", n,
                                 ts(end), duration_s));
  prev_start = start;
}

}  // namespace

std::optional<std::int64_t> parse_timestamp(std::string_view s, char sep, bool allow_short) {
  auto dot = s.rfind(sep);
  if (dot == std::string_view::npos) return std::nullopt;
  auto ms = digits(s.substr(dot + 1), 3, 3);
  std::vector<std::string_view> parts;
  std::string_view hms = s.substr(0, dot);
  for (std::size_t i = 0;;) {
    auto j = hms.find(':', i);
    parts.push_back(hms.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  if (!ms) return std::nullopt;
  std::int64_t h = 0, m = 0, sec = 0;
  if (parts.size() == 3) {
    auto ph = digits(parts[0], 2, 9);
    auto pm = digits(parts[1], 2, 2);
    auto ps = digits(parts[2], 2, 2);
    if (!ph || !pm || !ps) return std::nullopt;
    h = *ph, m = *pm, sec = *ps;
  } else if (parts.size() == 2 && allow_short) {
    auto pm = digits(parts[0], 2, 2);
    auto ps = digits(parts[1], 2, 2);
    if (!pm || !ps) return std::nullopt;
    m = *pm, sec = *ps;
  } else {
    return std::nullopt;
  }
  if (m > 59 || sec > 59) return std::nullopt;
  return ((h * 60 + m) * 60 + sec) * 1000 + *ms;
}

std::vector<std::string> validate_srt(std::string_view text, double duration_s,
                                      std::vector<ParsedCue>* cues) {
  std::vector<std::string> errors;
  if (text.empty()) return errors;  // no cues at all
  if (text.back() != '\n') errors.push_back("the file does not end with a newline");
  if (text.find('\r') != std::string_view::npos) errors.push_back("carriage return in output");
  auto lines = split_lines(text);
  std::size_t i = 0, n = 0;
  std::int64_t prev_start = 0;
  while (i < lines.size()) {
    ++n;
    if (n > 1) {
      if (!blank(lines[i])) {
        errors.push_back(fmt::format("line {}: cue {} is not preceded by a blank line", i + 1, n));
      } else {
        ++i;
        if (i < lines.size() && blank(lines[i])) {
          errors.push_back(fmt::format("line {}: more than one blank line between cues", i + 1));
          while (i < lines.size() && blank(lines[i])) ++i;
        }
      }
      if (i >= lines.size()) {
        errors.push_back("blank line at the end of the file");
        break;
      }
    }
    auto index = digits(lines[i], 1, 9);
    if (!index || *index != static_cast<std::int64_t>(n))
      errors.push_back(fmt::format("line {}: expected cue number {}, got '{}'", i + 1, n, lines[i]));
    ++i;
    std::int64_t a = 0, b = 0;
    if (i >= lines.size() || !parse_timing(lines[i], ',', false, a, b)) {
      errors.push_back(fmt::format("line {}: cue {}: bad timing line '{}'", i + 1, n,
                                   i < lines.size() ? lines[i] : ""));
      while (i < lines.size() && !blank(lines[i])) ++i;
      continue;
    }
    ++i;
    check_timing(errors, n, a, b, prev_start, duration_s);
    ParsedCue cue{a, b, {}};
    std::size_t text_lines = 0;
    while (i < lines.size() && !blank(lines[i])) {
      if (lines[i].find("-->") != std::string_view::npos)
        errors.push_back(fmt::format("line {}: cue {}: '-->' in text", i + 1, n));
      if (text_lines++ > 0) cue.text += '\n';
      cue.text += lines[i];
      ++i;
    }
    if (text_lines == 0) errors.push_back(fmt::format("cue {}: no text", n));
    if (cues) cues->push_back(std::move(cue));
  }
  return errors;
}

std::vector<std::string> validate_vtt(std::string_view text, double duration_s,
                                      std::vector<ParsedCue>* cues) {
  std::vector<std::string> errors;
  auto lines = split_lines(text);
  if (lines.empty() || !(lines[0] == "WEBVTT" || lines[0].starts_with("WEBVTT ") ||
                         lines[0].starts_with("WEBVTT\t"))) {
    errors.push_back("the first line is not 'WEBVTT'");
    return errors;
  }
  if (text.back() != '\n') errors.push_back("the file does not end with a newline");
  std::size_t i = 1, n = 0;
  std::int64_t prev_start = 0;
  while (i < lines.size()) {
    if (!blank(lines[i])) {
      errors.push_back(fmt::format("line {}: a cue must follow a blank line", i + 1));
      while (i < lines.size() && !blank(lines[i])) ++i;
      continue;
    }
    while (i < lines.size() && blank(lines[i])) ++i;
    if (i >= lines.size()) break;
    ++n;
    std::int64_t a = 0, b = 0;
    if (!parse_timing(lines[i], '.', true, a, b)) {
      // An identifier line, then the timing line.
      if (lines[i].find("-->") != std::string_view::npos || i + 1 >= lines.size() ||
          !parse_timing(lines[i + 1], '.', true, a, b)) {
        errors.push_back(fmt::format("line {}: cue {}: bad timing line '{}'", i + 1, n, lines[i]));
        while (i < lines.size() && !blank(lines[i])) ++i;
        continue;
      }
      ++i;
    }
    ++i;
    check_timing(errors, n, a, b, prev_start, duration_s);
    ParsedCue cue{a, b, {}};
    std::size_t text_lines = 0;
    while (i < lines.size() && !blank(lines[i])) {
      if (lines[i].find("-->") != std::string_view::npos)
        errors.push_back(fmt::format("line {}: cue {}: '-->' in text", i + 1, n));
      if (text_lines++ > 0) cue.text += '\n';
      cue.text += lines[i];
      ++i;
    }
    if (text_lines == 0) errors.push_back(fmt::format("cue {}: no text", n));
    if (cues) cues->push_back(std::move(cue));
  }
  return errors;
}

std::vector<std::string> validate_json(std::string_view text, double duration_s) {
  std::vector<std::string> errors;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    errors.push_back(std::string("not JSON: ") + e.what());
    return errors;
  }
  if (!j.is_object()) return {"the document is not an object"};
  for (const char* key : {"file", "language", "engine", "text"})
    if (!j.contains(key) || !j[key].is_string()) errors.push_back(fmt::format("'{}' is not a string", key));
  if (!j.contains("duration_s") || !j["duration_s"].is_number() || j["duration_s"].get<double>() < 0)
    errors.push_back("'duration_s' is not a number >= 0");
  if (!j.contains("segments") || !j["segments"].is_array()) {
    errors.push_back("'segments' is not an array");
    return errors;
  }
  double dur = duration_s >= 0 ? duration_s
               : j["duration_s"].is_number() ? j["duration_s"].get<double>()
                                             : -1;
  constexpr double kEps = 0.0005;  // times are rounded to the millisecond
  double prev_start = 0;
  std::string joined;
  std::size_t n = 0;
  for (const auto& s : j["segments"]) {
    ++n;
    if (!s.is_object()) {
      errors.push_back(fmt::format("segment {}: not an object", n));
      continue;
    }
    if (!s.contains("start") || !s["start"].is_number() || !s.contains("end") || !s["end"].is_number()) {
      errors.push_back(fmt::format("segment {}: 'start'/'end' missing or not numbers", n));
      continue;
    }
    double a = s["start"].get<double>(), b = s["end"].get<double>();
    if (a < 0 || a > b) errors.push_back(fmt::format("segment {}: start {} end {}", n, a, b));
    if (a + kEps < prev_start)
      errors.push_back(fmt::format("segment {}: start {} before the previous start {}", n, a, prev_start));
    if (dur >= 0 && b > dur + kEps)
      errors.push_back(fmt::format("segment {}: end {} after the duration {}", n, b, dur));
    prev_start = a;
    if (!s.contains("text") || !s["text"].is_string() || s["text"].get<std::string>().empty()) {
      errors.push_back(fmt::format("segment {}: 'text' missing or empty", n));
    } else {
      if (!joined.empty()) joined += ' ';
      joined += s["text"].get<std::string>();
    }
    if (s.contains("speaker") && !s["speaker"].is_string())
      errors.push_back(fmt::format("segment {}: 'speaker' is not a string", n));
    if (!s.contains("words")) continue;
    if (!s["words"].is_array()) {
      errors.push_back(fmt::format("segment {}: 'words' is not an array", n));
      continue;
    }
    double prev_word = a;
    std::size_t k = 0;
    for (const auto& w : s["words"]) {
      ++k;
      if (!w.is_object() || !w.contains("start") || !w["start"].is_number() || !w.contains("end") ||
          !w["end"].is_number() || !w.contains("word") || !w["word"].is_string() ||
          w["word"].get<std::string>().empty()) {
        errors.push_back(fmt::format("segment {} word {}: needs start, end and a non-empty word", n, k));
        continue;
      }
      double ws = w["start"].get<double>(), we = w["end"].get<double>();
      if (ws > we || ws + kEps < prev_word || ws + kEps < a || we > b + kEps)
        errors.push_back(fmt::format("segment {} word {}: {}..{} outside {}..{} or out of order", n,
                                     k, ws, we, a, b));
      prev_word = ws;
    }
  }
  if (j["text"].is_string() && j["text"].get<std::string>() != joined)
    errors.push_back("'text' is not the segment texts joined by spaces");
  return errors;
}

std::vector<std::string> normalise_words(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '\'') {
      cur += static_cast<char>(std::tolower(c));
    } else if (std::isspace(c) || c == '-') {
      if (!cur.empty()) words.push_back(std::exchange(cur, {}));
    }
  }
  if (!cur.empty()) words.push_back(cur);
  return words;
}

std::vector<std::string> validate_rttm(std::string_view text, double duration_s) {
  std::vector<std::string> errors;
  if (text.empty()) return errors;
  if (text.back() != '\n') errors.push_back("the file does not end with a newline");
  std::map<std::string, double> last_end;
  std::size_t n = 0;
  for (auto line : split_lines(text)) {
    ++n;
    std::vector<std::string_view> f;
    for (std::size_t i = 0; i <= line.size();) {
      auto j = line.find(' ', i);
      if (j == std::string_view::npos) j = line.size();
      f.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    if (f.size() != 10) {
      errors.push_back(fmt::format("line {}: {} fields, not 10", n, f.size()));
      continue;
    }
    if (f[0] != "SPEAKER" || f[2] != "1" || f[5] != "<NA>" || f[6] != "<NA>" || f[8] != "<NA>" ||
        f[9] != "<NA>" || f[1].empty() || f[7].empty())
      errors.push_back(fmt::format("line {}: not a SPEAKER line: {}", n, line));
    double start = -1, dur = -1;
    std::from_chars(f[3].data(), f[3].data() + f[3].size(), start);
    std::from_chars(f[4].data(), f[4].data() + f[4].size(), dur);
    if (start < 0 || dur < 0) errors.push_back(fmt::format("line {}: bad start or duration", n));
    if (duration_s >= 0 && start + dur > duration_s + 0.0005)
      errors.push_back(fmt::format("line {}: ends after the audio ({:.3f} s)", n, duration_s));
    auto& prev = last_end.try_emplace(std::string(f[1]), 0.0).first->second;
    if (start + 0.0005 < prev) errors.push_back(fmt::format("line {}: starts before the previous turn ends", n));
    prev = start + dur;
  }
  return errors;
}

double word_error_rate(std::string_view reference, std::string_view hypothesis) {
  auto r = normalise_words(reference);
  auto h = normalise_words(hypothesis);
  if (r.empty()) return h.empty() ? 0.0 : 1.0;
  // Levenshtein distance over words, one row at a time.
  std::vector<std::size_t> prev(h.size() + 1), cur(h.size() + 1);
  for (std::size_t j = 0; j <= h.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= r.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= h.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] == h[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return static_cast<double>(prev[h.size()]) / static_cast<double>(r.size());
}

double word_overlap(std::string_view reference, std::string_view hypothesis) {
  auto r = normalise_words(reference);
  auto h = normalise_words(hypothesis);
  std::set<std::string> ref(r.begin(), r.end()), hyp(h.begin(), h.end());
  if (ref.empty()) return 1.0;
  std::size_t hit = 0;
  for (const auto& w : ref) hit += hyp.count(w);
  return static_cast<double>(hit) / static_cast<double>(ref.size());
}

}  // namespace soroka::test
