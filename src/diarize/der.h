// Diarization error rate: RTTM reading and the NIST-style scorer (missed speech, false alarm
// and speaker confusion over the reference speech, with a collar and an optimal one-to-one
// speaker mapping).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace soroka::diarize {

struct RttmTurn {
  double start_s = 0, dur_s = 0;
  std::string speaker;
};

// SPEAKER lines of an RTTM text (other types and '#' comments are skipped). At most
// kMaxRttmLines lines; a malformed SPEAKER line is an error naming its line number.
inline constexpr std::size_t kMaxRttmLines = 1'000'000;
Result<std::vector<RttmTurn>> parse_rttm(std::string_view text);

struct DerScore {
  double scored_s = 0;  // reference speech outside the collars (speaker-seconds)
  double missed_s = 0, false_alarm_s = 0, confusion_s = 0;
  int ref_speakers = 0, hyp_speakers = 0;
  double der() const { return scored_s > 0 ? (missed_s + false_alarm_s + confusion_s) / scored_s : 0; }
};

// Scores hyp against ref. Time within `collar_s` of any reference turn's start or end is not
// scored. Overlapping speech counts once per speaker.
DerScore score_der(const std::vector<RttmTurn>& ref, const std::vector<RttmTurn>& hyp,
                   double collar_s = 0.25);

// The assignment of rows to columns maximising the summed weight (Hungarian method); rows and
// columns may differ in number; -1 marks a row left without a column.
std::vector<int> max_weight_assignment(const std::vector<std::vector<double>>& weight);

}  // namespace soroka::diarize
