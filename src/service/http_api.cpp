// HttpApi: the routes of `soroka serve` (OpenAI-compatible transcription, jobs, health, metrics).
#include "service/http_api.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "media/decoder.h"
#include "service/api_errors.h"
#include "service/job_params.h"
#include "service/sim_model.h"
#include "util/fd.h"
#include "util/log.h"

namespace soroka::service {

namespace {

namespace fs = std::filesystem;

// Multipart framing and the small form fields around the file: 1 MiB is far more than any
// client sends, and bounds what we accept on top of the file limit.
constexpr std::uint64_t kFormOverhead = 1ull << 20;
constexpr std::size_t kMaxFieldBytes = 1024;
// A refused upload is still read and discarded up to this multiple of the limit, so that the
// client, still sending, gets our status instead of a connection reset; beyond, we hang up.
constexpr std::uint64_t kDrainFactor = 4;
constexpr int kRetryAfterS = 5;

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  res.set_content(e.body(), "application/json");
}

void send_json(httplib::Response& res, int status, const nlohmann::json& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

// Unix seconds, as OpenAI's objects give `created_at`.
double unix_s(jobs::TimeMs t) {
  return static_cast<double>(t.time_since_epoch().count()) / 1000.0;
}

std::optional<std::uint64_t> content_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return std::nullopt;
  std::string v = req.get_header_value("Content-Length");
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

// Probe failures the client caused by sending something that is not audio we read.
bool is_unsupported(const std::string& msg) {
  return msg.starts_with("unsupported") || msg.starts_with("no audio stream") ||
         msg.starts_with("not a media file") || msg.find("not a media") != std::string::npos;
}

nlohmann::json job_json(const jobs::Job& j) {
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
  if (auto p = parse_job_params(j.spec.params)) o["model"] = p->model;
  if (!j.last_error.empty()) o["error"] = {{"message", j.last_error}};
  if (j.state == jobs::JobState::succeeded && !j.result_path.empty()) {
    if (auto t = read_transcript_file(j.result_path); t)
      o["result"] = nlohmann::json::parse(render(*t, ResponseFormat::verbose_json).body);
    else
      o["error"] = {{"message", "result no longer available: " + t.error().message}};
  }
  return o;
}

// One multipart upload streamed to a file in the uploads directory.
struct Upload {
  std::string path;  // our file; removed by the destructor unless kept
  std::string original_name;
  std::uint64_t file_bytes = 0;
  bool have_file = false;
  std::map<std::string, std::string> fields;
  std::optional<ApiError> error;
  bool keep = false;
  // Registered before the file is created, so the sweep never takes an upload in flight; let
  // go (after the destructor's removal) once the job refers to the file or it is gone.
  std::optional<InFlightGuard> in_flight;
  ~Upload() {
    if (!keep && !path.empty()) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }
};

}  // namespace

HttpApi::HttpApi(ApiContext ctx, ApiLimits limits) : ctx_(std::move(ctx)), limits_(limits) {}

void HttpApi::set_limits(ApiLimits limits) {
  std::lock_guard lk(mu_);
  limits_ = limits;
}

ApiLimits HttpApi::limits() const {
  std::lock_guard lk(mu_);
  return limits_;
}

void HttpApi::install(httplib::Server& server) {
  auto upload = [this](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader, bool sync) {
    ctx_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    const ApiLimits lim = limits();
    const std::uint64_t max_body = lim.max_file_bytes + kFormOverhead;
    Upload up;
    auto refuse = [&](Rejection r, ApiError e) {
      if (!up.error) {
        ctx_.metrics.reject(r);
        up.error = std::move(e);
      }
    };
    // Up front, before a byte of the body is read.
    auto declared = content_length(req);
    if (!ctx_.accepting())
      refuse(Rejection::memory, unavailable("the service is shutting down", "shutting_down", kRetryAfterS));
    else if (declared && *declared > max_body)
      refuse(Rejection::too_large,
             too_large(fmt::format("the request is {} bytes; files up to {} bytes are accepted",
                                   *declared, lim.max_file_bytes)));
    else if (!req.is_multipart_form_data())
      refuse(Rejection::bad_request,
             bad_request("expected a multipart/form-data body with a 'file' part", "file"));
    else if (ctx_.level() == oomguard::Level::critical)
      refuse(Rejection::memory,
             unavailable("memory is critically low; retry later", "memory_critical", kRetryAfterS));
    else if (auto q = ctx_.store.queue_length(); q && static_cast<std::uint64_t>(*q) >= lim.max_queue)
      refuse(Rejection::queue_full,
             unavailable(fmt::format("the queue is full ({} jobs waiting)", *q), "queue_full",
                         kRetryAfterS));

    const std::uint64_t drain_cap =
        declared && *declared > kDrainFactor * max_body ? 0 : kDrainFactor * max_body;
    std::uint64_t body_bytes = 0;
    std::string current;
    Fd out;
    if (req.is_multipart_form_data() && drain_cap > 0) {
      bool ok = reader(
          [&](const httplib::MultipartFormData& part) {
            current = part.name;
            if (up.error) return true;
            if (part.name == "file") {
              if (up.have_file) {
                refuse(Rejection::bad_request, bad_request("more than one 'file' part", "file"));
                return true;
              }
              auto token = jobs::make_job_id(jobs::now_ms());
              up.path = ctx_.uploads_dir + "/" + (token ? *token : std::string("upload")) + ".upload";
              up.in_flight.emplace(ctx_.in_flight, up.path);
              out.reset(::open(up.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
              if (!out) {
                spdlog::error("event=upload_failed error=\"cannot create {}: {}\"", up.path,
                              std::strerror(errno));
                up.path.clear();
                refuse(Rejection::bad_request, internal("cannot store the upload"));
                return true;
              }
              up.have_file = true;
              up.original_name = part.filename.empty() ? "upload" : part.filename;
            }
            return true;
          },
          [&](const char* data, std::size_t n) {
            body_bytes += n;
            if (body_bytes > drain_cap) return false;  // hang up: not worth reading
            if (up.error) return true;                 // drain
            if (current == "file") {
              up.file_bytes += n;
              if (up.file_bytes > lim.max_file_bytes) {
                refuse(Rejection::too_large,
                       too_large(fmt::format("the file is over the limit of {} bytes",
                                             lim.max_file_bytes)));
                out.reset();
                return true;
              }
              while (n > 0) {
                ssize_t w = ::write(out.get(), data, n);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) {
                  spdlog::error("event=upload_failed error=\"writing {}: {}\"", up.path, std::strerror(errno));
                  refuse(Rejection::bad_request,
                         errno == ENOSPC ? unavailable("no disk space for the upload", "no_space", 60)
                                         : internal("cannot store the upload"));
                  out.reset();
                  return true;
                }
                data += w;
                n -= static_cast<std::size_t>(w);
              }
            } else {
              std::string& v = up.fields[current];
              if (v.size() + n > kMaxFieldBytes)
                refuse(Rejection::bad_request, bad_request("form field '" + current + "' is too long", current));
              else
                v.append(data, n);
            }
            return true;
          });
      if (!ok && !up.error)
        refuse(Rejection::bad_request, bad_request("the upload was cut short or malformed", "file"));
      if (!ok) res.set_header("Connection", "close");
    } else if (!up.error) {
      refuse(Rejection::bad_request, bad_request("expected multipart/form-data", "file"));
    }
    out.reset();
    if (drain_cap == 0 || (declared && up.error)) res.set_header("Connection", "close");
    if (up.error) return send_error(res, *up.error);
    if (!up.have_file) {
      ctx_.metrics.reject(Rejection::bad_request);
      return send_error(res, bad_request("the 'file' part is missing", "file"));
    }
    if (up.file_bytes == 0) {
      ctx_.metrics.reject(Rejection::bad_request);
      return send_error(res, bad_request("the file is empty", "file"));
    }

    JobParams params;
    auto field = [&](const char* k) {
      auto it = up.fields.find(k);
      return it == up.fields.end() ? std::string() : it->second;
    };
    std::string model = field("model");
    if (model.empty() || model == "whisper-1" || model == "pocketsphinx") {
      params.model = "pocketsphinx";
    } else if (sim_profile(model) && sim_enabled()) {
      params.model = model;
    } else {
      ctx_.metrics.reject(Rejection::bad_request);
      return send_error(res, bad_request(fmt::format("model '{}' does not exist", model), "model",
                                         "model_not_found"));
    }
    std::string lang = field("language");
    params.language = lang.empty() ? "en" : lang;
    if (params.language != "en") {
      ctx_.metrics.reject(Rejection::bad_request);
      return send_error(res, bad_request(fmt::format("language '{}' is not supported (supported: en)",
                                                     params.language),
                                         "language", "unsupported_language"));
    }
    std::string rf = field("response_format");
    params.response_format = rf.empty() ? "json" : rf;
    auto format = parse_response_format(params.response_format);
    if (!format) {
      ctx_.metrics.reject(Rejection::bad_request);
      return send_error(res, bad_request(fmt::format("response_format '{}' is not one of json, "
                                                     "text, srt, vtt, verbose_json",
                                                     params.response_format),
                                         "response_format"));
    }
    // The whole file must be a readable medium before it costs a queue slot.
    auto info = media::probe_media(up.path);
    if (!info) {
      const std::string& m = info.error().message;
      bool unsupported = is_unsupported(m);
      ctx_.metrics.reject(unsupported ? Rejection::unsupported_media : Rejection::bad_media);
      spdlog::info("event=upload_refused file=\"{}\" reason=\"{}\"", up.original_name, m);
      return send_error(res, unsupported ? unsupported_media(up.original_name + ": " + m)
                                         : bad_request(up.original_name + ": " + m, "file",
                                                       "invalid_media"));
    }
    params.duration_s = info->duration_s;

    jobs::JobSpec spec;
    spec.params = to_json(params);
    spec.submitter = sync ? "http-sync" : "http";
    spec.input_path = up.path;
    spec.original_name = up.original_name;
    spec.size_bytes = up.file_bytes;
    spec.max_attempts = lim.max_attempts;
    auto id = ctx_.store.submit(spec);
    if (!id) {
      spdlog::error("event=submit_failed error=\"{}\"", id.error().message);
      return send_error(res, internal("could not queue the job"));
    }
    up.keep = true;
    spdlog::info("event=job_queued job={} file=\"{}\" bytes={} duration_s={:.1f} model={} sync={}",
                 *id, up.original_name, up.file_bytes, info->duration_s, params.model, sync);
    ctx_.scheduler.wake();
    if (!sync) return send_json(res, 202, {{"id", *id}, {"object", "transcription.job"}, {"state", "queued"}});

    auto job = ctx_.scheduler.wait_finished(*id, lim.request_timeout);
    if (!job) return send_error(res, internal("the job vanished: " + job.error().message));
    switch (job->state) {
      case jobs::JobState::succeeded: {
        auto t = read_transcript_file(job->result_path);
        if (!t) return send_error(res, internal("the result cannot be read: " + t.error().message));
        auto r = render(*t, *format);
        res.status = 200;
        res.set_header("X-Soroka-Job-Id", *id);
        res.set_content(r.body, r.content_type);
        return;
      }
      case jobs::JobState::failed:
        if (job->last_error.find(kInvalidInputPrefix) != std::string::npos)
          return send_error(res, bad_request(up.original_name + ": " + job->last_error, "file",
                                             "invalid_media"));
        return send_error(res, ApiError{500, job->last_error, "server_error", "", "job_failed", 0});
      case jobs::JobState::cancelled:
        return send_error(res, ApiError{409, "the job was cancelled", "invalid_request_error", "",
                                        "job_cancelled", 0});
      default:
        return send_error(res, ApiError{504,
                                        fmt::format("the job {} is still {}; poll GET /v1/jobs/{}",
                                                    *id, jobs::to_string(job->state), *id),
                                        "server_error", "", "timeout", 0});
    }
  };

  server.Post("/v1/audio/transcriptions",
              [upload](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader) { upload(req, res, reader, true); });
  server.Post("/v1/jobs", [upload](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) {
    upload(req, res, reader, false);
  });
  server.Get(R"(/v1/jobs/([0-9A-Za-z]+))", [this](const httplib::Request& req, httplib::Response& res) {
    ctx_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    auto job = ctx_.store.get(req.matches[1].str());
    if (!job) {
      if (job.error().code == ENOENT) return send_error(res, not_found("no job " + req.matches[1].str()));
      return send_error(res, internal(job.error().message));
    }
    auto o = job_json(*job);
    // Claimed, but its worker has not started: the memory it reserves is not free yet.
    if (job->state == jobs::JobState::running && ctx_.scheduler.waiting_for_memory(job->id))
      o["waiting_for"] = "memory";
    send_json(res, 200, o);
  });
  server.Delete(R"(/v1/jobs/([0-9A-Za-z]+))", [this](const httplib::Request& req, httplib::Response& res) {
    ctx_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    const std::string id = req.matches[1].str();
    auto st = ctx_.store.cancel(id);
    if (!st) {
      if (st.error().code == ENOENT) return send_error(res, not_found("no job " + id));
      return send_error(res, internal(st.error().message));
    }
    if (*st == jobs::JobState::running) ctx_.scheduler.cancel_running(id);
    spdlog::info("event=job_cancel job={} state={}", id, jobs::to_string(*st));
    auto job = ctx_.store.get(id);
    if (job && job->state == jobs::JobState::cancelled) {
      std::error_code ec;
      fs::remove(job->spec.input_path, ec);
    }
    send_json(res, 200, job ? job_json(*job) : nlohmann::json{{"id", id}, {"state", jobs::to_string(*st)}});
  });
  server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    bool ok = ctx_.accepting();
    send_json(res, ok ? 200 : 503,
              {{"status", ok ? "ok" : "shutting_down"}, {"memory_level", oomguard::to_string(ctx_.level())}});
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_prometheus(ctx_.metrics, ctx_.gauges()), "text/plain; version=0.0.4");
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    // Routing misses and httplib's own refusals get the same error shape as ours.
    if (!res.body.empty()) return;
    ApiError e{res.status, fmt::format("HTTP {}", res.status), "invalid_request_error", "", "", 0};
    if (res.status == 404) e = not_found("no such endpoint");
    if (res.status == 413) e = too_large("the request is too large");
    send_error(res, e);
  });
}

}  // namespace soroka::service
