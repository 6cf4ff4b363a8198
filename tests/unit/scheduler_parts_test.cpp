// Unit: the scheduler's pure parts: job sizing, the outcome of a run, the pressure policy.
#include <gtest/gtest.h>

#include "diarize/diarizer.h"
#include "service/job_outcome.h"
#include "service/job_sizing.h"
#include "service/pressure_policy.h"
#include "util/units.h"
#include "worker/protocol.h"

namespace soroka::service {
namespace {

using namespace std::chrono_literals;
using Action = Outcome::Action;

// --- sizing ---

TEST(JobSizing, BaseGrowsWithTheAudioByTheTranscriptFigure) {
  auto s = size_job({.base_bytes = 256 * kMiB, .duration_s = 3600, .capacity = kGiB});
  EXPECT_TRUE(s.fits);
  EXPECT_EQ(s.need, 256 * kMiB + 3600 * 1024);
}

TEST(JobSizing, AJobSeenToNeedMoreGetsAQuarterMoreThanItReached) {
  auto s = size_job({.base_bytes = 100 * kMiB, .job_peak = 200 * kMiB, .capacity = kGiB});
  EXPECT_EQ(s.need, 250 * kMiB);
}

TEST(JobSizing, PeaksOfTheModelLowerTheGuessButNotBelowAWorkerProcess) {
  EXPECT_EQ(size_job({.base_bytes = 256 * kMiB, .model_peak = 60 * kMiB, .capacity = kGiB}).need,
            90 * kMiB);
  EXPECT_EQ(size_job({.base_bytes = 256 * kMiB, .model_peak = 10 * kMiB, .capacity = kGiB}).need,
            64 * kMiB);
  // Never below what this job itself needed.
  EXPECT_EQ(size_job({.base_bytes = 256 * kMiB, .job_peak = 200 * kMiB, .model_peak = 60 * kMiB,
                      .capacity = kGiB})
                .need,
            256 * kMiB);
}

TEST(JobSizing, TheWorkerCapAndTheCapacity) {
  EXPECT_EQ(size_job({.base_bytes = 900 * kMiB, .max_bytes = 300 * kMiB, .capacity = kGiB}).need,
            300 * kMiB);
  auto too_big = size_job({.base_bytes = 2 * kGiB, .capacity = kGiB});
  EXPECT_FALSE(too_big.fits);
  EXPECT_EQ(too_big.need, 2 * kGiB);
  // Grown past the capacity by its own peaks (OOM kills): all there is.
  auto grown = size_job({.base_bytes = 256 * kMiB, .job_peak = 900 * kMiB, .capacity = kGiB});
  EXPECT_TRUE(grown.fits);
  EXPECT_EQ(grown.need, kGiB);
}

TEST(JobSizing, DiarizingAddsTheDiarizersWorkingMemory) {
  const std::uint64_t plain = size_job({.base_bytes = 256 * kMiB, .duration_s = 3600, .capacity = kGiB}).need;
  auto s = size_job({.base_bytes = 256 * kMiB, .duration_s = 3600, .diarize = true, .capacity = kGiB});
  EXPECT_EQ(s.need, plain + diarize::working_bytes(3600));
  // Also on top of a guess lowered by the model's peaks (which may come from plain runs)...
  EXPECT_EQ(size_job({.base_bytes = 256 * kMiB, .diarize = true, .model_peak = 60 * kMiB, .capacity = kGiB}).need,
            90 * kMiB + diarize::working_bytes(0));
  // ...but a job's own peak already holds its diarizer.
  const std::uint64_t peak = 400 * kMiB + diarize::working_bytes(0);
  EXPECT_EQ(size_job({.base_bytes = 100 * kMiB, .diarize = true, .job_peak = peak, .capacity = 2 * kGiB}).need,
            peak + peak / 4);
  // And it can make a job too big for the service.
  EXPECT_TRUE(size_job({.base_bytes = kGiB, .capacity = kGiB}).fits);
  EXPECT_FALSE(size_job({.base_bytes = kGiB, .diarize = true, .capacity = kGiB}).fits);
}

// --- outcome ---

worker::WorkerExit exit_of(worker::ExitKind k, int code = 0) {
  worker::WorkerExit x;
  x.kind = k;
  x.exit_code = code;
  x.detail = "detail";
  return x;
}

TEST(JobOutcome, AReportedResultCompletesWhateverTheProcessDidAfterwards) {
  RunEnd e;
  e.report = RunEnd::Report::done;
  EXPECT_EQ(decide_outcome(e).action, Action::complete);
  e.exit = exit_of(worker::ExitKind::oom_killed);
  EXPECT_EQ(decide_outcome(e).action, Action::complete);
  e.result_problem = "the worker ended without writing a result";
  auto o = decide_outcome(e);
  EXPECT_EQ(o.action, Action::fail);
  EXPECT_TRUE(o.failure.retryable);
  EXPECT_EQ(o.failure.reason, e.result_problem);
}

TEST(JobOutcome, AnInputErrorFailsForGoodWithItsKind) {
  RunEnd e;
  e.report = RunEnd::Report::failed;
  e.reported_kind = FailureKind::unsupported_media;
  e.worker_error = "not a media file";
  auto o = decide_outcome(e);
  EXPECT_EQ(o.action, Action::fail);
  EXPECT_FALSE(o.failure.retryable);
  EXPECT_EQ(o.failure.kind, FailureKind::unsupported_media);
  EXPECT_EQ(o.failure.reason, "not a media file");
  // A worker that could not load its model exits kExitInputError with the kind it said.
  RunEnd load;
  load.reported_kind = FailureKind::invalid_request;
  load.exit = exit_of(worker::ExitKind::exited, worker::kExitInputError);
  EXPECT_EQ(decide_outcome(load).failure.kind, FailureKind::invalid_request);
  EXPECT_FALSE(decide_outcome(load).failure.retryable);
}

TEST(JobOutcome, TheWorkersOwnFailuresAreRetried) {
  RunEnd e;
  e.report = RunEnd::Report::failed;
  e.reported_kind = FailureKind::worker_failed;
  e.worker_error = "disk full";
  e.exit = exit_of(worker::ExitKind::exited, worker::kExitFailure);
  auto o = decide_outcome(e);
  EXPECT_TRUE(o.failure.retryable);
  EXPECT_EQ(o.failure.kind, FailureKind::worker_failed);
  EXPECT_EQ(o.failure.reason, "worker exited with code 1: disk full");
  RunEnd crash;
  crash.exit = exit_of(worker::ExitKind::crashed);
  EXPECT_EQ(decide_outcome(crash).failure.kind, FailureKind::crashed);
  EXPECT_TRUE(decide_outcome(crash).failure.retryable);
}

TEST(JobOutcome, AnOomKillRetriesCheaperAndReservesMoreNextTime) {
  RunEnd e;
  e.exit = exit_of(worker::ExitKind::oom_killed);
  e.limit_bytes = 300 * kMiB;
  e.peak_bytes = 10 * kMiB;
  e.degrade = 1;
  e.attempt = 2;
  e.max_attempts = 3;
  auto o = decide_outcome(e);
  EXPECT_EQ(o.action, Action::fail);
  EXPECT_TRUE(o.failure.retryable);
  EXPECT_TRUE(o.failure.degrade);
  EXPECT_EQ(o.failure.observed_peak_bytes, 300 * kMiB);
  EXPECT_EQ(o.failure.kind, FailureKind::oom_killed);
  EXPECT_NE(o.failure.reason.find("2 times at a 300 MiB limit; retrying"), std::string::npos)
      << o.failure.reason;
}

TEST(JobOutcome, OurOwnStopsNameTheEnd) {
  RunEnd e;
  e.exit = exit_of(worker::ExitKind::cancelled);
  e.cancel = true;
  EXPECT_EQ(decide_outcome(e).action, Action::cancel);
  e.cancel = false;
  e.preempt = true;
  EXPECT_EQ(decide_outcome(e).action, Action::release);
  e.stalled = true;
  e.stall_timeout = 120s;
  EXPECT_EQ(decide_outcome(e).failure.kind, FailureKind::stalled);
  e.timed_out = true;  // the timeout names the end before the stall watchdog does
  EXPECT_EQ(decide_outcome(e).failure.kind, FailureKind::timed_out);
  RunEnd stale = e;
  stale.stale = true;
  stale.report = RunEnd::Report::done;
  EXPECT_EQ(decide_outcome(stale).action, Action::drop);
}

// --- pressure ---

TEST(PressurePolicy, WarningPausesAndEndsIdleWorkersOnly) {
  PressurePolicy p(2s);
  auto now = PressurePolicy::Clock::now();
  auto a = p.decide(oomguard::Level::warning, now, {{0, now}});
  EXPECT_TRUE(a.pause);
  EXPECT_TRUE(a.retire_idle);
  EXPECT_FALSE(a.shed);
  EXPECT_FALSE(a.preempt);
  auto n = p.decide(oomguard::Level::normal, now, {});
  EXPECT_FALSE(n.pause);
  EXPECT_FALSE(n.retire_idle);
}

TEST(PressurePolicy, CriticalShedsThenStopsTheLowestPriorityNewestRunEachGrace) {
  PressurePolicy p(2s);
  const auto t0 = PressurePolicy::Clock::now();
  std::vector<PressurePolicy::RunView> runs = {{5, t0 - 30s}, {0, t0 - 20s}, {0, t0 - 10s}, {9, t0}};
  EXPECT_TRUE(p.decide(oomguard::Level::critical, t0, runs).shed);
  EXPECT_FALSE(p.decide(oomguard::Level::critical, t0 + 1s, runs).preempt);  // within grace
  auto a = p.decide(oomguard::Level::critical, t0 + 2s, runs);
  EXPECT_FALSE(a.shed);
  ASSERT_TRUE(a.preempt);
  EXPECT_EQ(*a.preempt, 2u);  // priority 0, started last
  EXPECT_FALSE(p.decide(oomguard::Level::critical, t0 + 3s, runs).preempt);
  EXPECT_TRUE(p.decide(oomguard::Level::critical, t0 + 4s, runs).preempt);
  // Leaving critical starts the sequence over: shed first again.
  (void)p.decide(oomguard::Level::warning, t0 + 5s, runs);
  EXPECT_TRUE(p.decide(oomguard::Level::critical, t0 + 6s, runs).shed);
}

}  // namespace
}  // namespace soroka::service
