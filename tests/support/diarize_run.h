// Diarizes a media file the way the pipeline will: decode, segment, feed a Diarizer; for the
// diarization tests and the bench driver.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "diarize/diarizer.h"
#include "util/result.h"

namespace soroka::test {

struct DiarizeRun {
  std::vector<diarize::Turn> turns;
  double audio_s = 0;
  double diarize_s = 0;  // seconds inside add() and finish() only (the second pass's decoding too)
};

// With `second_pass`, the file is opened again for the diarizer's resegmentation pass (its
// time counts in diarize_s), as the pipeline does for a regular file.
Result<DiarizeRun> diarize_file(const std::string& path, const diarize::Params& params,
                                bool second_pass = true);

// The whole file as 16 kHz mono samples (known-speaker clips); at most `max_s` seconds.
Result<std::vector<std::int16_t>> decode_all(const std::string& path, double max_s = 120);

// NIST RTTM, one line per turn; spaces in names become '_'.
std::string to_rttm(const std::vector<diarize::Turn>& turns, std::string_view file_id);

}  // namespace soroka::test
