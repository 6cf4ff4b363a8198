// Decode -> segment -> Diarizer, timing only the diarizer's own calls.
#include "support/diarize_run.h"

#include <chrono>
#include <cstdio>

#include "media/decoder.h"
#include "pipeline/input_replay.h"
#include "segment/segmenter.h"

namespace soroka::test {

Result<DiarizeRun> diarize_file(const std::string& path, const diarize::Params& params,
                                bool second_pass) {
  auto dec = media::AudioDecoder::open(path);
  if (!dec) return std::unexpected(dec.error());
  auto dia = diarize::make_diarizer(params);
  if (!dia) return std::unexpected(dia.error());
  DiarizeRun run;
  using clock = std::chrono::steady_clock;
  clock::duration spent{};
  Result<void> status;
  auto sink = [&](segment::Segment&& s) {
    if (!status) return;
    auto t0 = clock::now();
    status = (*dia)->add(s);
    spent += clock::now() - t0;
  };
  segment::Segmenter seg;
  std::vector<std::int16_t> buf(16000);
  for (;;) {
    auto n = dec->read(buf);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    seg.push(std::span(buf.data(), *n), sink);
  }
  seg.finish(sink);
  if (!status) return std::unexpected(status.error());
  auto t0 = clock::now();
  auto again = second_pass ? pipeline::reopen_input(path, media::DecodeLimits{}) : fail("no second pass");
  auto turns = again ? (*dia)->finish_resegmented(**again) : (*dia)->finish();
  spent += clock::now() - t0;
  if (!turns) return std::unexpected(turns.error());
  run.turns = std::move(*turns);
  run.audio_s = dec->position_s();
  run.diarize_s = std::chrono::duration<double>(spent).count();
  return run;
}

Result<std::vector<std::int16_t>> decode_all(const std::string& path, double max_s) {
  auto dec = media::AudioDecoder::open(path);
  if (!dec) return std::unexpected(dec.error());
  std::vector<std::int16_t> out;
  std::vector<std::int16_t> buf(16000);
  while (static_cast<double>(out.size()) < max_s * media::kSampleRate) {
    auto n = dec->read(buf);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  return out;
}

std::string to_rttm(const std::vector<diarize::Turn>& turns, std::string_view file_id) {
  std::string out;
  char line[256];
  for (const auto& t : turns) {
    std::string name = t.name;
    for (auto& c : name)
      if (c == ' ' || c == '\t') c = '_';
    std::snprintf(line, sizeof line, "SPEAKER %.*s 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n",
                  static_cast<int>(file_id.size()), file_id.data(), t.start_s,
                  t.end_s - t.start_s, name.c_str());
    out += line;
  }
  return out;
}

}  // namespace soroka::test
