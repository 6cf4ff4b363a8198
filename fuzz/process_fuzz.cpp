// Fuzzes the /proc/PID parsers: statm, status, smaps_rollup and oom_score_adj, same input to each.
#include "fuzz_check.h"
#include "oomguard/probe/process.h"

using namespace soroka::oomguard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = soroka::fuzz::as_text(data, size);
  for (std::uint64_t page : {std::uint64_t{4096}, std::uint64_t{65536}}) {
    if (auto rss = parse_statm_rss(text, page)) FUZZ_CHECK(*rss % page == 0);
  }
  if (auto st = parse_proc_status(text)) {
    FUZZ_CHECK(st->rss_bytes % 1024 == 0 && st->hwm_bytes % 1024 == 0);
  }
  if (auto sm = parse_smaps_rollup(text)) {
    FUZZ_CHECK(sm->rss_bytes % 1024 == 0 && sm->pss_bytes % 1024 == 0);
  }
  if (auto adj = parse_oom_score_adj(text)) FUZZ_CHECK(*adj >= -1000 && *adj <= 1000);
  return 0;
}
