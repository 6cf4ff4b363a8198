// soroka worker (hidden): a process `soroka serve` starts to run jobs, keeping its model warm.
//
// Protocol, one JSON object a line (the scheduler's side is service/scheduler.cpp, decoding
// of both ends in worker/protocol.h):
//   stdin   {"job":ID,"input":PATH,"result":PATH,"language":"en","degrade":0,
//            "heartbeat_ms":N}                             run a job
//           shed                                         memory is critical: give back caches
//           end of input                                 exit 0
//   stdout  {"ready":true,"rss_bytes":N,"sandbox":{...}}  the model is loaded, the sandbox on
//           {"job":ID,"progress":0.42}                     every 2 %, and repeated at least
//                                                        every heartbeat_ms (default 10 s) from
//                                                        the decode loop: silence means stuck
//           {"job":ID,"done":true,"peak_bytes":N}        result written (atomically)
//           {"job":ID,"error":MSG,"user_error":true}     the input cannot be transcribed
//           {"job":ID,"error":MSG}                       our own failure; the worker exits 1
// One job at a time. A worker that failed on its own, or whose memory the kernel took, is
// replaced by a fresh one; the service retries the job there.
// With --sandbox-input DIR --sandbox-results DIR (what the service passes unless
// worker.sandbox = false), the worker sandboxes itself once the model is loaded, before it
// reads its first job (worker/sandbox.h): it can then read inputs only in the first dir and
// write results only in the second.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/pocketsphinx_engine.h"
#include "media/decoder.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "oomguard/probe/process.h"
#include "oomguard/sampler.h"
#include "pipeline/formats.h"
#include "pipeline/pipeline.h"
#include "service/sim_model.h"
#include "util/durable.h"
#include "util/text.h"
#include "util/file_reader.h"
#include "util/log.h"
#include "worker/sandbox.h"
#include "worker/protocol.h"
#include "util/units.h"

namespace soroka::cli {

namespace {

namespace fs = std::filesystem;

// Exit codes the scheduler reads: 3 = the job's input (or model choice) cannot be
// transcribed, do not retry; 1 = the worker itself failed, retry.
constexpr int kUserError = 3;

struct WorkerArgs {
  std::string model = "pocketsphinx";
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
  std::string sandbox_input, sandbox_results;  // both or neither: see the top of this file
};

using worker::JobRequest;

std::mutex out_mu;
void emit(const nlohmann::json& j) {
  std::lock_guard lk(out_mu);
  std::string line = j.dump();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// Reads stdin on its own thread: job lines queue up for the main thread, "shed" is acted on
// at once (the main thread may be busy with a job), end of input ends the worker.
class Inbox {
 public:
  explicit Inbox(std::function<void()> on_shed) : on_shed_(std::move(on_shed)) {
    std::thread([this] { read_loop(); }).detach();
  }
  // The next job line; nullopt at end of input.
  std::optional<std::string> next() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return closed_ || !lines_.empty(); });
    if (lines_.empty()) return std::nullopt;
    std::string l = std::move(lines_.front());
    lines_.pop_front();
    return l;
  }

 private:
  void read_loop() {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "shed") {
        on_shed_();
        continue;
      }
      std::lock_guard lk(mu_);
      lines_.push_back(std::move(line));
      cv_.notify_one();
    }
    std::lock_guard lk(mu_);
    closed_ = true;
    cv_.notify_one();
  }
  std::function<void()> on_shed_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool closed_ = false;
};

// The result, whole or not at all, and durable (file and directory entry synced) before the
// service records it.
Result<void> write_result(const std::string& path, const pipeline::Transcript& t) {
  std::ostringstream out;
  pipeline::write_json(out, t);
  return durable::write_file(path, out.str());
}

// Peak RSS per job: /proc/self/clear_refs "5" resets VmHWM to the current RSS (Linux >= 4.0),
// so the peak reported after a job is the model plus that job's working memory. Opened once,
// before the sandbox (which leaves nothing in /proc writable).
int clear_refs_fd() {
  static const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  return fd;
}
void reset_peak_rss() {
  if (clear_refs_fd() >= 0) (void)!::write(clear_refs_fd(), "5", 1);
}
// This process's VmRSS and VmHWM (zeros if /proc cannot say).
oomguard::ProcStatus self_status() {
  auto text = read_file("/proc/self/status");
  if (!text) return {};
  auto st = oomguard::parse_proc_status(*text);
  return st ? *st : oomguard::ProcStatus{};
}

// What one job ended with: a transcript, an input that cannot be transcribed, or our failure.
struct JobFailure {
  std::string message;
  bool user_error = false;
};
using JobResult = std::expected<pipeline::Transcript, JobFailure>;
using Progress = std::function<void(double)>;

// A loaded model that runs jobs: pocketsphinx, or (tests only) a simulated bigger model.
class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual JobResult run(const JobRequest& job, const Progress& progress) = 0;
  virtual std::uint64_t shed() { return 0; }  // bytes given back
};

class PocketsphinxRunner final : public JobRunner {
 public:
  explicit PocketsphinxRunner(const WorkerArgs& a)
      : budget_(available_now()),
        // The service ends idle workers (worker.idle_ttl); inside one the model stays.
        registry_(budget_, oomguard::ModelRegistry::Params{.idle_ttl = std::chrono::hours(24 * 365)}),
        engine_(registry_, params(a)) {}

  // Loads the model now so that the first job does not wait for it.
  Result<void> preload() {
    auto s = engine_.start(engine::SessionParams{});
    if (!s) return std::unexpected(s.error());
    return {};
  }

  JobResult run(const JobRequest& job, const Progress& progress) override {
    pipeline::TranscribeOptions opts;
    opts.language = job.language;
    // The service admitted the file already; here admission only guards against a file
    // that changed since. Its memory check is the cgroup's job now.
    opts.admission.max_file_bytes = std::numeric_limits<std::uint64_t>::max();
    // Cheaper settings after an OOM kill: shorter segments hold less audio and give the
    // decoder a smaller search (20 s -> 10 s -> 5 s).
    for (int i = 0; i < std::min(job.degrade, 2); ++i) opts.segmenter.max_segment_s /= 2;
    auto t = pipeline::transcribe_file(engine_, job.input, opts, [&](double done, double total) {
      if (total > 0) progress(std::min(1.0, done / total));
    });
    if (!t) {
      // ENOMEM and I/O are ours; everything else is about the input.
      bool ours = t.error().code == ENOMEM || t.error().code == EIO;
      return std::unexpected(JobFailure{t.error().message, !ours});
    }
    return std::move(*t);
  }

  std::uint64_t shed() override { return registry_.unload_idle(); }

 private:
  static std::uint64_t available_now() {
    auto sampler = oomguard::Sampler::open(oomguard::Roots{}, oomguard::Target{});
    if (sampler)
      if (auto s = sampler->sample()) return s->available_bytes;
    return std::numeric_limits<std::uint64_t>::max();
  }
  static engine::PocketsphinxParams params(const WorkerArgs& a) {
    engine::PocketsphinxParams ps = engine::pocketsphinx_default_params(a.model_dir);
    ps.max_sessions = 1;
    return ps;
  }
  oomguard::MemoryBudget budget_;
  oomguard::ModelRegistry registry_;
  engine::PocketsphinxEngine engine_;
};

// SIMULATION ONLY (see service/sim_model.h): holds the simulated model for the worker's life.
class SimRunner final : public JobRunner {
 public:
  explicit SimRunner(service::SimProfile p) : profile_(std::move(p)), model_(service::load_sim_model(profile_)) {}
  JobResult run(const JobRequest& job, const Progress& progress) override {
    auto info = media::probe_media(job.input);
    auto t = service::run_simulation(profile_, fs::path(job.input).filename().string(),
                                     info ? info->duration_s : 0.0, job.degrade, progress);
    if (!t) return std::unexpected(JobFailure{t.error().message, false});
    return std::move(*t);
  }

 private:
  service::SimProfile profile_;
  service::SimModel model_;
};

Result<std::unique_ptr<JobRunner>> make_runner(const WorkerArgs& a) {
  if (auto sim = service::sim_profile(a.model)) {
    if (!service::sim_enabled())
      return fail(fmt::format("simulation engines need {}=1", service::kSimEnableVar), EPERM);
    return std::make_unique<SimRunner>(*sim);
  }
  if (a.model != "pocketsphinx") return fail("unknown model " + a.model, EINVAL);
  auto r = std::make_unique<PocketsphinxRunner>(a);
  if (auto p = r->preload(); !p) return std::unexpected(p.error());
  return r;
}

// Runs one job; false when the worker must end (its own failure).
bool run_one(JobRunner& runner, const JobRequest& job) {
  spdlog::info("event=worker_job job={} degrade={} pid={}", job.id, job.degrade, ::getpid());
  reset_peak_rss();
  // Called from the decode loop (after each second of audio and each recognised segment), so
  // a loop that stops also stops the lines: no separate thread beats for a stuck worker.
  auto progress = [&, last = -1.0, last_emit = std::chrono::steady_clock::now()](double frac) mutable {
    const auto now = std::chrono::steady_clock::now();
    // ~50 lines a job for progress, plus one per heartbeat while it is slow.
    if (frac - last < 0.02 && frac < 1.0 && now - last_emit < job.heartbeat) return;
    last = std::max(last, frac);
    last_emit = now;
    emit({{"job", job.id}, {"progress", frac}});
  };
  auto t = runner.run(job, progress);
  if (!t) {
    emit(nlohmann::json::parse(worker::encode_job_error(
        job.id, t.error().message,
        t.error().user_error ? FailureKind::invalid_input : FailureKind::worker_failed)));
    spdlog::warn("event=worker_job_failed job={} user_error={} reason=\"{}\"", job.id,
                 t.error().user_error, log_escape(t.error().message));
    return t.error().user_error;
  }
  t->file = fs::path(job.input).filename().string();
  if (auto w = write_result(job.result, *t); !w) {
    emit({{"job", job.id}, {"error", w.error().message}});
    return false;
  }
  std::uint64_t peak = self_status().hwm_bytes;
  emit({{"job", job.id}, {"done", true}, {"peak_bytes", peak}});
  spdlog::info("event=worker_job_done job={} duration_s={:.1f} segments={} peak_mib={}", job.id,
               t->duration_s, t->segments.size(), to_mib(peak));
  // What this job allocated goes back to the system before the worker idles.
  ::malloc_trim(0);
  return true;
}

int run_worker(const WorkerArgs& a) {
  // The service's log level reaches us through the inherited environment.
  if (const char* lvl = std::getenv("SOROKA_LOG_LEVEL"); lvl && *lvl)
    spdlog::set_level(spdlog::level::from_str(lvl));
  // systemd's notify socket is the service's to speak on (NotifyAccess=main), not ours.
  for (const char* var : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(var);
  spdlog::info("event=worker_begin model={} pid={}", a.model, ::getpid());
  auto runner = make_runner(a);
  if (!runner) {
    // Every job this worker would get fails the same way: say so for the first one.
    const bool user = runner.error().code == EPERM || runner.error().code == EINVAL;
    emit({{"error", runner.error().message}});
    spdlog::error("event=worker_load_failed model={} error=\"{}\"", a.model, log_escape(runner.error().message));
    return user ? kUserError : kFailure;
  }
  JobRunner& r = **runner;
  nlohmann::json sandbox = {{"applied", false}};
  if (!a.sandbox_input.empty()) {
    (void)clear_refs_fd();
    worker::SandboxParams sp;
    sp.read_dirs = {a.sandbox_input, a.model_dir};
    sp.write_dirs = {a.sandbox_results};
    auto rep = worker::apply_sandbox(sp);
    sandbox = {{"applied", true},
               {"seccomp", rep.seccomp},
               {"landlock", rep.landlock},
               {"landlock_abi", rep.landlock_abi},
               {"not_applied", rep.not_applied}};
    if (rep.own_netns) sandbox["own_netns"] = *rep.own_netns;
    spdlog::info("event=worker_sandbox pid={} {} input_dir=\"{}\" results_dir=\"{}\"", ::getpid(),
                 rep.summary(), a.sandbox_input, a.sandbox_results);
    // Said at warn, every time: a missing layer is a weaker promise than the docs make.
    for (const auto& m : rep.not_applied)
      spdlog::warn("event=worker_sandbox_incomplete pid={} missing=\"{}\"", ::getpid(), m);
  } else {
    spdlog::warn("event=worker_sandbox pid={} state=off (worker.sandbox = false)", ::getpid());
  }
  Inbox inbox([&r] {
    std::uint64_t freed = r.shed();
    ::malloc_trim(0);
    spdlog::info("event=worker_shed freed_mib={}", to_mib(freed));
  });
  emit({{"ready", true}, {"rss_bytes", self_status().rss_bytes}, {"sandbox", sandbox}});
  while (auto line = inbox.next()) {
    auto job = worker::decode_job_request(*line);
    if (!job) {
      spdlog::error("event=worker_bad_request error=\"{}\"", log_escape(job.error().message));
      return kFailure;
    }
    if (!run_one(r, *job)) return kFailure;
  }
  spdlog::info("event=worker_end pid={}", ::getpid());
  return kOk;
}

}  // namespace

Runner add_worker_command(CLI::App& app, const Global&) {
  auto a = std::make_shared<WorkerArgs>();
  CLI::App* sub = app.add_subcommand("worker", "Run jobs for `soroka serve` (internal)");
  sub->group("");  // hidden: only the service starts it
  sub->add_option("--model", a->model, "pocketsphinx, or sim-* (simulation, tests only)");
  sub->add_option("--model-dir", a->model_dir, "pocketsphinx model directory");
  auto* in = sub->add_option("--sandbox-input", a->sandbox_input,
                             "sandboxed: the only dir inputs are read from");
  auto* out = sub->add_option("--sandbox-results", a->sandbox_results,
                              "sandboxed: the only dir results are written to");
  in->needs(out);
  out->needs(in);
  return [a] { return run_worker(*a); };
}

}  // namespace soroka::cli
