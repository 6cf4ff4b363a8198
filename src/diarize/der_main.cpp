// soroka-der REF.rttm HYP.rttm [COLLAR]: prints DER and its parts, for the bench and by hand.
#include <cstdio>
#include <filesystem>
#include <string>

#include "diarize/der.h"
#include "util/file_reader.h"
#include "util/parse.h"

namespace {

constexpr std::uintmax_t kMaxRttmBytes = 64u << 20;  // 1M lines of ~60 bytes

soroka::Result<std::vector<soroka::diarize::RttmTurn>> load(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return soroka::fail(path + ": " + ec.message());
  if (size > kMaxRttmBytes) return soroka::fail(path + ": larger than 64 MB");
  auto text = soroka::read_file(path);
  if (!text) return std::unexpected(text.error());
  auto turns = soroka::diarize::parse_rttm(*text);
  if (!turns) return std::unexpected(std::move(turns.error()).with_context(path));
  return turns;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: soroka-der REF.rttm HYP.rttm [COLLAR_S=0.25]\n");
    return 2;
  }
  double collar = 0.25;
  if (argc == 4) {
    auto c = soroka::parse::f64(argv[3]);
    if (!c || *c < 0 || *c > 5) {
      std::fprintf(stderr, "soroka-der: collar must be 0..5 seconds\n");
      return 2;
    }
    collar = *c;
  }
  auto ref = load(argv[1]);
  auto hyp = ref ? load(argv[2]) : ref;
  if (!ref || !hyp) {
    std::fprintf(stderr, "soroka-der: %s\n", (!ref ? ref : hyp).error().message.c_str());
    return 1;
  }
  auto s = soroka::diarize::score_der(*ref, *hyp, collar);
  std::printf("DER %.4f missed %.3f false_alarm %.3f confusion %.3f scored %.3f "
              "ref_speakers %d hyp_speakers %d\n",
              s.der(), s.missed_s, s.false_alarm_s, s.confusion_s, s.scored_s, s.ref_speakers,
              s.hyp_speakers);
  return 0;
}
