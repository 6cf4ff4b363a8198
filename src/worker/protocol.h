// The worker line protocol, both ends: message types, their encoding and decoding, exit codes.
#pragma once

// One JSON object a line on the worker's stdin and stdout (the service's end is
// service/scheduler.cpp, the worker's worker/runner.cpp; both use only what is here):
//   to the worker    {"engine":{...}}       first, only to a worker started with --engine-on-stdin:
//                                           the remote engine's settings from the service's
//                                           snapshot (api_key too: never in argv or logs)
//                    {"job":ID,"input":PATH,"result":PATH,"language":"en","degrade":0,
//                     "heartbeat_ms":N,"duration_s":S,
//                     "diarize":{"speakers":N,"min_speakers":N,"max_speakers":N,
//                                "known":[{"name":S,"clip":PATH}]}}   run a job
//                    shed                                     memory is critical: drop caches
//                    end of input                             exit 0
//   from the worker  {"ready":true,"rss_bytes":N,"sandbox":{...}}   model loaded, sandbox on
//                    {"job":ID,"progress":0.42}                     also the heartbeat
//                    {"job":ID,"done":true,"peak_bytes":N}          result written, durable
//                    {"job":ID,"error":MSG,"kind":K}                the job failed (K: FailureKind)
//                    {"error":MSG,"kind":K}                         no model: exits kExitInputError
//                                                                   or kExitFailure
// Both decoders are fuzzed (fuzz/worker_request_fuzz.cpp, fuzz/worker_message_fuzz.cpp): a
// malformed line is an error value or is ignored, never an exception.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/remote_engines.h"
#include "pipeline/speaker_request.h"
#include "util/failure_kind.h"
#include "util/result.h"

namespace soroka::worker {

// Exit codes of `soroka worker`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // its own failure: the job is retried in a new worker
inline constexpr int kExitInputError = 3;  // the job cannot be done (input, model choice): not retried

// The line that asks a worker to give back its caches (memory is critical).
inline constexpr std::string_view kShedLine = "shed";

// Without heartbeat_ms in the request: often enough for the service's default stall timeout
// (2 min) to see four lines in it even if one is late.
inline constexpr std::chrono::milliseconds kDefaultHeartbeat{10000};

// Diarization as a job asks for it (pipeline::SpeakerRequest, each known clip a file beside the
// job's input, in the uploads dir): the same object in the job's stored params and in its job
// line, "known":[{"name":S,"clip":PATH}]. Counts are as the user gave them (0: not given); the
// worker checks them (pipeline::speaker_params) and decodes the clips, never the service.
nlohmann::json to_json(const pipeline::SpeakerRequest& d);
// EPROTO unless an object whose counts are integers in 0..1000 and whose known (at most 16)
// are objects with string name and clip.
Result<pipeline::SpeakerRequest> diarize_from_json(const nlohmann::json& j);

// A job line the service sends to `soroka worker`.
struct JobRequest {
  std::string id, input, result, language = "en";
  int degrade = 0;  // 0.. : cheaper settings after OOM kills; out-of-int values are refused
  // How often the worker repeats its progress line while it works (a positive integer).
  std::chrono::milliseconds heartbeat = kDefaultHeartbeat;
  // The input's duration as the service's probe found it; 0: unknown (the worker probes).
  double duration_s = 0;
  std::optional<pipeline::SpeakerRequest> diarize;  // present: run the diarization stage
};
std::string encode(const JobRequest& r);
// EPROTO unless an object with string fields job, input, result (and language if present),
// and a well-formed diarize if present.
Result<JobRequest> decode_job_request(std::string_view line);

// The engine line: a remote engine's settings as the service holds them now, so a worker runs
// the snapshot the service admitted its job with, not a config file edited since.
std::string encode_engine(const RemoteEngineSettings& e);
// EPROTO unless {"engine":{...}} with every field of the right type (absent ones keep their
// defaults). The message never quotes the line: it carries the engine's key.
Result<RemoteEngineSettings> decode_engine(std::string_view line);

// A line `soroka worker` writes, as the service reads it; fields the line lacks, or that
// have the wrong type, stay at their defaults.
struct WorkerMessage {
  bool ready = false;               // the model is loaded
  std::uint64_t rss_bytes = 0;      // with ready
  bool has_job = false;             // the line names a job (a failure to load a model does not)
  std::optional<double> progress;   // finite, as sent
  std::optional<std::string> error;
  FailureKind kind = FailureKind::none;  // with error; unknown kinds read as worker_failed
  bool done = false;
  std::uint64_t peak_bytes = 0;
};
// nullopt when the line is not a JSON object.
std::optional<WorkerMessage> decode_worker_message(std::string_view line);

// The worker's lines. `sandbox_json` is a JSON object (what the sandbox applied), copied as is.
std::string encode_ready(std::uint64_t rss_bytes, std::string_view sandbox_json);
std::string encode_progress(std::string_view job, double fraction);
std::string encode_done(std::string_view job, std::uint64_t peak_bytes);
std::string encode_job_error(std::string_view job, std::string_view message, FailureKind kind);
std::string encode_load_error(std::string_view message, FailureKind kind);

}  // namespace soroka::worker
