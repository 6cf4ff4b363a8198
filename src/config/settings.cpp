// Settings: every tunable of Soroka, from defaults, a TOML file and SOROKA_* variables.
#include "config/settings.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "config/engines_toml.h"
#include "util/units.h"
#include "util/file_reader.h"
#include "util/parse.h"

extern char** environ;

namespace soroka {

namespace {

// A raw value from TOML or the environment, before typing.
using Raw = std::variant<std::int64_t, double, bool, std::string>;

std::string raw_to_string(const Raw& r) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) return "\"" + v + "\"";
        else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else return fmt::format("{}", v);
      },
      r);
}

// millis_or_off: like millis, and 0 turns the feature off.
// text_list: a TOML array of strings, or a comma-separated environment value.
enum class Kind { percent, size, millis, millis_or_off, micros, count, count_or_off, boolean, text, text_list };

std::vector<std::string> split_list(const std::string& t, char sep) {
  std::vector<std::string> out;
  std::size_t b = 0;
  while (b <= t.size()) {
    auto e = t.find(sep, b);
    if (e == std::string::npos) e = t.size();
    if (e > b) out.push_back(t.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& v, const char* sep) {
  std::string o;
  for (const auto& x : v) o += (o.empty() ? "" : sep) + x;
  return o;
}

struct Field {
  const char* section;
  const char* key;
  Kind kind;
  const char* help;
  std::function<void(Settings&, double, std::uint64_t, bool, const std::string&)> set;
  std::function<std::string(const Settings&)> get;
};

const std::vector<Field>& fields() {
  using ms = std::chrono::milliseconds;
  using us = std::chrono::microseconds;
  static const std::vector<Field> f = {
      {"memory", "warning_percent", Kind::percent, "used share of the limit that is a warning",
       [](Settings& s, double d, auto, auto, auto&) { s.monitor.thresholds.warning_percent = d; },
       [](const Settings& s) { return fmt::format("{}", s.monitor.thresholds.warning_percent); }},
      {"memory", "critical_percent", Kind::percent, "used share of the limit that is critical",
       [](Settings& s, double d, auto, auto, auto&) { s.monitor.thresholds.critical_percent = d; },
       [](const Settings& s) { return fmt::format("{}", s.monitor.thresholds.critical_percent); }},
      {"memory", "min_available", Kind::size, "critical when less than this is available",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) {
         s.monitor.thresholds.min_available_bytes = b;
       },
       [](const Settings& s) { return format_size(s.monitor.thresholds.min_available_bytes); }},
      {"memory", "hysteresis_percent", Kind::percent,
       "points below a threshold before its level is left",
       [](Settings& s, double d, auto, auto, auto&) { s.monitor.thresholds.hysteresis_percent = d; },
       [](const Settings& s) { return fmt::format("{}", s.monitor.thresholds.hysteresis_percent); }},
      {"memory", "max_file_size", Kind::size, "largest input file accepted",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.admission.max_file_bytes = b; },
       [](const Settings& s) { return format_size(s.admission.max_file_bytes); }},
      {"monitor", "poll_interval_ms", Kind::millis, "sampling floor between kernel events",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.monitor.poll_interval = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.monitor.poll_interval.count()); }},
      {"monitor", "fast_poll_interval_ms", Kind::millis,
       "sampling floor at warning or above (at most 100 recommended)",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.monitor.fast_poll_interval = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.monitor.fast_poll_interval.count()); }},
      {"monitor", "rescan_interval_ms", Kind::millis, "how often cgroup limits are re-discovered",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.monitor.rescan_interval = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.monitor.rescan_interval.count()); }},
      {"monitor", "cgroup_v1_thresholds", Kind::boolean, "use cgroup v1 eventfd thresholds",
       [](Settings& s, auto, auto, bool b, auto&) { s.monitor.use_v1_thresholds = b; },
       [](const Settings& s) { return s.monitor.use_v1_thresholds ? "true" : "false"; }},
      {"monitor", "cgroup_v2_events", Kind::boolean, "watch cgroup v2 memory.events",
       [](Settings& s, auto, auto, bool b, auto&) { s.monitor.use_v2_events = b; },
       [](const Settings& s) { return s.monitor.use_v2_events ? "true" : "false"; }},
      {"monitor", "psi_trigger", Kind::boolean, "use a PSI trigger where the kernel allows",
       [](Settings& s, auto, auto, bool b, auto&) { s.monitor.use_psi_trigger = b; },
       [](const Settings& s) { return s.monitor.use_psi_trigger ? "true" : "false"; }},
      {"monitor", "psi_stall_us", Kind::micros, "PSI trigger: stall time per window",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.monitor.psi_stall = us(v); },
       [](const Settings& s) { return fmt::format("{}", s.monitor.psi_stall.count()); }},
      {"monitor", "psi_window_us", Kind::micros, "PSI trigger: window (500000..10000000)",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.monitor.psi_window = us(v); },
       [](const Settings& s) { return fmt::format("{}", s.monitor.psi_window.count()); }},
      {"monitor", "trim_heap", Kind::boolean, "malloc_trim after cleanup",
       [](Settings& s, auto, auto, bool b, auto&) { s.monitor.trim_heap = b; },
       [](const Settings& s) { return s.monitor.trim_heap ? "true" : "false"; }},
      {"server", "listen", Kind::text, "HOST:PORT the HTTP API listens on",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.service.listen = t; },
       [](const Settings& s) { return s.service.listen; }},
      {"server", "state_dir", Kind::text, "jobs database, uploads, results (default ./soroka-state)",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.service.state_dir = t; },
       [](const Settings& s) { return s.service.state_dir; }},
      {"server", "request_timeout_ms", Kind::millis, "how long a synchronous request waits",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.request_timeout = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.request_timeout.count()); }},
      {"server", "shutdown_timeout_ms", Kind::millis, "SIGTERM: time running jobs get to finish",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.shutdown_timeout = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.shutdown_timeout.count()); }},
      {"server", "api_keys", Kind::text_list, "API keys (Authorization: Bearer KEY); never logged",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.service.api_keys = split_list(t, '\n'); },
       [](const Settings& s) { return s.service.api_keys.empty() ? std::string() : std::string("(set)"); }},
      {"server", "api_keys_file", Kind::text, "file of API keys, one a line",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.service.api_keys_file = t; },
       [](const Settings& s) { return s.service.api_keys_file; }},
      {"server", "key_max_jobs", Kind::count_or_off, "jobs queued or running per key (0: no limit)",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.key_max_jobs = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.key_max_jobs); }},
      {"server", "key_submissions_per_minute", Kind::count_or_off, "submissions per minute per key (0: no limit)",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.key_submissions_per_minute = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.key_submissions_per_minute); }},
      {"server", "key_max_stored", Kind::size, "bytes of uploads kept per key (0: no limit)",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.service.key_max_stored = b; },
       [](const Settings& s) { return format_size(s.service.key_max_stored); }},
      {"server", "max_connections", Kind::count, "open HTTP connections in all",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.max_connections = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.max_connections); }},
      {"server", "max_connections_per_client", Kind::count, "open HTTP connections from one address",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.max_connections_per_client = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.max_connections_per_client); }},
      {"server", "header_timeout_ms", Kind::millis, "request line and headers must arrive within this",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.header_timeout = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.header_timeout.count()); }},
      {"server", "min_body_rate", Kind::size, "bytes per second a body must average (after header_timeout)",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.service.min_body_rate = b; },
       [](const Settings& s) { return format_size(s.service.min_body_rate); }},
      {"server", "max_sync_requests", Kind::count, "synchronous transcriptions waiting at once",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.max_sync_requests = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.max_sync_requests); }},
      {"jobs", "max_queue", Kind::count, "queued jobs beyond which uploads get 503",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.max_queue = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.max_queue); }},
      {"jobs", "max_running_per_owner", Kind::count_or_off, "jobs one API key runs at once (0: no limit)",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.max_running_per_owner = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.max_running_per_owner); }},
      {"jobs", "max_attempts", Kind::count, "runs a job may fail (OOM kill, crash) before it fails",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.max_attempts = v; },
       [](const Settings& s) { return fmt::format("{}", s.service.max_attempts); }},
      {"jobs", "retention_ms", Kind::millis, "finished jobs and results are deleted after this",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.retention = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.retention.count()); }},
      {"worker", "memory_per_job", Kind::size, "memory reserved (and the cgroup limit) per worker",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.service.worker_memory = b; },
       [](const Settings& s) { return format_size(s.service.worker_memory); }},
      {"worker", "max_memory", Kind::size, "cap on any worker's memory limit (0: none)",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.service.worker_max_memory = b; },
       [](const Settings& s) { return format_size(s.service.worker_max_memory); }},
      {"jobs", "min_free_disk", Kind::size,
       "free space kept on the state dir's disk; uploads that would take it below are refused",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.service.min_free_disk = b; },
       [](const Settings& s) { return format_size(s.service.min_free_disk); }},
      {"worker", "timeout_ms", Kind::millis,
       "a job running longer is stopped (and retried while attempts remain)",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.worker_timeout = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.worker_timeout.count()); }},
      {"worker", "stall_timeout_ms", Kind::millis_or_off,
       "a worker with a job that reports no progress this long is killed, the job retried; 0: off",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.worker_stall_timeout = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.worker_stall_timeout.count()); }},
      {"worker", "probe_memory", Kind::size, "memory limit of the child that probes an upload",
       [](Settings& s, auto, std::uint64_t b, auto, auto&) { s.service.probe_memory = b; },
       [](const Settings& s) { return format_size(s.service.probe_memory); }},
      {"worker", "probe_timeout_ms", Kind::millis, "time the child that probes an upload may take",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.probe_timeout = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.probe_timeout.count()); }},
      {"worker", "idle_ttl_ms", Kind::millis_or_off,
       "a warm worker (model loaded) idle this long ends; 0: a worker per job",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.service.worker_idle_ttl = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.service.worker_idle_ttl.count()); }},
      {"worker", "sandbox", Kind::boolean,
       "seccomp filter, Landlock and no network for workers (false: for debugging only)",
       [](Settings& s, auto, auto, bool b, auto&) { s.service.worker_sandbox = b; },
       [](const Settings& s) { return s.service.worker_sandbox ? "true" : "false"; }},
      {"engine", "model_dir", Kind::text, "pocketsphinx model directory",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.engine.model_dir = t; },
       [](const Settings& s) { return s.engine.model_dir; }},
      {"engine", "simulation", Kind::boolean,
       "SIMULATION ONLY: accept the fake sim-* models (tests and benchmarks)",
       [](Settings& s, auto, auto, bool b, auto&) { s.engine.simulation = b; },
       [](const Settings& s) { return s.engine.simulation ? "true" : "false"; }},
      {"telegram", "token", Kind::text, "the bot's token from @BotFather; never logged",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.token = t; },
       [](const Settings& s) { return s.telegram.token.empty() ? std::string() : std::string("(set)"); }},
      {"telegram", "token_file", Kind::text, "a file holding the bot's token (systemd LoadCredential=)",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.token_file = t; },
       [](const Settings& s) { return s.telegram.token_file; }},
      {"telegram", "api_url", Kind::text, "the Bot API server (a local one works the same)",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.api_url = t; },
       [](const Settings& s) { return s.telegram.api_url; }},
      {"telegram", "local_api", Kind::boolean, "the Bot API server runs with --local (files from disk, up to 2000 MB)",
       [](Settings& s, auto, auto, bool b, auto&) { s.telegram.local_api = b; },
       [](const Settings& s) { return s.telegram.local_api ? "true" : "false"; }},
      {"telegram", "allowed_users", Kind::text_list, "user ids who may use the bot; empty: everyone",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.allowed_users = split_list(t, '\n'); },
       [](const Settings& s) { return join_list(s.telegram.allowed_users, ","); }},
      {"telegram", "admins", Kind::text_list, "user ids who may use /stats",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.admins = split_list(t, '\n'); },
       [](const Settings& s) { return join_list(s.telegram.admins, ","); }},
      {"telegram", "user_max_running", Kind::count, "a user's jobs running at once",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.telegram.user_max_running = v; },
       [](const Settings& s) { return fmt::format("{}", s.telegram.user_max_running); }},
      {"telegram", "user_max_queued", Kind::count_or_off, "a user's jobs waiting beyond those running",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.telegram.user_max_queued = v; },
       [](const Settings& s) { return fmt::format("{}", s.telegram.user_max_queued); }},
      {"telegram", "progress_interval_ms", Kind::millis, "least time between edits of a progress message",
       [](Settings& s, auto, std::uint64_t v, auto, auto&) { s.telegram.progress_interval = ms(v); },
       [](const Settings& s) { return fmt::format("{}", s.telegram.progress_interval.count()); }},
      {"telegram", "webhook_url", Kind::text, "public https URL Telegram posts updates to (empty: long polling)",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.webhook_url = t; },
       [](const Settings& s) { return s.telegram.webhook_url; }},
      {"telegram", "webhook_secret", Kind::text, "the webhook's secret token; never logged",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.webhook_secret = t; },
       [](const Settings& s) { return s.telegram.webhook_secret.empty() ? std::string() : std::string("(set)"); }},
      {"telegram", "webhook_secret_file", Kind::text, "a file holding the webhook's secret token",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.webhook_secret_file = t; },
       [](const Settings& s) { return s.telegram.webhook_secret_file; }},
      {"telegram", "model", Kind::text, "the model the bot's jobs use",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.telegram.model = t; },
       [](const Settings& s) { return s.telegram.model; }},
      {"log", "level", Kind::text, "trace, debug, info, warn, error, critical or off",
       [](Settings& s, auto, auto, auto, const std::string& t) { s.log_level = t; },
       [](const Settings& s) { return s.log_level; }},
  };
  return f;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::percent: return "percent";
    case Kind::size: return "size";
    case Kind::millis: return "milliseconds";
    case Kind::millis_or_off: return "milliseconds (0: off)";
    case Kind::micros: return "microseconds";
    case Kind::count: return "integer";
    case Kind::count_or_off: return "integer (0: off)";
    case Kind::text_list: return "list of strings";
    case Kind::boolean: return "bool";
    case Kind::text: return "string";
  }
  return "?";
}

// Durations end up in steady_clock arithmetic (int64 nanoseconds, where overflow is undefined
// behaviour): 100 years is beyond any sensible setting and leaves ~190 years of headroom.
constexpr std::uint64_t kMaxDurationNs = 100ull * 365 * 24 * 3600 * 1'000'000'000;

// Types a raw value for a field and stores it; from_env: values arrive as strings.
Result<void> assign(Settings& s, const Field& f, const Raw& raw, const std::string& origin) {
  const std::string name = fmt::format("{}.{}", f.section, f.key);
  auto bad = [&](std::string_view why) {
    return fail(fmt::format("{}: invalid value {} for {}: {}", origin, raw_to_string(raw), name,
                            why),
                EINVAL);
  };
  const std::string* str = std::get_if<std::string>(&raw);
  switch (f.kind) {
    case Kind::percent: {
      std::optional<double> d;
      if (auto* i = std::get_if<std::int64_t>(&raw)) d = static_cast<double>(*i);
      else if (auto* x = std::get_if<double>(&raw)) d = *x;
      else if (str) d = parse::f64(*str);
      if (!d) return bad("expected a number");
      if (!(*d >= 0 && *d <= 100)) return bad("expected a percentage in [0, 100]");
      f.set(s, *d, 0, false, {});
      return {};
    }
    case Kind::size:
    case Kind::millis:
    case Kind::millis_or_off:
    case Kind::micros:
    case Kind::count:
    case Kind::count_or_off: {
      std::optional<std::uint64_t> v;
      if (auto* i = std::get_if<std::int64_t>(&raw)) {
        if (*i >= 0) v = static_cast<std::uint64_t>(*i);
      } else if (str) {
        v = f.kind == Kind::size ? parse_size(*str) : parse::u64(*str);
      }
      if (!v)
        return bad(f.kind == Kind::size ? "expected bytes or a size like \"200MiB\""
                                        : "expected a non-negative integer");
      if (f.kind != Kind::size && f.kind != Kind::millis_or_off && f.kind != Kind::count_or_off && *v == 0)
        return bad("must be greater than 0");
      const bool millis = f.kind == Kind::millis || f.kind == Kind::millis_or_off;
      if ((millis && *v > kMaxDurationNs / 1'000'000) ||
          (f.kind == Kind::micros && *v > kMaxDurationNs / 1'000))
        return bad("must be at most 100 years");
      f.set(s, 0, *v, false, {});
      return {};
    }
    case Kind::boolean: {
      std::optional<bool> b;
      if (auto* x = std::get_if<bool>(&raw)) b = *x;
      else if (str) {
        std::string t = *str;
        std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
        if (t == "1" || t == "true" || t == "yes" || t == "on") b = true;
        if (t == "0" || t == "false" || t == "no" || t == "off") b = false;
      }
      if (!b) return bad("expected true or false");
      f.set(s, 0, 0, *b, {});
      return {};
    }
    case Kind::text_list:
    case Kind::text: {
      if (!str) return bad(f.kind == Kind::text ? "expected a string" : "expected a list of strings");
      f.set(s, 0, 0, false, *str);
      return {};
    }
  }
  return bad("unsupported type");
}

const Field* find_field(std::string_view section, std::string_view key) {
  for (const auto& f : fields())
    if (section == f.section && key == f.key) return &f;
  return nullptr;
}

Result<void> validate(const Settings& s, const std::string& origin) {
  if (auto r = s.monitor.thresholds.validate(); !r)
    return std::unexpected(std::move(r.error()).with_context(origin));
  if (s.monitor.fast_poll_interval > s.monitor.poll_interval)
    return fail(fmt::format("{}: invalid monitor.fast_poll_interval_ms = {}: must not exceed "
                            "monitor.poll_interval_ms ({})",
                            origin, s.monitor.fast_poll_interval.count(),
                            s.monitor.poll_interval.count()),
                EINVAL);
  if (s.admission.max_file_bytes == 0)
    return fail(origin + ": invalid memory.max_file_size = 0: must be positive", EINVAL);
  if (s.service.probe_memory == 0)
    return fail(origin + ": invalid worker.probe_memory = 0: must be positive", EINVAL);
  if (s.engine.model_dir.empty())
    return fail(origin + ": invalid engine.model_dir = \"\": name the pocketsphinx model directory", EINVAL);
  if (auto r = validate_remote_engines(s.engine.remote, origin); !r) return r;
  for (const auto* list : {&s.telegram.allowed_users, &s.telegram.admins})
    for (const auto& id : *list)
      if (!parse::i64(id))
        return fail(fmt::format("{}: invalid telegram user id \"{}\": expected an integer", origin, id),
                    EINVAL);
  if (!s.telegram.webhook_url.empty() && !s.telegram.webhook_url.starts_with("https://"))
    return fail(fmt::format("{}: invalid telegram.webhook_url = \"{}\": Telegram posts only to https:// URLs",
                            origin, s.telegram.webhook_url),
                EINVAL);
  if (!s.telegram.api_url.starts_with("https://") && !s.telegram.api_url.starts_with("http://"))
    return fail(fmt::format("{}: invalid telegram.api_url = \"{}\": expected http:// or https://", origin,
                            s.telegram.api_url),
                EINVAL);
  static constexpr std::string_view levels[] = {"trace", "debug", "info", "warn",
                                                "error", "critical", "off"};
  if (std::find(std::begin(levels), std::end(levels), s.log_level) == std::end(levels))
    return fail(fmt::format("{}: invalid log.level = \"{}\": expected one of trace, debug, "
                            "info, warn, error, critical, off",
                            origin, s.log_level),
                EINVAL);
  return {};
}

}  // namespace

std::vector<std::string> default_config_paths(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  if (auto it = env.find("SOROKA_CONFIG"); it != env.end() && !it->second.empty())
    out.push_back(it->second);
  out.push_back("./soroka.toml");
  if (auto it = env.find("XDG_CONFIG_HOME"); it != env.end() && !it->second.empty())
    out.push_back(it->second + "/soroka/soroka.toml");
  else if (auto h = env.find("HOME"); h != env.end() && !h->second.empty())
    out.push_back(h->second + "/.config/soroka/soroka.toml");
  out.push_back("/etc/soroka/soroka.toml");
  return out;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

Result<void> apply_toml(Settings& s, std::string_view text, const std::string& origin) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return fail(fmt::format("{}:{}:{}: TOML syntax error: {}", origin, b.line, b.column,
                            e.description()),
                EINVAL);
  }
  for (const auto& [section, node] : tbl) {
    if (section.str() == "engines") continue;  // [engines.NAME]: apply_engines_toml below, same table
    const toml::table* sec = node.as_table();
    if (!sec)
      return fail(fmt::format("{}: '{}' must be a [section]", origin, section.str()), EINVAL);
    for (const auto& [key, value] : *sec) {
      const Field* f = find_field(section.str(), key.str());
      if (!f)
        return fail(fmt::format("{}: unknown key {}.{}", origin, section.str(), key.str()),
                    EINVAL);
      Raw raw;
      if (const toml::array* arr = value.as_array(); arr && f->kind == Kind::text_list) {
        std::vector<std::string> items;
        for (const auto& el : *arr) {
          auto t = el.value_exact<std::string>();
          if (!t)
            return fail(fmt::format("{}: {}.{} must be a list of strings", origin, section.str(), key.str()),
                        EINVAL);
          items.push_back(*t);
        }
        if (auto r = assign(s, *f, Raw{join_list(items, "\n")}, origin); !r) return r;
        continue;
      }
      if (auto i = value.value_exact<std::int64_t>()) raw = *i;
      else if (auto d = value.value_exact<double>()) raw = *d;
      else if (auto b = value.value_exact<bool>()) raw = *b;
      else if (auto t = value.value_exact<std::string>()) raw = *t;
      else
        return fail(fmt::format("{}: {}.{} has an unsupported type", origin, section.str(),
                                key.str()),
                    EINVAL);
      if (auto r = assign(s, *f, raw, origin); !r) return r;
    }
  }
  if (auto r = apply_engines_toml(s.engine.remote, tbl, origin); !r) return r;
  return validate(s, origin);
}

namespace {

// Older names of variables, read unless the current name is set too.
struct EnvAlias {
  const char* old_name;
  const char* section;
  const char* key;
};
constexpr EnvAlias kEnvAliases[] = {
    {"SOROKA_ENABLE_SIM_ENGINE", "engine", "simulation"},  // tests and benches set it
};

std::string env_name(const Field& f) {
  std::string var = fmt::format("SOROKA_{}_{}", f.section, f.key);
  std::transform(var.begin(), var.end(), var.begin(), [](unsigned char c) { return std::toupper(c); });
  return var;
}

}  // namespace

Result<void> apply_env(Settings& s, const std::map<std::string, std::string>& env) {
  for (const auto& a : kEnvAliases) {
    const Field* f = find_field(a.section, a.key);
    auto it = env.find(a.old_name);
    if (!f || it == env.end() || env.contains(env_name(*f))) continue;
    if (auto r = assign(s, *f, Raw{it->second}, std::string("environment ") + a.old_name); !r) return r;
  }
  for (const auto& f : fields()) {
    const std::string var = env_name(f);
    auto it = env.find(var);
    if (it == env.end()) continue;
    std::string v = it->second;
    if (f.kind == Kind::text_list) std::replace(v.begin(), v.end(), ',', '\n');
    if (auto r = assign(s, f, Raw{v}, "environment " + var); !r) return r;
  }
  return validate(s, "environment");
}

Result<Settings> load_settings(const std::optional<std::string>& config_path,
                               const std::map<std::string, std::string>& env) {
  Settings s;
  std::optional<std::string> path = config_path;
  if (auto it = env.find("SOROKA_CONFIG"); !path && it != env.end() && !it->second.empty())
    path = it->second;  // named explicitly: must exist
  if (!path) {
    for (const auto& p : default_config_paths(env)) {
      if (::access(p.c_str(), F_OK) == 0) {
        path = p;
        break;
      }
    }
  }
  if (path) {
    auto text = read_file(*path);
    if (!text) return std::unexpected(std::move(text.error()).with_context("config"));
    if (auto r = apply_toml(s, *text, *path); !r) return std::unexpected(r.error());
    s.loaded_from = *path;
  }
  if (auto r = apply_env(s, env); !r) return std::unexpected(r.error());
  auto var = [&](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  s.service.systemd_state_dir = var("STATE_DIRECTORY");
  s.service.credentials_dir = var("CREDENTIALS_DIRECTORY");
  return s;
}

std::string effective_state_dir(const ServiceSettings& s) {
  if (!s.state_dir.empty()) return s.state_dir;
  if (!s.systemd_state_dir.empty()) return s.systemd_state_dir;
  return "soroka-state";
}

bool telegram_configured(const Settings& s) {
  return !s.telegram.token.empty() || !s.telegram.token_file.empty() ||
         (!s.service.credentials_dir.empty() &&
          ::access((s.service.credentials_dir + "/telegram_token").c_str(), R_OK) == 0);
}

std::vector<KeyDoc> settings_keys() {
  Settings defaults;
  std::vector<KeyDoc> out;
  for (const auto& f : fields())
    out.push_back({fmt::format("{}.{}", f.section, f.key), kind_name(f.kind), f.get(defaults),
                   f.help});
  return out;
}

}  // namespace soroka
