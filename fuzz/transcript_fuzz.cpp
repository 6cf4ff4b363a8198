// Fuzzes parse_transcript (a result file a worker wrote) and rendering it in every format.
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "pipeline/formats.h"
#include "service/job_params.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace soroka::service;
  auto t = parse_transcript(soroka::fuzz::as_text(data, size), "fuzz.json");
  if (!t) return 0;
  for (auto f : {ResponseFormat::json, ResponseFormat::text, ResponseFormat::srt,
                 ResponseFormat::vtt, ResponseFormat::verbose_json, ResponseFormat::diarized_json}) {
    auto r = render(*t, f);
    FUZZ_CHECK(!r.content_type.empty());
  }
  // The CLI's writers that the API does not use, speakers in them.
  std::ostringstream out;
  soroka::pipeline::write_txt(out, *t);
  soroka::pipeline::write_rttm(out, *t);
  // make_cues' documented guarantee, whatever the input.
  std::int64_t prev = 0;
  for (const auto& c : soroka::pipeline::make_cues(*t)) {
    FUZZ_CHECK(c.start_ms >= 0 && c.start_ms < c.end_ms && c.start_ms >= prev);
    FUZZ_CHECK(!c.text.empty());
    prev = c.start_ms;
  }
  return 0;
}
