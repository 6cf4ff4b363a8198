// soroka-diarize-run IN [OUT.rttm] [--speakers N] [--one-pass]: decodes, segments and
// diarizes one file, as the pipeline will (with the resegmentation pass unless --one-pass);
// prints audio and diarization seconds. For bench/diarize.sh (peak RSS under /usr/bin/time,
// speed, DER with soroka-der).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "support/diarize_run.h"
#include "util/parse.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: soroka-diarize-run IN [OUT.rttm] [--speakers N] [--one-pass]\n");
    return 2;
  }
  soroka::diarize::Params p;
  std::string out;
  bool second_pass = true;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--one-pass") == 0) {
      second_pass = false;
    } else if (std::strcmp(argv[i], "--speakers") == 0 && i + 1 < argc) {
      auto n = soroka::parse::u64(argv[++i]);
      p.speakers = n ? static_cast<int>(*n) : -1;
    } else {
      out = argv[i];
    }
  }
  auto run = soroka::test::diarize_file(argv[1], p, second_pass);
  if (!run) {
    std::fprintf(stderr, "soroka-diarize-run: %s\n", run.error().message.c_str());
    return 1;
  }
  if (!out.empty()) std::ofstream(out) << soroka::test::to_rttm(run->turns, "x");
  int speakers = 0;
  for (const auto& t : run->turns) speakers = std::max(speakers, t.speaker + 1);
  std::printf("audio_s %.2f diarize_s %.3f turns %zu speakers %d\n", run->audio_s,
              run->diarize_s, run->turns.size(), speakers);
  return 0;
}
