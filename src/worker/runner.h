// The worker process's loop: load the model, sandbox, then run jobs from stdin until its end.
#pragma once

// `soroka worker` (cli/worker_cmd.cpp) is this and its flags. The conversation with the
// service is worker/protocol.h; a worker runs one job at a time, reading its stdin on its one
// thread between jobs and, during a job, from the pipeline's progress callback (so a "shed"
// is acted on within about a second of audio, and no thread outlives the loop).
//
// What a job ends with decides what the worker does next: a failure that is the input's or
// the request's (FailureKind: is_user_error) is reported with its kind and the worker takes
// the next job; its own failure (internal, storage) is reported and the worker exits
// kExitFailure, so the service retries the job in a fresh worker. A model that cannot be
// loaded is reported once ({"error","kind"}) before any job: kExitInputError when no worker
// could load it (an unknown model, simulation off), kExitFailure otherwise.

#include <unistd.h>

#include <chrono>
#include <string>

#include "config/settings.h"
#include "engine/factory.h"
#include "pipeline/speakers.h"

namespace soroka::worker {

struct RunnerParams {
  std::string model{engine::kDefaultModel};  // a name engine::make_engine knows
  Settings settings;  // engine.model_dir, engine.simulation, log_level
  // Both or neither: sandbox the worker once its model is loaded, so that it reads inputs only
  // in the first dir (and the model dir) and writes results only in the second.
  std::string sandbox_input, sandbox_results;
  bool sandbox_network = false;  // a remote engine's worker: SandboxParams::network
  // The first line on in_fd is the engine's settings (protocol.h, encode_engine), put in
  // settings.engine.remote before the model loads: a remote engine's worker.
  bool engine_on_input = false;
  int in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO;
  // Makes the diarizer of a job that asks for one (tests inject a fake).
  pipeline::DiarizerMaker make_diarizer = diarize::make_diarizer;
};

// Runs the worker until end of input or its own failure; returns the exit code (protocol.h).
int run_worker(const RunnerParams& p);

// Whether a progress line is due now (pure): 2 % more done than the last line said (about 50
// lines a job), the end, or a heartbeat since the last line (while a long segment is
// recognised, the same fraction again: silence would look stuck to the service).
bool progress_due(double last_sent, double fraction, std::chrono::steady_clock::duration since_last,
                  std::chrono::milliseconds heartbeat);

}  // namespace soroka::worker
