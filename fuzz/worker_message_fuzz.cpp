// Fuzzes decode_worker_message (a line the service reads from a worker's stdout).
#include <cmath>

#include "fuzz_check.h"
#include "worker/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = soroka::worker::decode_worker_message(soroka::fuzz::as_text(data, size));
  if (!m) return 0;
  if (m->progress) FUZZ_CHECK(std::isfinite(*m->progress));
  if (m->kind != soroka::FailureKind::none) FUZZ_CHECK(m->error.has_value());
  return 0;
}
