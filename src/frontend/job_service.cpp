// JobService: what every front end (HTTP, the Telegram bot, later the CLI) does with jobs:
// submit a received file, watch a job, cancel it, read its result; owners are checked here.
#include "frontend/job_service.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pipeline/speaker_options.h"
#include "util/text.h"

namespace soroka::frontend {

namespace {

using jobs::JobState;
// Refusals that pass when the moment does (queue, memory, a store hiccup) say when to retry.
constexpr int kRetryAfterS = 5;
// watch(): a finished job wakes it at once (wait_any_finished); progress is not signalled, so
// it is looked at this often. A bot edits its message every few seconds at most.
constexpr std::chrono::milliseconds kWatchTick{200};

// The metrics counter of a refusal (those before a file is taken that were never counted: none).
std::optional<service::Rejection> rejection_of(Refusal r) {
  using service::Rejection;
  switch (r) {
    case Refusal::memory_critical:
    case Refusal::probe_failed:
    case Refusal::store_unavailable:
      return Rejection::memory;
    case Refusal::queue_full:
    case Refusal::rate_limited:
    case Refusal::quota_exceeded:
      return Rejection::queue_full;
    case Refusal::invalid_input:
      return Rejection::bad_media;
    case Refusal::unsupported_media:
      return Rejection::unsupported_media;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string_view to_string(Refusal r) noexcept {
  switch (r) {
    case Refusal::shutting_down:
      return "shutting_down";
    case Refusal::memory_critical:
      return "memory_critical";
    case Refusal::degraded:
      return "degraded";
    case Refusal::queue_full:
      return "queue_full";
    case Refusal::rate_limited:
      return "rate_limited";
    case Refusal::quota_exceeded:
      return "quota_exceeded";
    case Refusal::invalid_input:
      return "invalid_input";
    case Refusal::unsupported_media:
      return "unsupported_media";
    case Refusal::probe_failed:
      return "probe_failed";
    case Refusal::store_unavailable:
      return "store_unavailable";
    case Refusal::not_found:
      return "not_found";
    case Refusal::not_finished:
      return "not_finished";
    case Refusal::result_lost:
      return "result_lost";
  }
  return "store_unavailable";
}

Quotas quotas_from(const Settings& s) {
  Quotas q;
  q.max_queue = s.service.max_queue;
  q.max_attempts =
      static_cast<std::int32_t>(std::clamp<std::uint64_t>(s.service.max_attempts, 1, 100));
  q.max_jobs = s.service.key_max_jobs;
  q.submissions_per_minute = s.service.key_submissions_per_minute;
  q.max_stored_bytes = s.service.key_max_stored;
  q.max_running = s.service.max_running_per_owner;
  return q;
}

JobService::JobService(JobServiceContext ctx) : ctx_(std::move(ctx)) {}

Refused JobService::refuse(Refusal r, std::string message, int retry_after_s) {
  if (auto counted = rejection_of(r); counted && ctx_.metrics) ctx_.metrics->reject(*counted);
  return Refused{r, std::move(message), retry_after_s};
}

bool JobService::owns(const Caller& caller, const jobs::Job& job) const {
  return caller.sees_all || job.spec.submitter == caller.submitter;
}

std::optional<Refused> JobService::admit(const Quotas& q) {
  const Conditions& c = ctx_.conditions;
  if (c.accepting && !c.accepting())
    return refuse(Refusal::shutting_down, "the service is shutting down", kRetryAfterS);
  if (c.level && c.level() == oomguard::Level::critical)
    return refuse(Refusal::memory_critical, "memory is critically low; retry later", kRetryAfterS);
  if (auto issue = c.issue ? c.issue() : std::nullopt)
    return refuse(Refusal::degraded, "the service is degraded (" + *issue + "); retry later",
                  kRetryAfterS);
  if (auto n = ctx_.store.queue_length();
      n && q.max_queue > 0 && static_cast<std::uint64_t>(*n) >= q.max_queue)
    return refuse(Refusal::queue_full, fmt::format("the queue is full ({} jobs waiting)", *n),
                  kRetryAfterS);
  return std::nullopt;
}

// The file must be readable media before it costs a queue slot; FFmpeg reads it in a child
// of its own, never here. Returns its duration.
namespace {
// A file the probe child refused: a format we do not read (415), or damaged media (400).
Refusal refusal_of(const service::ProbeOutcome& p) {
  return p.kind == FailureKind::unsupported_media ? Refusal::unsupported_media : Refusal::invalid_input;
}
}  // namespace

Outcome<double> JobService::probe(const ReceivedFile& f) {
  const auto start = std::chrono::steady_clock::now();
  auto p = ctx_.probe(f.path);
  spdlog::debug("event=probed file=\"{}\" ms={}", log_escape(f.original_name),
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count());
  if (!p) {
    spdlog::warn("event=probe_failed file=\"{}\" error=\"{}\"", log_escape(f.original_name),
                 log_escape(p.error().message));
    return std::unexpected(
        refuse(Refusal::probe_failed, "the file could not be examined; retry later", kRetryAfterS));
  }
  if (!p->ok) {
    spdlog::info("event=upload_refused file=\"{}\" reason=\"{}\"", log_escape(f.original_name),
                 log_escape(p->message));
    return std::unexpected(refuse(refusal_of(*p), f.original_name + ": " + p->message));
  }
  return p->duration_s;
}

// Each known voice's clip is an upload too: probed in the child like the file, and refused
// here (not in the worker, after the job waited its turn) when it is no media or its length
// is out of range. A length the container does not give (0) is checked when decoded.
Outcome<void> JobService::probe_clips(const service::JobParams& params) {
  if (!params.diarize) return {};
  for (const auto& k : params.diarize->known) {
    const std::string who = log_escape(k.name, 32);
    auto p = ctx_.probe(k.path);
    if (!p)
      return std::unexpected(
          refuse(Refusal::probe_failed, "a speaker's clip could not be examined; retry later", kRetryAfterS));
    if (!p->ok)
      return std::unexpected(refuse(refusal_of(*p), fmt::format("the clip of '{}': {}", who, p->message)));
    if (p->duration_s > 0)
      if (auto why = pipeline::clip_length_problem(p->duration_s); !why.empty())
        return std::unexpected(refuse(Refusal::invalid_input, fmt::format("the clip of '{}': {}", who, why)));
  }
  return {};
}

Outcome<std::string> JobService::store_job(const Caller& caller, const Submission& s,
                                           const Quotas& q) {
  jobs::JobSpec spec;
  spec.params = service::to_json(s.params);
  spec.submitter = caller.submitter;
  spec.dedup_key = s.dedup_key;
  spec.input_path = s.file.path;
  spec.original_name = s.file.original_name;
  spec.size_bytes = s.file.size_bytes;
  spec.max_attempts = std::max<std::int32_t>(1, q.max_attempts);
  spec.max_queued = static_cast<std::int64_t>(q.max_queue);
  spec.max_active_by_submitter = static_cast<std::int64_t>(q.max_jobs);
  spec.max_bytes_by_submitter = q.max_stored_bytes;
  if (!caller.sees_all)
    spec.max_running_per_owner = static_cast<std::int32_t>(std::min<std::uint64_t>(q.max_running, 1'000'000));
  auto id = ctx_.store.submit(spec);
  if (id) return std::move(*id);
  const int code = id.error().code;
  if (code == jobs::kQueueFull)
    return std::unexpected(refuse(Refusal::queue_full, id.error().message, kRetryAfterS));
  if (code == jobs::kSubmitterQuota)
    return std::unexpected(refuse(Refusal::quota_exceeded, id.error().message, 30));
  spdlog::error("event=submit_failed error=\"{}\"", log_escape(id.error().message));
  return std::unexpected(
      refuse(Refusal::store_unavailable, "the job could not be stored; retry later", kRetryAfterS));
}

Outcome<Submitted> JobService::submit(const Caller& caller, Submission s, const Quotas& q) {
  if (!rate_.allow(caller.submitter, q.submissions_per_minute)) {
    const int wait =
        static_cast<int>(60 / std::max<std::uint64_t>(1, q.submissions_per_minute)) + 1;
    return std::unexpected(refuse(
        Refusal::rate_limited,
        fmt::format("more than {} submissions a minute; slow down", q.submissions_per_minute),
        wait));
  }
  auto duration = probe(s.file);
  if (!duration) return std::unexpected(duration.error());
  s.params.duration_s = *duration;
  if (auto clips = probe_clips(s.params); !clips) return std::unexpected(clips.error());
  auto id = store_job(caller, s, q);
  if (!id) return std::unexpected(id.error());
  spdlog::info(
      "event=job_queued job={} file=\"{}\" bytes={} duration_s={:.1f} model=\"{}\" "
      "submitter=\"{}\"",
      *id, log_escape(s.file.original_name), s.file.size_bytes, *duration,
      log_escape(s.params.model, 64), log_escape(caller.submitter, 64));
  ctx_.runner.wake();
  return Submitted{std::move(*id), *duration};
}

Outcome<JobView> JobService::get(const std::string& id, const Caller& caller) {
  auto job = ctx_.store.get(id);
  if (job && owns(caller, *job)) {
    JobView v{std::move(*job), false};
    v.waiting_for_memory = v.job.state == JobState::running && ctx_.runner.waiting_for_memory(id);
    if (v.job.state == JobState::queued)
      if (auto p = ctx_.store.queue_position(id); p) v.place = *p;  // unread: shown as no place
    return v;
  }
  if (!job && job.error().code != ENOENT)
    return std::unexpected(
        Refused{Refusal::store_unavailable, "the job store cannot be read", kRetryAfterS});
  return std::unexpected(
      Refused{Refusal::not_found, "no job " + id, 0});  // not yours is no different from none
}

Outcome<JobView> JobService::watch(const std::string& id, const Caller& caller, JobState state,
                                   double progress, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto v = get(id, caller);
    const auto now = std::chrono::steady_clock::now();
    // A store hiccup is not an answer while time remains: look again.
    if (!v && (v.error().reason != Refusal::store_unavailable || now >= deadline)) return v;
    if (v && (jobs::is_terminal(v->job.state) || v->job.state != state ||
              v->job.progress != progress || now >= deadline))
      return v;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    ctx_.runner.wait_any_finished(std::clamp(left, std::chrono::milliseconds(1), kWatchTick));
  }
}

void JobService::wait_any_finished(std::chrono::milliseconds timeout) {
  ctx_.runner.wait_any_finished(timeout);
}

Outcome<JobState> JobService::cancel(const std::string& id, const Caller& caller,
                                     std::string_view why) {
  auto v = get(id, caller);
  if (!v) return std::unexpected(v.error());
  auto st = ctx_.store.cancel(id);
  if (!st) {
    spdlog::warn("event=job_cancel_failed job={} error=\"{}\"", id, log_escape(st.error().message));
    return std::unexpected(Refused{Refusal::store_unavailable,
                                   "the job could not be cancelled; retry later", kRetryAfterS});
  }
  if (*st == JobState::running) ctx_.runner.cancel_running(id);
  spdlog::info("event=job_cancel job={} state={} reason={}", id, jobs::to_string(*st),
               log_escape(why, 64));
  // Cancelled before it ran: nothing else will ever read its file.
  if (*st == JobState::cancelled && v->job.state == JobState::queued) {
    if (auto r = service::remove_input(v->job.spec.input_path, v->job.spec.params); !r)
      spdlog::warn("event=input_remove_failed job={} error=\"{}\"", id, log_escape(r.error().message));
  }
  return *st;
}

Outcome<service::Rendered> JobService::render_result(const jobs::Job& job,
                                                     service::ResponseFormat format) {
  if (job.state != JobState::succeeded)
    return std::unexpected(Refused{
        Refusal::not_finished,
        fmt::format("the job {} is {}, not succeeded", job.id, jobs::to_string(job.state)), 0});
  auto t = service::read_transcript_file(job.result_path);
  if (!t)
    return std::unexpected(
        Refused{Refusal::result_lost, "the result cannot be read: " + t.error().message, 0});
  return service::render(*t, format);
}

Outcome<service::Rendered> JobService::result(const std::string& id, const Caller& caller,
                                              service::ResponseFormat format) {
  auto v = get(id, caller);
  if (!v) return std::unexpected(v.error());
  return render_result(v->job, format);
}

}  // namespace soroka::frontend
