// Job sizing: the memory a job reserves (its worker's limit), from its model, its length and peaks seen.
#include "service/job_sizing.h"

#include <algorithm>

#include "diarize/diarizer.h"
#include "pipeline/pipeline.h"
#include "util/units.h"

namespace soroka::service {

namespace {
// A learned peak is a floor of the next guess with half again on top; never below this, the
// size of a worker process with FFmpeg and pocketsphinx mapped and nothing loaded.
constexpr std::uint64_t kMinWorkerBytes = 64 * kMiB;
}  // namespace

Sizing size_job(const SizingInput& in) {
  std::uint64_t need = in.base_bytes + pipeline::transcript_bytes(in.duration_s);
  if (in.model_peak > 0 && in.job_peak == 0)
    need = std::min(need, std::max(in.model_peak + in.model_peak / 2, kMinWorkerBytes));
  // Added after the model's peaks lowered the guess: those may come from runs that did not
  // diarize. This job's own peak (next) includes its diarizer already.
  if (in.diarize) need += diarize::working_bytes(in.duration_s);
  if (in.job_peak > 0) need = std::max(need, in.job_peak + in.job_peak / 4);
  if (in.max_bytes > 0) need = std::min(need, in.max_bytes);
  if (need <= in.capacity) return {need, true};
  if (in.job_peak > 0 && in.capacity > 0) return {in.capacity, true};  // grown by its peaks
  return {need, false};
}

}  // namespace soroka::service
