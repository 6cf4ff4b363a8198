// Responses: the HTTP side of the jobs interface: refusals, job failures and jobs as OpenAI-
// shaped answers. Pure functions of their inputs (the only file read is a job's result).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/api_errors.h"
#include "frontend/job_service.h"
#include "http/server.h"
#include "util/failure_kind.h"

namespace soroka::api {

http::Response to_response(const ApiError& e);
http::Response json_response(int status, const nlohmann::json& j);

// A refusal of the jobs interface: 503 (+ Retry-After) for what passes with time, 429 for a
// submitter's limits, 400/415 for the file, 404 for a job that is not the caller's.
ApiError error_for(const frontend::Refused& r);
// A failed job by its kind, never its message: invalid_input / invalid_request 400,
// unsupported_media 415, too_big 413, everything else 500. `code` is the kind's name.
ApiError error_for(FailureKind kind, std::string message);

// GET /v1/jobs/{id}: the job, its failure kind when failed, its result when succeeded.
nlohmann::json job_json(const frontend::JobView& v);
// The answer to a synchronous request whose job has ended (or not, at the deadline): the
// transcript in `format`, the failure's error, 409 when cancelled, 504 while unfinished.
http::Response sync_answer(const jobs::Job& job, service::ResponseFormat format);

}  // namespace soroka::api
