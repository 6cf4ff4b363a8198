// Fuzzes what `soroka worker` reads on stdin: decode_job_request (a job line) and decode_engine
// (the engine line), and re-decoding their encodings.
#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "worker/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (auto e = soroka::worker::decode_engine(soroka::fuzz::as_text(data, size))) {
    FUZZ_CHECK(soroka::worker::decode_engine(soroka::worker::encode_engine(*e)).has_value());
  } else {
    FUZZ_CHECK(e.error().code == EPROTO);
  }
  auto r = soroka::worker::decode_job_request(soroka::fuzz::as_text(data, size));
  if (!r) {
    FUZZ_CHECK(r.error().code == EPROTO);
    return 0;
  }
  FUZZ_CHECK(r->degrade >= 0);
  // The scheduler's encoding of the same request decodes to it again.
  nlohmann::json j = {{"job", r->id},
                      {"input", r->input},
                      {"result", r->result},
                      {"language", r->language},
                      {"degrade", r->degrade}};
  // Invalid UTF-8 in a string cannot be re-encoded (dump throws): replace it, as a sender must.
  auto again = soroka::worker::decode_job_request(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->degrade == r->degrade);
  return 0;
}
