// Job sizing: the memory a job reserves (its worker's limit), from its model, its length and peaks seen.
#pragma once

#include <cstdint>
#include <string>

namespace soroka::service {

struct SizingInput {
  std::uint64_t base_bytes = 0;  // a worker of the job's model before any audio: process,
                                 // model, working set (the engine's figure or worker.memory_per_job)
  double duration_s = 0;         // probed at upload; the transcript grows with it
  bool diarize = false;          // the job diarizes: diarize::working_bytes(duration_s) more
  std::uint64_t job_peak = 0;    // the largest peak a run of this job reached (an OOM kill: its limit)
  std::uint64_t model_peak = 0;  // the largest peak a successful run of this model reached here
  std::uint64_t max_bytes = 0;   // worker.max_memory: a cap on any worker; 0: none
  std::uint64_t capacity = 0;    // what the budget can ever give one reservation now
};

struct Sizing {
  std::uint64_t need = 0;  // the reservation and the worker's limit
  bool fits = true;        // false: no worker this service can give would do (need says how much)
};

// Pure. The configured figure (plus the diarizer's working memory when the job diarizes),
// corrected by what runs showed: a job seen to need more gets a
// quarter more than it reached; peaks of earlier runs of its model lower the guess (never below
// what this job itself needed). A job that grew past the capacity through its own peaks gets
// all there is; one that starts out too big does not fit.
Sizing size_job(const SizingInput& in);

}  // namespace soroka::service
