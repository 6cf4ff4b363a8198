// Settings: every tunable of Soroka, from defaults, a TOML file and SOROKA_* variables.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/remote_engines.h"
#include "oomguard/admission.h"
#include "oomguard/monitor.h"
#include "util/result.h"

namespace soroka {

// `soroka serve`: the HTTP server, the job queue and the workers ([server], [jobs], [worker]).
struct ServiceSettings {
  std::string listen = "127.0.0.1:8080";
  std::string state_dir;  // "" : $STATE_DIRECTORY (systemd StateDirectory=), else ./soroka-state
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};  // synchronous requests
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(20)};  // SIGTERM drain
  std::uint64_t max_queue = 64;   // queued jobs beyond which uploads get 503
  std::uint64_t max_attempts = 3;
  std::chrono::milliseconds retention{std::chrono::hours(24)};  // finished jobs and results
  // Reservation (and cgroup limit) of one pocketsphinx worker: ~91 MiB decoder + FFmpeg +
  // buffers; 60 MiB peak measured for a 10 s file, so 256 MiB leaves room for long inputs.
  std::uint64_t worker_memory = 256ull << 20;
  std::uint64_t worker_max_memory = 0;  // cap on any worker's limit; 0: none
  std::chrono::milliseconds worker_timeout{std::chrono::hours(2)};  // per job; retried
  // A worker silent this long while it has a job is stuck (SIGSTOP, a hung read): it is killed
  // and the job retried. A healthy worker reports at least every stall_timeout/4 from its
  // decode loop; its longest silence is one segment's recognition: 20 s of audio at the RTF
  // 0.41 measured here is ~8 s, so 2 min leaves 15x for a loaded one-core host. 0: off.
  std::chrono::milliseconds worker_stall_timeout{std::chrono::minutes(2)};
  // Free space kept on the state dir's file system: uploads that would go below it are
  // refused, so the job database can always commit. SQLite's WAL grows to ~4 MiB (1000 pages
  // of 4 KiB) before a checkpoint copies it into the database file, which may grow as much;
  // 64 MiB is 16x that WAL and a small share of any disk.
  std::uint64_t min_free_disk = 64ull << 20;
  // Workers stay warm (model loaded) between jobs this long; memory warning ends them sooner.
  std::chrono::milliseconds worker_idle_ttl{std::chrono::minutes(5)};

  // Who may call the API: `Authorization: Bearer KEY`. With no key, only a loopback listener
  // starts. The file has one key a line (systemd: LoadCredential=, $CREDENTIALS_DIRECTORY).
  std::vector<std::string> api_keys;
  std::string api_keys_file;
  // Per key (0: no limit of its own): jobs queued or running, submissions per minute, bytes of
  // uploads and results kept.
  std::uint64_t key_max_jobs = 32;
  std::uint64_t key_submissions_per_minute = 120;
  std::uint64_t key_max_stored = 4ull << 30;
  // [jobs] max_running_per_owner: jobs one owner (an API key) runs at once; the dispatcher
  // starts the next queued job of another owner meanwhile. 0: no limit. The bot's users have
  // telegram.user_max_running instead.
  std::uint64_t max_running_per_owner = 0;
  // HTTP bounds (see http/limits.h for why these numbers).
  std::uint64_t max_connections = 1024;
  std::uint64_t max_connections_per_client = 256;
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::uint64_t min_body_rate = 16 * 1024;  // bytes per second, on average, after header_timeout
  // Synchronous transcriptions waiting at once; beyond, 503 + Retry-After (they hold a
  // connection and a slot of the reserved room for the whole job).
  std::uint64_t max_sync_requests = 32;
  // Workers run untrusted input under worker/sandbox.h (seccomp, Landlock, own netns).
  bool worker_sandbox = true;
  // Uploads are probed by `soroka probe` in a child with this memory limit and time: FFmpeg
  // reads at most 2 MB and 3 s of media to probe; the child peaks at ~40 MiB (binary, FFmpeg
  // and pocketsphinx libraries mapped), so 192 MiB is 4x that.
  std::uint64_t probe_memory = 192ull << 20;
  std::chrono::milliseconds probe_timeout{std::chrono::seconds(15)};

  // Not keys: what systemd passes in the environment, read by load_settings.
  std::string systemd_state_dir;  // $STATE_DIRECTORY (StateDirectory=)
  std::string credentials_dir;    // $CREDENTIALS_DIRECTORY (LoadCredential=)
};

// Where `soroka serve` keeps its state when --state-dir is not given: server.state_dir, else
// $STATE_DIRECTORY, else ./soroka-state.
std::string effective_state_dir(const ServiceSettings& s);
// [engine]: the speech engine's model, for `soroka transcribe` and every worker.
struct EngineSettings {
  // pocketsphinx: the directory with en-us/, en-us.lm.bin and cmudict-en-us.dict (Debian's
  // pocketsphinx-en-us package).
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
  // SIMULATION ONLY: accept the model names sim-* (engine/sim_engine.h), fake engines with
  // bigger models' memory profiles, for tests and benchmarks. The environment variable
  // SOROKA_ENABLE_SIM_ENGINE=1 is an older name for SOROKA_ENGINE_SIMULATION=true.
  bool simulation = false;
  // [engines.NAME] tables: Whisper-class HTTP servers as engines (config/remote_engines.h).
  // From the config file only (no SOROKA_* variables: a list of tables has no flat names).
  std::vector<RemoteEngineSettings> remote;
};

// [telegram]: the bot (telegram/bot.h). It runs when a token is configured.
struct TelegramSettings {
  std::string token;       // from @BotFather; never logged (env SOROKA_TELEGRAM_TOKEN)
  std::string token_file;  // a file holding it (systemd LoadCredential=); read at start
  std::string api_url = "https://api.telegram.org";  // or a local Bot API server's URL
  // The Bot API server runs with --local: getFile answers an absolute path on this host and
  // files up to 2000 MB may be fetched (the cloud's getFile stops at 20 MB).
  bool local_api = false;
  std::vector<std::string> allowed_users;  // user ids; empty: everyone
  std::vector<std::string> admins;         // user ids who may use /stats
  // A user's jobs at once: running and waiting beyond that. The scheduler runs jobs in queue
  // order, so the two together bound what one user holds in the queue (see README).
  std::uint64_t user_max_running = 1;
  std::uint64_t user_max_queued = 5;
  std::chrono::milliseconds progress_interval{3000};  // between edits of a progress message
  std::string model = "pocketsphinx";                 // the model the bot's jobs use
  // Webhook mode (soroka serve only): Telegram posts updates to this public https URL (a
  // reverse proxy in front passes them to our listener at the URL's path) with the secret in
  // X-Telegram-Bot-Api-Secret-Token. Empty: long polling.
  std::string webhook_url;
  std::string webhook_secret;       // 1-256 of A-Z a-z 0-9 _ -; never logged
  std::string webhook_secret_file;  // or a file holding it (systemd LoadCredential=)
};

struct Settings {
  oomguard::MonitorParams monitor;  // includes the thresholds
  oomguard::AdmissionParams admission;
  ServiceSettings service;            // soroka serve: [server], [jobs], [worker]
  EngineSettings engine;
  TelegramSettings telegram;
  std::string log_level = "info";

  std::string loaded_from;  // the config file used, empty when none
};

// Whether the bot should run: a token or a token file, or the systemd credential
// telegram_token under $CREDENTIALS_DIRECTORY.
bool telegram_configured(const Settings& s);

// Where `soroka` looks for a config file when --config is not given, first match wins:
// $SOROKA_CONFIG, ./soroka.toml, $XDG_CONFIG_HOME/soroka/soroka.toml (default
// ~/.config/soroka/soroka.toml), /etc/soroka/soroka.toml.
std::vector<std::string> default_config_paths(const std::map<std::string, std::string>& env);

// The environment as a map (for tests: pass your own).
std::map<std::string, std::string> current_environment();

// Precedence, lowest first: defaults, the config file, SOROKA_<SECTION>_<KEY> variables
// (e.g. SOROKA_MEMORY_WARNING_PERCENT=80). Every environment variable Soroka reads goes
// through `env` here (systemd's STATE_DIRECTORY and CREDENTIALS_DIRECTORY too). An explicit `config_path` that does not exist is
// (e.g. SOROKA_MEMORY_WARNING_PERCENT=80; SOROKA_ENABLE_SIM_ENGINE is an alias of
// SOROKA_ENGINE_SIMULATION, which wins when both are set). An explicit `config_path` that does not exist is
// an error; a missing default one is not. Unknown keys and invalid values are errors naming
// the key, the value and where it came from.
Result<Settings> load_settings(const std::optional<std::string>& config_path,
                               const std::map<std::string, std::string>& env);

// Parses TOML text onto `s` (exposed for tests). `origin` names the source in errors.
Result<void> apply_toml(Settings& s, std::string_view text, const std::string& origin);
Result<void> apply_env(Settings& s, const std::map<std::string, std::string>& env);

// Every key as "section.key", with its type and default, for docs and --help.
struct KeyDoc {
  std::string key;
  std::string type;
  std::string default_value;
  std::string help;
};
std::vector<KeyDoc> settings_keys();

}  // namespace soroka
