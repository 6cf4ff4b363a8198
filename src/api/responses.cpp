// Responses: the HTTP side of the jobs interface: refusals, job failures and jobs as OpenAI-
// shaped answers. Pure functions of their inputs (the only file read is a job's result).
#include "api/responses.h"

#include <fmt/format.h>

namespace soroka::api {

namespace {

using frontend::Refusal;

double unix_s(jobs::TimeMs t) {
  return static_cast<double>(t.time_since_epoch().count()) / 1000.0;
}

ApiError rate_limited(std::string message, std::string code, int retry_after_s) {
  return {429, std::move(message), "rate_limit_error", "", std::move(code), retry_after_s};
}

}  // namespace

http::Response to_response(const ApiError& e) {
  http::Response r;
  r.status = e.status;
  r.body = e.body();
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

http::Response json_response(int status, const nlohmann::json& j) {
  http::Response r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

ApiError error_for(const frontend::Refused& r) {
  const std::string code(frontend::to_string(r.reason));
  switch (r.reason) {
    case Refusal::rate_limited:
      return rate_limited(r.message, "rate_limit_exceeded", r.retry_after_s);
    case Refusal::quota_exceeded:
      return rate_limited(r.message, code, r.retry_after_s);
    case Refusal::invalid_input:
      return bad_request(r.message, "file", "invalid_media");
    case Refusal::unsupported_media:
      return unsupported_media(r.message);
    case Refusal::not_found:
      return not_found(r.message);
    case Refusal::not_finished:
      return {409, r.message, "invalid_request_error", "", code, 0};
    case Refusal::result_lost:
      return internal(r.message);
    default:
      return unavailable(r.message, code, std::max(1, r.retry_after_s));
  }
}

ApiError error_for(FailureKind kind, std::string message) {
  const std::string code(to_string(classified(kind)));
  switch (kind) {
    case FailureKind::invalid_input:
      return bad_request(std::move(message), "file", code);
    case FailureKind::invalid_request:
      return bad_request(std::move(message), "", code);
    case FailureKind::unsupported_media:
      return {415, std::move(message), "invalid_request_error", "file", code, 0};
    case FailureKind::too_big:
      return {413, std::move(message), "invalid_request_error", "file", code, 0};
    default:
      return {500, std::move(message), "server_error", "", code, 0};
  }
}

nlohmann::json job_json(const frontend::JobView& v) {
  const jobs::Job& j = v.job;
  nlohmann::json o;
  o["id"] = j.id;
  o["object"] = "transcription.job";
  o["state"] = jobs::to_string(j.state);
  o["progress"] = j.state == jobs::JobState::succeeded ? 1.0 : j.progress;
  o["attempts"] = j.attempts;
  o["runs"] = j.runs;
  o["degrade"] = j.degrade;
  if (j.cancel_requested) o["cancel_requested"] = true;
  o["file"] = j.spec.original_name;
  o["size_bytes"] = j.spec.size_bytes;
  o["created_at"] = unix_s(j.created_at);
  if (j.started_at) o["started_at"] = unix_s(*j.started_at);
  if (j.finished_at) o["finished_at"] = unix_s(*j.finished_at);
  if (j.observed_peak_bytes) o["peak_bytes"] = j.observed_peak_bytes;
  if (auto p = service::parse_job_params(j.spec.params)) {
    o["model"] = p->model;
    if (p->diarize) o["diarize"] = true;
  }
  if (v.waiting_for_memory) o["waiting_for"] = "memory";
  if (v.place > 0) o["queue_position"] = v.place;  // 1: the next to start
  if (!j.last_error.empty()) o["error"] = {{"message", j.last_error}};
  if (j.state == jobs::JobState::failed) {
    const FailureKind k = classified(j.failure_kind);
    o["failure_kind"] = to_string(k);
    o["error"]["code"] = to_string(k);
  }
  if (j.state == jobs::JobState::succeeded && !j.result_path.empty()) {
    if (auto r = frontend::JobService::render_result(j, service::ResponseFormat::verbose_json))
      o["result"] = nlohmann::json::parse(r->body, nullptr, false);
    else
      o["error"] = {{"message", "result no longer available: " + r.error().message}};
  }
  return o;
}

http::Response sync_answer(const jobs::Job& job, service::ResponseFormat format) {
  switch (job.state) {
    case jobs::JobState::succeeded: {
      auto r = frontend::JobService::render_result(job, format);
      if (!r) return to_response(error_for(r.error()));
      http::Response resp;
      resp.status = 200;
      resp.content_type = r->content_type;
      resp.body = std::move(r->body);
      resp.headers.emplace_back("X-Soroka-Job-Id", job.id);
      return resp;
    }
    case jobs::JobState::failed: {
      // The user's own errors name their file, as the refusals at upload do.
      std::string m = is_user_error(job.failure_kind)
                          ? job.spec.original_name + ": " + job.last_error
                          : job.last_error;
      return to_response(error_for(job.failure_kind, std::move(m)));
    }
    case jobs::JobState::cancelled:
      return to_response(
          ApiError{409, "the job was cancelled", "invalid_request_error", "", "job_cancelled", 0});
    default:
      return to_response(ApiError{504,
                                  fmt::format("the job {} is still {}; poll GET /v1/jobs/{}",
                                              job.id, jobs::to_string(job.state), job.id),
                                  "server_error", "", "timeout", 0});
  }
}

}  // namespace soroka::api
