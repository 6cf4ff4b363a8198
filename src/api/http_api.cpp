// HttpApi: the routes of `soroka serve` on the bounded HTTP server (OpenAI-compatible
// transcription, jobs, health, metrics), with API keys, owners and per-key quotas.
#include "api/http_api.h"

#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/form_fields.h"
#include "api/responses.h"
#include "api/sync_waiter.h"
#include "api/upload.h"
#include "engine/factory.h"
#include "util/text.h"

namespace soroka::api {

namespace {

using service::Rejection;

// Multipart framing and the form fields around the file: 1 MiB, plus the known voices' clips
// (10 data URLs of at most 1 MiB decoded, 4/3 of that in base64).
constexpr std::uint64_t kFormOverhead = (1ull << 20) + 10 * ((4ull << 20) / 3 + 4096);
constexpr int kRetryAfterS = 5;

ApiError unauthorized() {
  return {401,
          "Incorrect or missing API key: send 'Authorization: Bearer KEY' with a key from "
          "server.api_keys",
          "invalid_request_error",
          "",
          "invalid_api_key",
          0};
}

// The metrics counter of an error the HTTP side finds itself (the jobs interface counts its own).
Rejection rejection_of(const ApiError& e) {
  return e.status == 413   ? Rejection::too_large
         : e.status == 503 ? Rejection::queue_full
                           : Rejection::bad_request;
}

// The "engines" part of /healthz; true when one of them cannot be reached.
bool engines_json(const std::vector<engine::remote::EngineHealth>& list, nlohmann::json& j) {
  if (list.empty()) return false;
  bool degraded = false;
  nlohmann::json e = nlohmann::json::object();
  for (const auto& h : list) {
    const bool down = h.checked && h.reachable == 0;
    degraded = degraded || down;
    e[h.name] = {{"status", !h.checked ? "unknown" : down ? "unreachable" : "ok"},
                 {"urls", h.urls},
                 {"reachable", h.reachable}};
    if (!h.last_error.empty()) e[h.name]["error"] = h.last_error;
  }
  j["engines"] = std::move(e);
  return degraded;
}

}  // namespace

class SubmitHandler;

struct HttpApi::Impl {
  ApiContext ctx;
  mutable std::mutex mu;  // keys
  ApiKeys keys;
  SyncWaiter waiter;

  Impl(ApiContext c, ApiKeys k) : ctx(std::move(c)), keys(std::move(k)), waiter(ctx.jobs) {}

  // The caller of a request: its key's owner id; with no keys configured one local user who
  // sees every job. nullopt: no valid key.
  std::optional<frontend::Caller> caller_of(const http::Request& req) const {
    std::lock_guard lk(mu);
    if (keys.empty()) return frontend::Caller{"http:local", true};
    auto owner = keys.owner(req.header("authorization"));
    if (!owner) return std::nullopt;
    return frontend::Caller{"http:" + *owner, false};
  }

  std::unique_ptr<http::Handler> make_submit(const http::Request& req, bool sync,
                                             std::optional<http::Response>& refuse);
  void submit(SubmitHandler& h, const std::shared_ptr<http::Reply>& reply);
  http::Response get_job(const http::Request& req);
  http::Response delete_job(const http::Request& req);
  http::Response healthz() const;
  http::Response models(const http::Request& req) const;
  http::Response metrics(const http::Server& server) const;
};

// One upload: received by UploadReceiver on the event loop, submitted on a handler thread.
// The request's settings snapshot is taken once, so its limits agree with each other.
class SubmitHandler final : public http::Handler {
 public:
  SubmitHandler(HttpApi::Impl& api, std::shared_ptr<const Settings> settings, bool sync,
                frontend::Caller caller)
      : api_(api),
        settings_(std::move(settings)),
        rx_(upload_limits(api, *settings_)),
        sync_(sync),
        caller_(std::move(caller)) {}
  std::optional<http::Response> on_form(const http::FormChunk& c) override {
    if (auto e = rx_.on_form(c)) {
      api_.ctx.metrics.reject(rejection_of(*e));
      return to_response(*e);
    }
    return std::nullopt;
  }
  void complete(std::shared_ptr<http::Reply> reply) override { api_.submit(*this, reply); }

  UploadReceiver& rx() { return rx_; }
  const Settings& settings() const { return *settings_; }
  bool sync() const { return sync_; }
  const frontend::Caller& caller() const { return caller_; }

 private:
  static UploadLimits upload_limits(const HttpApi::Impl& api, const Settings& s) {
    UploadLimits ul;
    ul.dir = api.ctx.uploads_dir;
    ul.max_file_bytes = s.admission.max_file_bytes;
    ul.min_free_bytes = s.service.min_free_disk;
    ul.in_flight = api.ctx.in_flight;
    return ul;
  }
  HttpApi::Impl& api_;
  std::shared_ptr<const Settings> settings_;
  UploadReceiver rx_;
  bool sync_;
  frontend::Caller caller_;
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

// Before one body byte is read: the body's shape, whether the service takes a job now, and
// room among the synchronous waiters.
std::unique_ptr<http::Handler> HttpApi::Impl::make_submit(const http::Request& req, bool sync,
                                                          std::optional<http::Response>& refuse) {
  auto settings = ctx.settings.current();
  if (!req.multipart) {
    ctx.metrics.reject(Rejection::bad_request);
    refuse =
        to_response(bad_request("expected a multipart/form-data body with a 'file' part", "file"));
    return nullptr;
  }
  if (auto no = ctx.jobs.admit(frontend::quotas_from(*settings))) {
    refuse = to_response(error_for(*no));
    return nullptr;
  }
  if (const std::size_t n = waiter.waiting(); sync && n >= settings->service.max_sync_requests) {
    ctx.metrics.reject(Rejection::queue_full);
    refuse = to_response(unavailable(
        fmt::format("{} synchronous requests are waiting already; use POST /v1/jobs or retry later",
                    n),
        "too_many_sync_requests", kRetryAfterS));
    return nullptr;
  }
  auto caller =
      caller_of(req).value_or(frontend::Caller{"http:local", false});  // the gate checked the key
  return std::make_unique<SubmitHandler>(*this, std::move(settings), sync, std::move(caller));
}

void HttpApi::Impl::submit(SubmitHandler& h, const std::shared_ptr<http::Reply>& reply) {
  auto refuse = [&](const ApiError& e) {
    ctx.metrics.reject(Rejection::bad_request);
    h.rx().discard();
    reply->send(to_response(e));
  };
  if (auto e = h.rx().finish()) return refuse(*e);
  const ReceivedUpload& up = h.rx().upload();
  FormSpeakers speakers;
  if (auto it = up.lists.find("known_speaker_names[]"); it != up.lists.end()) speakers.names = it->second;
  speakers.clips = up.clips;
  auto form = read_form(up.fields, h.settings().engine, speakers);
  if (!form) return refuse(form.error());
  frontend::Submission s{form->params, {up.path, up.original_name, up.file_bytes}, std::nullopt};
  auto done = ctx.jobs.submit(h.caller(), std::move(s), frontend::quotas_from(h.settings()));
  if (!done) {
    h.rx().discard();
    return reply->send(to_response(error_for(done.error())));
  }
  h.rx().keep();
  if (!h.sync()) {
    reply->send(json_response(
        202, {{"id", done->id}, {"object", "transcription.job"}, {"state", "queued"}}));
    return;
  }
  waiter.add(done->id, h.caller(), reply, form->format,
             std::chrono::steady_clock::now() + h.settings().service.request_timeout);
}

http::Response HttpApi::Impl::get_job(const http::Request& req) {
  auto caller = caller_of(req);
  if (!caller) return to_response(unauthorized());
  auto v = ctx.jobs.get(req.captures.at(0), *caller);
  if (!v) return to_response(error_for(v.error()));
  return json_response(200, job_json(*v));
}

http::Response HttpApi::Impl::delete_job(const http::Request& req) {
  auto caller = caller_of(req);
  if (!caller) return to_response(unauthorized());
  const std::string& id = req.captures.at(0);
  if (auto st = ctx.jobs.cancel(id, *caller, "delete"); !st)
    return to_response(error_for(st.error()));
  auto after = ctx.jobs.get(id, *caller);
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
  j["status"] = engines_json(ctx.engines ? ctx.engines() : std::vector<engine::remote::EngineHealth>{}, j)
                    ? "degraded"
                    : "ok";
  return json_response(200, j);
}

// GET /v1/models and /v1/models/{id}: what `model` may name, in OpenAI's shape.
http::Response HttpApi::Impl::models(const http::Request& req) const {
  const auto settings = ctx.settings.current();
  nlohmann::json data = nlohmann::json::array();
  for (const auto& name : engine::model_names(settings->engine)) {
    const auto* r = find_remote(settings->engine.remote, name);
    nlohmann::json m{{"id", name},
                     {"object", "model"},
                     {"created", 0},
                     {"owned_by", r ? std::string("remote:") + to_string(r->type) : std::string("soroka")}};
    if (!req.captures.empty() && req.captures.at(0) == name) return json_response(200, m);
    data.push_back(std::move(m));
  }
  if (!req.captures.empty())
    return to_response(ApiError{404, fmt::format("model '{}' does not exist", log_escape(req.captures.at(0), 64)),
                                "invalid_request_error", "model", "model_not_found", 0});
  return json_response(200, nlohmann::json{{"object", "list"}, {"data", std::move(data)}});
}

http::Response HttpApi::Impl::metrics(const http::Server& server) const {
  std::string text = render_prometheus(ctx.metrics, ctx.gauges());
  const auto& s = server.stats();
  using service::append_metric;
  append_metric(text, "soroka_http_connections", "gauge", "Open HTTP connections.",
                s.connections.load());
  append_metric(text, "soroka_http_connection_memory_bytes", "gauge",
                "Per-connection pools plus buffered request state.", server.memory_bytes());
  append_metric(text, "soroka_http_connections_accepted_total", "counter", "Connections accepted.",
                s.accepted.load());
  append_metric(text, "soroka_http_connections_refused_total", "counter",
                "Connections refused at accept: no room and nothing to evict.", s.refused.load());
  append_metric(text, "soroka_http_connections_evicted_total", "counter",
                "Connections still sending headers closed to make room.", s.evicted.load());
  append_metric(text, "soroka_http_header_timeouts_total", "counter",
                "Connections closed at the header deadline.", s.header_timeouts.load());
  append_metric(text, "soroka_http_slow_bodies_total", "counter",
                "Connections closed for a body below the minimum rate.", s.slow_bodies.load());
  append_metric(text, "soroka_http_client_disconnects_total", "counter",
                "Clients gone while their answer waited (their jobs cancelled).",
                s.disconnects.load());
  append_metric(text, "soroka_http_busy_total", "counter",
                "503 for capacity or a full handler queue.", s.busy.load());
  append_metric(text, "soroka_http_too_large_total", "counter",
                "413: bodies over the route's limit.", s.too_large.load());
  append_metric(text, "soroka_http_bad_headers_total", "counter", "431: too many header fields.",
                s.bad_headers.load());
  http::Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = std::move(text);
  return r;
}

HttpApi::HttpApi(ApiContext ctx, ApiKeys keys)
    : impl_(std::make_unique<Impl>(std::move(ctx), std::move(keys))) {}

HttpApi::~HttpApi() = default;  // the waiter answers what still waits

void HttpApi::set_keys(ApiKeys keys) {
  std::lock_guard lk(impl_->mu);
  impl_->keys = std::move(keys);
}

namespace {

// GET /v1/models and /v1/models/{id}: OpenAI's clients list models before they transcribe.
void add_model_routes(http::Server& server, HttpApi::Impl* p) {
  http::Route r;
  r.method = "GET";
  for (const char* pattern : {"/v1/models", "/v1/models/{id}"}) {
    r.pattern = pattern;
    r.make = [p](const http::Request& req, std::optional<http::Response>&) -> std::unique_ptr<http::Handler> {
      return std::make_unique<PlainHandler>([p, req] { return p->models(req); });
    };
    server.add(r);
  }
}

// The server's own answers (404, 405, 413, 503...) in OpenAI's error shape.
http::Response server_error_body(int status, std::string message) {
  ApiError e{
      status, std::move(message), status >= 500 ? "server_error" : "invalid_request_error", "", "",
      0};
  if (status == 404) e.code = "not_found";
  if (status == 400) e.param = "file";  // the server's own 400s are about the multipart body
  if (status == 413) e = too_large(e.message);
  if (status == 503) e.code = "busy";
  return to_response(e);
}

}  // namespace

void HttpApi::install(http::Server& server) {
  Impl* p = impl_.get();
  server.set_error_body(server_error_body);
  // Every route but /healthz (and /metrics asked from this host) needs a key when keys exist.
  server.set_gate(
      [p](const http::Request& req, const http::Route& route) -> std::optional<http::Response> {
        p->ctx.metrics.requests.fetch_add(1, std::memory_order_relaxed);
        if (route.pattern == "/healthz" || route.own_auth) return std::nullopt;
        if (route.pattern == "/metrics" && req.peer_loopback) return std::nullopt;
        if (p->caller_of(req)) return std::nullopt;
        return to_response(unauthorized());
      });

  http::Route r;
  r.method = "POST";
  r.pattern = "/v1/audio/transcriptions";
  r.multipart = true;
  r.max_body_now = [p] {
    return p->ctx.settings.current()->admission.max_file_bytes + kFormOverhead;
  };
  r.make = [p](const http::Request& req, std::optional<http::Response>& no) {
    return p->make_submit(req, true, no);
  };
  server.add(r);
  r.pattern = "/v1/jobs";
  r.make = [p](const http::Request& req, std::optional<http::Response>& no) {
    return p->make_submit(req, false, no);
  };
  server.add(r);

  auto plain = [](std::function<http::Response(const http::Request&)> f) {
    return [f](const http::Request& req,
               std::optional<http::Response>&) -> std::unique_ptr<http::Handler> {
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

  add_model_routes(server, p);

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
