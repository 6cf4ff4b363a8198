// Fuzzes parse_job_params (a job's params as stored in the queue) and its to_json round trip.
#include <cmath>

#include "fuzz_check.h"
#include "service/job_params.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace soroka::service;
  auto p = parse_job_params(soroka::fuzz::as_text(data, size));
  if (!p) return 0;
  FUZZ_CHECK(std::isfinite(p->duration_s) && p->duration_s >= 0 && p->duration_s <= 1e9);
  (void)parse_response_format(p->response_format);
  auto again = parse_job_params(to_json(*p));
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->model == p->model && again->language == p->language &&
             again->response_format == p->response_format &&
             again->duration_s == p->duration_s && again->diarize == p->diarize);
  return 0;
}
