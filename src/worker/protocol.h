// Decoding of the worker line protocol: what each end makes of one JSON line it reads (pure).
#pragma once

// The protocol (encoding sits with each end: src/cli/worker_cmd.cpp, src/service/scheduler.cpp):
//   to the worker    {"job":ID,"input":PATH,"result":PATH,"language":"en","degrade":0,
//                    "heartbeat_ms":N}, "shed"
//   from the worker  {"ready":true,"rss_bytes":N}  {"job":ID,"progress":0.42}
//                    {"job":ID,"done":true,"peak_bytes":N}
//                    {"job":ID,"error":MSG[,"user_error":true]}  {"error":MSG} (no model)
// Both decoders are fuzzed (fuzz/worker_request_fuzz.cpp, fuzz/worker_message_fuzz.cpp): a
// malformed line is an error value or is ignored, never an exception.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace soroka::worker {

// A job line the service sends to `soroka worker`.
// Without heartbeat_ms in the request: often enough for the service's default stall timeout
// (2 min) to see four lines in it even if one is late.
inline constexpr std::chrono::milliseconds kDefaultHeartbeat{10000};

struct JobRequest {
  std::string id, input, result, language = "en";
  int degrade = 0;  // 0.. : cheaper settings after OOM kills; out-of-int values are refused
  // How often the worker repeats its progress line while it works (a positive integer).
  std::chrono::milliseconds heartbeat = kDefaultHeartbeat;
};
// EPROTO unless an object with string fields job, input, result (and language if present).
Result<JobRequest> decode_job_request(std::string_view line);

// A line `soroka worker` writes, as the service reads it; fields the line lacks, or that
// have the wrong type, stay at their defaults.
struct WorkerMessage {
  bool has_job = false;             // the line names a job (a failure to load a model does not)
  std::optional<double> progress;   // finite, as sent
  std::optional<std::string> error;
  bool user_error = false;  // only with error: the input cannot be transcribed
  bool done = false;
  std::uint64_t peak_bytes = 0;
};
// nullopt when the line is not a JSON object.
std::optional<WorkerMessage> decode_worker_message(std::string_view line);

}  // namespace soroka::worker
