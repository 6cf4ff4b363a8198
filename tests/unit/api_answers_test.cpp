// Unit tests of the HTTP side of the jobs interface: failure kinds and refusals to statuses,
// the synchronous answer and a job's JSON, and the form fields; tables, no server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/form_fields.h"
#include "api/responses.h"

namespace soroka::api {
namespace {

using nlohmann::json;

EngineSettings engine_with_sim(bool on) {
  EngineSettings e;
  e.simulation = on;
  return e;
}

TEST(ApiAnswers, AFailedJobMapsByItsKindNeverItsMessage) {
  struct Case {
    FailureKind kind;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {FailureKind::invalid_input, 400, "invalid_input"},
      {FailureKind::invalid_request, 400, "invalid_request"},
      {FailureKind::unsupported_media, 415, "unsupported_media"},
      {FailureKind::too_big, 413, "too_big"},
      {FailureKind::oom_killed, 500, "oom_killed"},
      {FailureKind::crashed, 500, "crashed"},
      {FailureKind::timed_out, 500, "timed_out"},
      {FailureKind::stalled, 500, "stalled"},
      {FailureKind::worker_failed, 500, "worker_failed"},
      {FailureKind::storage, 500, "storage"},
      {FailureKind::internal, 500, "internal"},
      {FailureKind::none, 500, "internal"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.code);
    // The message says "invalid input" every time: only the kind may decide.
    ApiError e = error_for(c.kind, "invalid input: whatever");
    EXPECT_EQ(e.status, c.status);
    EXPECT_EQ(e.code, c.code);
    EXPECT_EQ(e.type, c.status >= 500 ? "server_error" : "invalid_request_error");
  }
}

TEST(ApiAnswers, RefusalsMapToStatusesWithRetryAfterWhereTimeHelps) {
  using frontend::Refusal;
  struct Case {
    Refusal r;
    int status;
    bool retry_after;
  };
  const Case cases[] = {
      {Refusal::shutting_down, 503, true},  {Refusal::memory_critical, 503, true},
      {Refusal::degraded, 503, true},       {Refusal::queue_full, 503, true},
      {Refusal::probe_failed, 503, true},   {Refusal::store_unavailable, 503, true},
      {Refusal::rate_limited, 429, true},   {Refusal::quota_exceeded, 429, true},
      {Refusal::invalid_input, 400, false}, {Refusal::unsupported_media, 415, false},
      {Refusal::not_found, 404, false},     {Refusal::not_finished, 409, false},
      {Refusal::result_lost, 500, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(frontend::to_string(c.r)));
    auto resp = to_response(error_for(frontend::Refused{c.r, "why", c.retry_after ? 7 : 0}));
    EXPECT_EQ(resp.status, c.status);
    bool has_retry = false;
    for (const auto& [k, v] : resp.headers) has_retry |= k == "Retry-After";
    EXPECT_EQ(has_retry, c.retry_after);
    auto body = json::parse(resp.body);
    EXPECT_EQ(body["error"]["message"], "why");
  }
}

jobs::Job failed_job(FailureKind kind) {
  jobs::Job j;
  j.id = "01TESTJOB00000000000000000";
  j.state = jobs::JobState::failed;
  j.spec.original_name = "talk.mp3";
  j.last_error = "attempt 1/3 failed: the file ends early";
  j.failure_kind = kind;
  return j;
}

TEST(ApiAnswers, SyncAnswerOfAFailedJob) {
  auto user = sync_answer(failed_job(FailureKind::invalid_input), service::ResponseFormat::json);
  EXPECT_EQ(user.status, 400);
  auto e = json::parse(user.body)["error"];
  EXPECT_EQ(e["message"], "talk.mp3: attempt 1/3 failed: the file ends early");  // names the file
  EXPECT_EQ(e["param"], "file");
  auto ours = sync_answer(failed_job(FailureKind::crashed), service::ResponseFormat::json);
  EXPECT_EQ(ours.status, 500);
  EXPECT_EQ(json::parse(ours.body)["error"]["code"], "crashed");
  jobs::Job running = failed_job(FailureKind::none);
  running.state = jobs::JobState::running;
  EXPECT_EQ(sync_answer(running, service::ResponseFormat::json).status, 504);
  running.state = jobs::JobState::cancelled;
  EXPECT_EQ(sync_answer(running, service::ResponseFormat::json).status, 409);
}

TEST(ApiAnswers, JobJsonShowsTheFailureKind) {
  auto j = job_json({failed_job(FailureKind::unsupported_media), false});
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["failure_kind"], "unsupported_media");
  EXPECT_EQ(j["error"]["code"], "unsupported_media");
  EXPECT_EQ(j["error"]["message"], "attempt 1/3 failed: the file ends early");
  jobs::Job queued = failed_job(FailureKind::none);
  queued.state = jobs::JobState::running;
  auto q = job_json({queued, true});
  EXPECT_FALSE(q.contains("failure_kind"));
  EXPECT_EQ(q["waiting_for"], "memory");
}

TEST(FormFields, DefaultsAliasesAndRefusalsNameTheField) {
  auto plain = read_form({}, engine_with_sim(false));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->params.model, "pocketsphinx");
  EXPECT_EQ(plain->params.language, "en");
  EXPECT_EQ(plain->format, service::ResponseFormat::json);
  auto alias = read_form({{"model", "whisper-1"}, {"response_format", "srt"}}, engine_with_sim(false));
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->params.model, "pocketsphinx");
  EXPECT_EQ(alias->format, service::ResponseFormat::srt);
  EXPECT_EQ(alias->params.response_format, "srt");

  struct Case {
    std::map<std::string, std::string> fields;
    bool sim;
    const char* param;
  };
  const Case bad[] = {
      {{{"model", "gpt-9"}}, true, "model"},
      {{{"model", "sim-tiny"}}, false, "model"},  // simulated models only when enabled
      {{{"language", "fr"}}, false, "language"},
      {{{"response_format", "docx"}}, false, "response_format"},
  };
  for (const auto& c : bad) {
    auto r = read_form(c.fields, engine_with_sim(c.sim));
    ASSERT_FALSE(r) << c.param;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().param, c.param);
  }
  auto sim = read_form({{"model", "sim-tiny"}}, engine_with_sim(true));
  ASSERT_TRUE(sim);
  EXPECT_EQ(sim->params.model, "sim-tiny");
}

}  // namespace
}  // namespace soroka::api
