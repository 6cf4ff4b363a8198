// HttpApi: the routes of `soroka serve` on the bounded HTTP server (OpenAI-compatible
// transcription, jobs, health, metrics), with API keys, owners and per-key quotas.
#include "api/http_api.h"

#include <condition_variable>
#include <filesystem>
#include <thread>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/api_errors.h"
#include "api/upload.h"
#include "service/job_params.h"
#include "engine/factory.h"
#include "util/text.h"

namespace soroka::api {

namespace {

namespace fs = std::filesystem;
using service::Rejection;
using service::ResponseFormat;

// Multipart framing and the small form fields around the file.
constexpr std::uint64_t kFormOverhead = 1ull << 20;
constexpr int kRetryAfterS = 5;
// How long the synchronous waiters sleep between looks at the store when no job ends: a job
// end wakes them at once; this bounds a wake-up missed between a look and the wait.
constexpr std::chrono::milliseconds kWaiterTick{200};

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

double unix_s(jobs::TimeMs t) { return static_cast<double>(t.time_since_epoch().count()) / 1000.0; }

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
  if (auto p = service::parse_job_params(j.spec.params)) o["model"] = p->model;
  if (!j.last_error.empty()) o["error"] = {{"message", j.last_error}};
  if (j.state == jobs::JobState::succeeded && !j.result_path.empty()) {
    if (auto t = service::read_transcript_file(j.result_path); t)
      o["result"] = nlohmann::json::parse(render(*t, ResponseFormat::verbose_json).body, nullptr, false);
    else
      o["error"] = {{"message", "result no longer available: " + t.error().message}};
  }
  return o;
}

ApiError unauthorized() {
  return {401,
          "Incorrect or missing API key: send 'Authorization: Bearer KEY' with a key from "
          "server.api_keys",
          "invalid_request_error", "", "invalid_api_key", 0};
}

// The answer to a synchronous request whose job has ended (or not, at the deadline).
http::Response sync_answer(const jobs::Job& job, ResponseFormat format, const std::string& name) {
  switch (job.state) {
    case jobs::JobState::succeeded: {
      auto t = service::read_transcript_file(job.result_path);
      if (!t) return to_response(internal("the result cannot be read: " + t.error().message));
      auto r = render(*t, format);
      http::Response resp;
      resp.status = 200;
      resp.content_type = r.content_type;
      resp.body = std::move(r.body);
      resp.headers.emplace_back("X-Soroka-Job-Id", job.id);
      return resp;
    }
    case jobs::JobState::failed:
      if (job.last_error.find(service::kInvalidInputPrefix) != std::string::npos)
        return to_response(bad_request(name + ": " + job.last_error, "file", "invalid_media"));
      return to_response(ApiError{500, job.last_error, "server_error", "", "job_failed", 0});
    case jobs::JobState::cancelled:
      return to_response(ApiError{409, "the job was cancelled", "invalid_request_error", "", "job_cancelled", 0});
    default:
      return to_response(ApiError{504,
                                  fmt::format("the job {} is still {}; poll GET /v1/jobs/{}", job.id,
                                              jobs::to_string(job.state), job.id),
                                  "server_error", "", "timeout", 0});
  }
}

}  // namespace

class SubmitHandler;

struct HttpApi::Impl {
  ApiContext ctx;
  mutable std::mutex mu;  // limits, keys
  ApiLimits limits;
  ApiKeys keys;
  RateLimiter rate;

  // Synchronous requests waiting for their jobs: one thread for all of them.
  struct Waiter {
    std::string id;
    std::shared_ptr<http::Reply> reply;
    ResponseFormat format;
    std::string name;
    std::chrono::steady_clock::time_point deadline;
  };
  std::mutex wmu;
  std::condition_variable wcv;
  std::vector<Waiter> waiters;
  std::vector<std::string> cancels;  // jobs whose synchronous client hung up
  bool wstop = false;
  std::thread wthread;

  explicit Impl(ApiContext c, ApiLimits l, ApiKeys k) : ctx(std::move(c)), limits(l), keys(std::move(k)) {}

  ApiLimits lim() const {
    std::lock_guard lk(mu);
    return limits;
  }
  bool keys_required() const {
    std::lock_guard lk(mu);
    return !keys.empty();
  }
  // The owner of a request: a key's id, "local" when no keys are configured; nullopt: refused.
  std::optional<std::string> owner_of(const http::Request& req) const {
    std::lock_guard lk(mu);
    if (keys.empty()) return std::string("local");
    return keys.owner(req.header("authorization"));
  }
  bool may_see(const http::Request& req, const jobs::Job& job) const {
    if (!keys_required()) return true;  // one owner: everyone who reaches the port
    auto o = owner_of(req);
    return o && job.spec.submitter == "http:" + *o;
  }

  void submit(SubmitHandler& h, const std::shared_ptr<http::Reply>& reply);
  std::variant<jobs::Job, http::Response> owned_job(const http::Request& req);
  http::Response get_job(const http::Request& req);
  http::Response delete_job(const http::Request& req);
  http::Response healthz() const;
  http::Response metrics(const http::Server& server) const;
  void wait_loop();
  void cancel_job(const std::string& id, const char* why);
};

class SubmitHandler final : public http::Handler {
 public:
  SubmitHandler(HttpApi::Impl& api, UploadLimits ul, bool sync, std::string owner)
      : api_(api), rx_(std::move(ul)), sync_(sync), owner_(std::move(owner)) {}
  std::optional<http::Response> on_form(const http::FormChunk& c) override {
    if (auto e = rx_.on_form(c)) {
      reject(*e);
      return to_response(*e);
    }
    return std::nullopt;
  }
  void complete(std::shared_ptr<http::Reply> reply) override { api_.submit(*this, reply); }

  void reject(const ApiError& e) {
    Rejection r = e.status == 413 ? Rejection::too_large : e.status == 503 ? Rejection::queue_full : Rejection::bad_request;
    api_.ctx.metrics.reject(r);
  }
  UploadReceiver& rx() { return rx_; }
  bool sync() const { return sync_; }
  const std::string& owner() const { return owner_; }

 private:
  HttpApi::Impl& api_;
  UploadReceiver rx_;
  bool sync_;
  std::string owner_;
};

namespace {

// A handler whose answer is a function of the request (GET, DELETE, health, metrics).
class PlainHandler final : public http::Handler {
 public:
  explicit PlainHandler(std::function<http::Response()> f) : f_(std::move(f)) {}
  void complete(std::shared_ptr<http::Reply> reply) override { reply->send(f_()); }

 private:
  std::function<http::Response()> f_;
};

}  // namespace

void HttpApi::Impl::submit(SubmitHandler& h, const std::shared_ptr<http::Reply>& reply) {
  const ApiLimits L = lim();
  auto refuse = [&](const ApiError& e, Rejection r) {
    ctx.metrics.reject(r);
    reply->send(to_response(e));
  };
  if (auto e = h.rx().finish()) return refuse(*e, Rejection::bad_request);
  const ReceivedUpload& up = h.rx().upload();
  auto field = [&](const char* k) {
    auto it = up.fields.find(k);
    return it == up.fields.end() ? std::string() : it->second;
  };
  service::JobParams params;
  std::string model = field("model");
  auto described = engine::describe_model(ctx.engine, model);
  if (!described)
    return refuse(bad_request(fmt::format("model '{}' does not exist", log_escape(model, 64)), "model", "model_not_found"),
                  Rejection::bad_request);
  params.model = described->name;
  std::string lang = field("language");
  params.language = lang.empty() ? "en" : lang;
  if (params.language != "en")
    return refuse(bad_request(fmt::format("language '{}' is not supported (supported: en)", log_escape(params.language, 32)),
                              "language", "unsupported_language"),
                  Rejection::bad_request);
  std::string rf = field("response_format");
  params.response_format = rf.empty() ? "json" : rf;
  auto format = service::parse_response_format(params.response_format);
  if (!format)
    return refuse(bad_request(fmt::format("response_format '{}' is not one of json, text, srt, vtt, verbose_json",
                                          log_escape(params.response_format, 32)),
                              "response_format"),
                  Rejection::bad_request);
  if (!rate.allow(h.owner(), L.key_submissions_per_minute))
    return refuse(ApiError{429, fmt::format("more than {} submissions a minute with this key; slow down",
                                            L.key_submissions_per_minute),
                           "rate_limit_error", "", "rate_limit_exceeded", 60 / static_cast<int>(std::max<std::uint64_t>(1, L.key_submissions_per_minute)) + 1},
                  Rejection::queue_full);
  // The file must be a readable medium before it costs a queue slot; FFmpeg reads it in a
  // child of its own, never here.
  const auto probe_start = std::chrono::steady_clock::now();
  auto probe = service::probe_in_child(ctx.supervisor, ctx.probe, up.path);
  spdlog::debug("event=probed file=\"{}\" ms={}", log_escape(up.original_name),
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - probe_start).count());
  if (!probe) {
    spdlog::warn("event=probe_failed file=\"{}\" error=\"{}\"", log_escape(up.original_name), log_escape(probe.error().message));
    return refuse(unavailable("the file could not be examined; retry later", "probe_failed", kRetryAfterS), Rejection::memory);
  }
  if (!probe->ok) {
    spdlog::info("event=upload_refused file=\"{}\" reason=\"{}\"", log_escape(up.original_name), log_escape(probe->message));
    const std::string m = up.original_name + ": " + probe->message;
    return probe->kind == FailureKind::unsupported_media ? refuse(unsupported_media(m), Rejection::unsupported_media)
                              : refuse(bad_request(m, "file", "invalid_media"), Rejection::bad_media);
  }
  params.duration_s = probe->duration_s;

  jobs::JobSpec spec;
  spec.params = to_json(params);
  spec.submitter = "http:" + h.owner();
  spec.input_path = up.path;
  spec.original_name = up.original_name;
  spec.size_bytes = up.file_bytes;
  spec.max_attempts = L.max_attempts;
  spec.max_queued = static_cast<std::int64_t>(L.max_queue);
  spec.max_active_by_submitter = static_cast<std::int64_t>(L.key_max_jobs);
  spec.max_bytes_by_submitter = L.key_max_stored;
  auto id = ctx.store.submit(spec);
  if (!id) {
    const int code = id.error().code;
    if (code == jobs::kQueueFull)
      return refuse(unavailable(id.error().message, "queue_full", kRetryAfterS), Rejection::queue_full);
    if (code == jobs::kSubmitterQuota)
      return refuse(ApiError{429, id.error().message, "rate_limit_error", "", "quota_exceeded", 30}, Rejection::queue_full);
    spdlog::error("event=submit_failed error=\"{}\"", log_escape(id.error().message));
    return refuse(unavailable("the job could not be stored; retry later", "store_unavailable", kRetryAfterS),
                  Rejection::memory);
  }
  h.rx().keep();
  spdlog::info("event=job_queued job={} file=\"{}\" bytes={} duration_s={:.1f} model={} sync={} owner={}", *id,
               log_escape(up.original_name), up.file_bytes, params.duration_s, params.model, h.sync(), h.owner());
  ctx.scheduler.wake();
  if (!h.sync()) {
    reply->send(json_response(202, {{"id", *id}, {"object", "transcription.job"}, {"state", "queued"}}));
    return;
  }
  Waiter w{*id, reply, *format, up.original_name, std::chrono::steady_clock::now() + L.request_timeout};
  std::string job_id = *id;
  reply->watch_disconnect([this, job_id] {
    std::lock_guard lk(wmu);
    cancels.push_back(job_id);
    wcv.notify_all();
  });
  std::lock_guard lk(wmu);
  waiters.push_back(std::move(w));
  wcv.notify_all();
}

void HttpApi::Impl::cancel_job(const std::string& id, const char* why) {
  auto st = ctx.store.cancel(id);
  if (!st) {
    spdlog::warn("event=job_cancel_failed job={} error=\"{}\"", id, log_escape(st.error().message));
    return;
  }
  if (*st == jobs::JobState::running) ctx.scheduler.cancel_running(id);
  spdlog::info("event=job_cancel job={} state={} reason={}", id, jobs::to_string(*st), why);
  if (*st == jobs::JobState::cancelled)
    if (auto job = ctx.store.get(id)) {
      std::error_code ec;
      fs::remove(job->spec.input_path, ec);
    }
}

void HttpApi::Impl::wait_loop() {
  std::unique_lock lk(wmu);
  while (!wstop) {
    std::vector<std::string> to_cancel;
    to_cancel.swap(cancels);
    std::vector<Waiter> ws = waiters;
    lk.unlock();
    for (const auto& id : to_cancel) cancel_job(id, "client_disconnected");
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> done;
    for (auto& w : ws) {
      if (w.reply->sent()) {
        done.push_back(w.id);
        continue;
      }
      auto job = ctx.store.get(w.id);
      if (!job && job.error().code != ENOENT) continue;  // the store is busy or failing: next look
      if (!job) {
        w.reply->send(to_response(internal("the job vanished: " + job.error().message)));
      } else if (jobs::is_terminal(job->state) || now >= w.deadline) {
        w.reply->send(sync_answer(*job, w.format, w.name));
      } else {
        continue;
      }
      done.push_back(w.id);
    }
    lk.lock();
    std::erase_if(waiters, [&](const Waiter& w) { return std::find(done.begin(), done.end(), w.id) != done.end(); });
    if (wstop) break;
    if (!cancels.empty()) continue;
    if (waiters.empty()) {
      wcv.wait(lk, [&] { return wstop || !waiters.empty() || !cancels.empty(); });
      continue;
    }
    lk.unlock();
    ctx.scheduler.wait_any_finished(kWaiterTick);
    lk.lock();
  }
}

// The job a GET or DELETE names, if this caller may see it; else the answer (404, 500).
std::variant<jobs::Job, http::Response> HttpApi::Impl::owned_job(const http::Request& req) {
  const std::string& id = req.captures.at(0);
  auto job = ctx.store.get(id);
  if (job && may_see(req, *job)) return std::move(*job);
  if (!job && job.error().code != ENOENT) return to_response(internal("the job store cannot be read"));
  return to_response(not_found("no job " + id));  // not yours is no different from none
}

http::Response HttpApi::Impl::get_job(const http::Request& req) {
  auto found = owned_job(req);
  if (auto* r = std::get_if<http::Response>(&found)) return std::move(*r);
  const auto& job = std::get<jobs::Job>(found);
  auto o = job_json(job);
  // Claimed, but its worker has not started: the memory it reserves is not free yet.
  if (job.state == jobs::JobState::running && ctx.scheduler.waiting_for_memory(job.id)) o["waiting_for"] = "memory";
  return json_response(200, o);
}

http::Response HttpApi::Impl::delete_job(const http::Request& req) {
  auto found = owned_job(req);
  if (auto* r = std::get_if<http::Response>(&found)) return std::move(*r);
  const std::string id = std::get<jobs::Job>(found).id;
  cancel_job(id, "delete");
  auto after = ctx.store.get(id);
  return json_response(200, after ? job_json(*after) : nlohmann::json{{"id", id}});
}

http::Response HttpApi::Impl::healthz() const {
  nlohmann::json j{{"memory_level", oomguard::to_string(ctx.level())}};
  if (!ctx.accepting()) {
    j["status"] = "shutting_down";
    return json_response(503, j);
  }
  if (auto issue = ctx.health ? ctx.health() : std::nullopt) {
    j["status"] = "degraded";
    j["component"] = issue->component;
    j["reason"] = issue->reason;
    return json_response(503, j);
  }
  j["status"] = "ok";
  return json_response(200, j);
}

http::Response HttpApi::Impl::metrics(const http::Server& server) const {
  std::string text = render_prometheus(ctx.metrics, ctx.gauges());
  const auto& s = server.stats();
  using service::append_metric;
  append_metric(text, "soroka_http_connections", "gauge", "Open HTTP connections.", s.connections.load());
  append_metric(text, "soroka_http_connection_memory_bytes", "gauge",
                "Per-connection pools plus buffered request state.", server.memory_bytes());
  append_metric(text, "soroka_http_connections_accepted_total", "counter", "Connections accepted.", s.accepted.load());
  append_metric(text, "soroka_http_connections_refused_total", "counter",
                "Connections refused at accept: no room and nothing to evict.", s.refused.load());
  append_metric(text, "soroka_http_connections_evicted_total", "counter",
                "Connections still sending headers closed to make room.", s.evicted.load());
  append_metric(text, "soroka_http_header_timeouts_total", "counter",
                "Connections closed at the header deadline.", s.header_timeouts.load());
  append_metric(text, "soroka_http_slow_bodies_total", "counter",
                "Connections closed for a body below the minimum rate.", s.slow_bodies.load());
  append_metric(text, "soroka_http_client_disconnects_total", "counter",
                "Clients gone while their answer waited (their jobs cancelled).", s.disconnects.load());
  append_metric(text, "soroka_http_busy_total", "counter", "503 for capacity or a full handler queue.",
                s.busy.load());
  append_metric(text, "soroka_http_too_large_total", "counter", "413: bodies over the route's limit.",
                s.too_large.load());
  append_metric(text, "soroka_http_bad_headers_total", "counter", "431: too many header fields.",
                s.bad_headers.load());
  http::Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = std::move(text);
  return r;
}

HttpApi::HttpApi(ApiContext ctx, ApiLimits limits, ApiKeys keys)
    : impl_(std::make_unique<Impl>(std::move(ctx), limits, std::move(keys))) {
  impl_->wthread = std::thread([p = impl_.get()] { p->wait_loop(); });
}

HttpApi::~HttpApi() {
  {
    std::lock_guard lk(impl_->wmu);
    impl_->wstop = true;
    for (auto& w : impl_->waiters) {
      auto r = to_response(unavailable("the service is shutting down", "shutting_down", kRetryAfterS));
      r.close = true;
      w.reply->send(std::move(r));
    }
  }
  impl_->wcv.notify_all();
  impl_->wthread.join();
}

void HttpApi::set_limits(ApiLimits limits) {
  std::lock_guard lk(impl_->mu);
  impl_->limits = limits;
}

void HttpApi::set_keys(ApiKeys keys) {
  std::lock_guard lk(impl_->mu);
  impl_->keys = std::move(keys);
}

ApiLimits HttpApi::limits() const { return impl_->lim(); }

void HttpApi::install(http::Server& server) {
  Impl* p = impl_.get();
  server.set_error_body([](int status, std::string message) {
    ApiError e{status, std::move(message), status >= 500 ? "server_error" : "invalid_request_error", "", "", 0};
    if (status == 404) e.code = "not_found";
    if (status == 400) e.param = "file";  // the server's own 400s are about the multipart body
    if (status == 413) e = too_large(e.message);
    if (status == 503) e.code = "busy";
    return to_response(e);
  });
  // Every route but /healthz (and /metrics asked from this host) needs a key when keys exist.
  server.set_gate([p](const http::Request& req, const http::Route& route) -> std::optional<http::Response> {
    p->ctx.metrics.requests.fetch_add(1, std::memory_order_relaxed);
    if (route.pattern == "/healthz") return std::nullopt;
    if (route.pattern == "/metrics" && req.peer_loopback) return std::nullopt;
    if (!p->keys_required() || p->owner_of(req)) return std::nullopt;
    return to_response(unauthorized());
  });

  auto make_submit = [p](bool sync) {
    return [p, sync](const http::Request& req, std::optional<http::Response>& refuse) -> std::unique_ptr<http::Handler> {
      const ApiLimits L = p->lim();
      if (!p->ctx.accepting()) {
        refuse = to_response(unavailable("the service is shutting down", "shutting_down", kRetryAfterS));
        return nullptr;
      }
      if (!req.multipart) {
        p->ctx.metrics.reject(Rejection::bad_request);
        refuse = to_response(bad_request("expected a multipart/form-data body with a 'file' part", "file"));
        return nullptr;
      }
      if (p->ctx.level() == oomguard::Level::critical) {
        p->ctx.metrics.reject(Rejection::memory);
        refuse = to_response(unavailable("memory is critically low; retry later", "memory_critical", kRetryAfterS));
        return nullptr;
      }
      if (auto issue = p->ctx.health ? p->ctx.health() : std::nullopt) {
        refuse = to_response(unavailable("the service is degraded (" + issue->component + ": " + issue->reason + "); retry later",
                                         "degraded", kRetryAfterS));
        return nullptr;
      }
      if (auto q = p->ctx.store.queue_length(); q && static_cast<std::uint64_t>(*q) >= L.max_queue) {
        p->ctx.metrics.reject(Rejection::queue_full);
        refuse = to_response(unavailable(fmt::format("the queue is full ({} jobs waiting)", *q), "queue_full", kRetryAfterS));
        return nullptr;
      }
      if (sync) {
        std::lock_guard lk(p->wmu);
        if (p->waiters.size() >= L.max_sync_requests) {
          p->ctx.metrics.reject(Rejection::queue_full);
          refuse = to_response(unavailable(fmt::format("{} synchronous requests are waiting already; use POST /v1/jobs "
                                                       "or retry later",
                                                       p->waiters.size()),
                                           "too_many_sync_requests", kRetryAfterS));
          return nullptr;
        }
      }
      UploadLimits ul;
      ul.dir = p->ctx.uploads_dir;
      ul.max_file_bytes = L.max_file_bytes;
      ul.min_free_bytes = L.min_free_disk;
      ul.in_flight = p->ctx.in_flight;
      return std::make_unique<SubmitHandler>(*p, std::move(ul), sync, p->owner_of(req).value_or("local"));
    };
  };
  auto max_upload = [p] { return p->lim().max_file_bytes + kFormOverhead; };

  http::Route r;
  r.method = "POST";
  r.pattern = "/v1/audio/transcriptions";
  r.multipart = true;
  r.max_body_now = max_upload;
  r.make = make_submit(true);
  server.add(r);
  r.pattern = "/v1/jobs";
  r.make = make_submit(false);
  server.add(r);

  auto plain = [](std::function<http::Response(const http::Request&)> f) {
    return [f](const http::Request& req, std::optional<http::Response>&) -> std::unique_ptr<http::Handler> {
      return std::make_unique<PlainHandler>([f, req] { return f(req); });
    };
  };
  http::Route g;
  g.method = "GET";
  g.pattern = "/v1/jobs/{id}";
  g.make = plain([p](const http::Request& req) { return p->get_job(req); });
  server.add(g);
  http::Route d = g;
  d.method = "DELETE";
  d.make = plain([p](const http::Request& req) { return p->delete_job(req); });
  server.add(d);

  http::Route h;
  h.method = "GET";
  h.pattern = "/healthz";
  h.reserved = true;
  h.inline_complete = true;
  h.make = plain([p](const http::Request&) { return p->healthz(); });
  server.add(h);
  http::Route m = h;
  m.pattern = "/metrics";
  m.make = plain([p, &server](const http::Request&) { return p->metrics(server); });
  server.add(m);
}

}  // namespace soroka::api
