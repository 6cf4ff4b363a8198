// The worker process's loop: load the model, sandbox, then run jobs from stdin until its end.
#include "worker/runner.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>

#include <cerrno>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "oomguard/probe/process.h"
#include "pipeline/formats.h"
#include "pipeline/pipeline.h"
#include "pipeline/speakers.h"
#include "util/durable.h"
#include "util/fd.h"
#include "util/file_reader.h"
#include "util/log.h"
#include "util/text.h"
#include "util/units.h"
#include "worker/line_channel.h"
#include "worker/protocol.h"
#include "worker/sandbox.h"

namespace soroka::worker {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The worker's stdout: one protocol line per write, whole.
class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  void send(std::string line) const {
    line += '\n';
    std::string_view rest = line;
    while (!rest.empty()) {
      ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the service is gone; it will not read us anyway
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
};

// The worker's stdin, read on the worker's one thread: blocking between jobs, without waiting
// during one. "shed" is acted on as soon as it is read; job lines queue.
class Inbox {
 public:
  // `read` holds what was read from fd before (after the engine line): its lines come first.
  Inbox(int fd, LineFramer read, std::function<void()> on_shed)
      : fd_(fd), on_shed_(std::move(on_shed)), framer_(std::move(read)) {}
  // The next job line; nullopt at end of input (or a line past LineChannel::kMaxLine).
  std::optional<std::string> next_job() {
    take_lines();
    while (jobs_.empty() && !closed_) read_some(-1);
    if (jobs_.empty()) return std::nullopt;
    std::string line = std::move(jobs_.front());
    jobs_.pop_front();
    return line;
  }
  // Takes what has arrived, without waiting (called from a job's progress).
  void poll_now() {
    if (!closed_) read_some(0);
  }

 private:
  void read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return;  // EINTR: the caller asks again
    char buf[4096];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      closed_ = true;
      return;
    }
    framer_.append(std::string_view(buf, static_cast<std::size_t>(n)));
    take_lines();
  }
  void take_lines() {
    while (auto line = framer_.next_line()) {
      if (*line == kShedLine) on_shed_();
      else jobs_.push_back(std::move(*line));
    }
    if (framer_.pending() > LineChannel::kMaxLine) closed_ = true;  // not a job line
  }
  int fd_;
  std::function<void()> on_shed_;
  LineFramer framer_;
  std::deque<std::string> jobs_;
  bool closed_ = false;
};

// The engine and what it loads its model through; a job's diarization reserves in the same
// budget for that job only. The worker's memory bound is its cgroup, sized by the service to
// the model's and the job's reservations; a budget here could only refuse what the kernel
// would allow, so it is unbounded, and models stay until the service ends the worker.
struct Loaded {
  oomguard::MemoryBudget budget{std::numeric_limits<std::uint64_t>::max()};
  oomguard::ModelRegistry registry{budget, {.idle_ttl = std::chrono::hours(24 * 365)}};
  std::unique_ptr<engine::Engine> engine;
};

// Builds the engine and loads its model now (a session opened and closed), so that the first
// job does not wait for it and a model that cannot load fails before any job.
Result<std::unique_ptr<Loaded>> load(const RunnerParams& p) {
  auto l = std::make_unique<Loaded>();
  auto e = engine::make_engine(p.settings, p.model, l->registry);
  if (!e) return std::unexpected(e.error());
  l->engine = std::move(*e);
  auto session = l->engine->start(engine::SessionParams{});
  if (!session) return std::unexpected(session.error());
  return l;
}

// Peak RSS per job: /proc/self/clear_refs "5" resets VmHWM to the current RSS (Linux >= 4.0),
// so the peak reported after a job is the model plus that job's working memory. Opened before
// the sandbox, which leaves nothing in /proc writable.
class PeakRss {
 public:
  PeakRss() : clear_refs_(::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)) {}
  void reset() const {
    if (clear_refs_) (void)!::write(clear_refs_.get(), "5", 1);
  }
  // This process's VmRSS and VmHWM (zeros if /proc cannot say).
  static oomguard::ProcStatus now() {
    auto text = read_file("/proc/self/status");
    if (!text) return {};
    auto st = oomguard::parse_proc_status(*text);
    return st ? *st : oomguard::ProcStatus{};
  }

 private:
  Fd clear_refs_;
};

// Applies the sandbox when asked; returns what it applied, as the ready line carries it.
nlohmann::json sandbox_self(const RunnerParams& p) {
  if (p.sandbox_input.empty()) {
    spdlog::warn("event=worker_sandbox pid={} state=off (worker.sandbox = false)", ::getpid());
    return {{"applied", false}};
  }
  SandboxParams sp;
  sp.read_dirs = {p.sandbox_input, p.settings.engine.model_dir};
  sp.write_dirs = {p.sandbox_results};
  sp.network = p.sandbox_network;
  auto rep = apply_sandbox(sp);
  nlohmann::json j = {{"applied", true},          {"seccomp", rep.seccomp},
                      {"landlock", rep.landlock}, {"landlock_abi", rep.landlock_abi},
                      {"not_applied", rep.not_applied}, {"network", sp.network}};
  if (rep.own_netns) j["own_netns"] = *rep.own_netns;
  spdlog::info("event=worker_sandbox pid={} {} input_dir=\"{}\" results_dir=\"{}\"", ::getpid(), rep.summary(),
               log_escape(p.sandbox_input), log_escape(p.sandbox_results));
  // Said at warn, every time: a missing layer is a weaker promise than the docs make.
  for (const auto& m : rep.not_applied)
    spdlog::warn("event=worker_sandbox_incomplete pid={} missing=\"{}\"", ::getpid(), log_escape(m));
  return j;
}

// The pipeline's options for a job the service admitted already: here admission only guards
// against a file that changed since; memory is the cgroup's to bound.
pipeline::TranscribeOptions job_options(const JobRequest& job) {
  pipeline::TranscribeOptions o;
  o.language = job.language;
  o.admission.max_file_bytes = std::numeric_limits<std::uint64_t>::max();
  o.known_duration_s = job.duration_s;  // the service's probe: not probed again
  o.degrade = job.degrade;
  return o;
}

// The transcript, whole or not at all, and durable (file and directory entry synced) before
// the service records it.
Result<void> write_result(const std::string& path, pipeline::Transcript& t, const std::string& input) {
  t.file = fs::path(input).filename().string();
  std::ostringstream out;
  pipeline::write_json(out, t);
  auto w = durable::write_file(path, out.str());
  if (!w) w.error().kind = FailureKind::storage;
  return w;
}

class Worker {
 public:
  // `read`: the input already read past the engine line (Inbox).
  Worker(const RunnerParams& p, Loaded& loaded, LineFramer read)
      : loaded_(loaded),
        make_diarizer_(p.make_diarizer),
        out_(p.out_fd),
        inbox_(p.in_fd, std::move(read), [this] { shed(); }) {}

  int serve(const nlohmann::json& sandbox) {
    out_.send(encode_ready(PeakRss::now().rss_bytes, sandbox.dump()));
    while (auto line = inbox_.next_job()) {
      auto job = decode_job_request(*line);
      if (!job) {
        spdlog::error("event=worker_bad_request error=\"{}\"", log_escape(job.error().message));
        return kExitFailure;
      }
      if (!run_one(*job)) return kExitFailure;
    }
    spdlog::info("event=worker_end pid={}", ::getpid());
    return kExitOk;
  }

 private:
  // Runs one job; false when the worker must end (its own failure).
  bool run_one(const JobRequest& job) {
    spdlog::info("event=worker_job job={} degrade={} pid={}", log_escape(job.id), job.degrade, ::getpid());
    peak_.reset();
    auto opts = job_options(job);
    // Its options checked and its known voices' clips decoded here, in the sandboxed worker
    // (untrusted media never reach the service's FFmpeg); a refusal is the request's
    // (invalid_request): the job fails without a retry.
    if (job.diarize) {
      pipeline::DiarizeSetup setup{
          .params = {}, .budget = &loaded_.budget, .shed = &shed_point_, .make = make_diarizer_};
      if (auto d = pipeline::add_diarization(*job.diarize, std::move(setup), opts); !d)
        return report_failure(job, d.error());
    }
    auto t = pipeline::transcribe_file(*loaded_.engine, job.input, opts, progress_for(job));
    auto written = t ? write_result(job.result, *t, job.input) : Result<void>(std::unexpected(t.error()));
    if (!written) return report_failure(job, written.error());
    const std::uint64_t peak = PeakRss::now().hwm_bytes;
    out_.send(encode_done(job.id, peak));
    spdlog::info("event=worker_job_done job={} duration_s={:.1f} segments={} peak_mib={}", log_escape(job.id),
                 t->duration_s, t->segments.size(), to_mib(peak));
    ::malloc_trim(0);  // what this job allocated goes back to the system before the worker idles
    return true;
  }

  bool report_failure(const JobRequest& job, const Error& e) {
    const FailureKind kind = classified(e.kind);
    out_.send(encode_job_error(job.id, e.message, kind));
    spdlog::warn("event=worker_job_failed job={} kind={} reason=\"{}\"", log_escape(job.id), to_string(kind),
                 log_escape(e.message));
    ::malloc_trim(0);
    return is_user_error(kind);
  }

  // Called from the decode loop (each second of audio, and while the engine works on a long
  // segment), so a loop that stops also stops the lines: no other thread beats for a stuck one.
  pipeline::ProgressCallback progress_for(const JobRequest& job) {
    return [this, &job, last = -1.0, last_sent = Clock::now()](double done, double total) mutable {
      inbox_.poll_now();
      const double frac = total > 0 ? std::min(1.0, done / total) : 0.0;
      const auto now = Clock::now();
      if (!progress_due(last, frac, now - last_sent, job.heartbeat)) return;
      last = std::max(last, frac);
      last_sent = now;
      out_.send(encode_progress(job.id, frac));
    };
  }

  // Read from stdin on the job's thread (Inbox::poll_now in the progress callback), so the
  // running diarizer may be told directly.
  void shed() {
    shed_point_.shed();
    const std::uint64_t freed = loaded_.registry.unload_idle();
    ::malloc_trim(0);
    spdlog::info("event=worker_shed freed_mib={}", to_mib(freed));
  }

  Loaded& loaded_;
  pipeline::DiarizerMaker make_diarizer_;
  pipeline::ShedPoint shed_point_;  // the running job's diarizer, if any
  Out out_;
  Inbox inbox_;
  PeakRss peak_;
};

}  // namespace

bool progress_due(double last_sent, double fraction, Clock::duration since_last, std::chrono::milliseconds heartbeat) {
  constexpr double kStep = 0.02 - 1e-9;  // 0.12 - 0.10 is 0.0199999... in doubles
  return fraction - last_sent >= kStep || (fraction >= 1.0 && last_sent < 1.0) || since_last >= heartbeat;
}

namespace {

// The engine line, read in blocks into `read`: what follows it in the same reads (job lines,
// "shed") stays there for the Inbox. ~500 bytes; 64 KiB bounds a service gone wrong.
Result<std::string> read_first_line(int fd, LineFramer& read) {
  constexpr std::size_t kMaxEngineLine = 64u << 10;
  for (;;) {
    if (auto line = read.next_line()) return std::move(*line);
    if (read.pending() > kMaxEngineLine) return fail("the engine line is too long", EPROTO);
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_fail("reading the engine line");
    if (n == 0) return fail("the service closed the input before the engine line", EPROTO);
    read.append(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

// The service's snapshot of the engine in place of whatever `s` had of it, checked as a
// config file's would be.
Result<void> take_engine_line(int fd, LineFramer& read, Settings& s) {
  auto line = read_first_line(fd, read);
  if (!line) return std::unexpected(line.error());
  auto e = decode_engine(*line);
  if (!e) return std::unexpected(e.error());
  std::erase_if(s.engine.remote, [&](const RemoteEngineSettings& o) { return o.name == e->name; });
  s.engine.remote.push_back(std::move(*e));
  return validate_remote_engines(s.engine.remote, "the service's engine line");
}

}  // namespace

int run_worker(const RunnerParams& given) {
  RunnerParams p = given;
  spdlog::set_level(spdlog::level::from_str(p.settings.log_level));
  LineFramer read;
  if (p.engine_on_input) {
    if (auto r = take_engine_line(p.in_fd, read, p.settings); !r) {
      Out(p.out_fd).send(encode_load_error(r.error().message, FailureKind::internal));
      spdlog::error("event=worker_load_failed model={} error=\"{}\"", log_escape(p.model),
                    log_escape(r.error().message));
      return kExitFailure;
    }
  }
  // systemd's notify socket is the service's to speak on (NotifyAccess=main), not ours.
  for (const char* var : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(var);
  spdlog::info("event=worker_begin model={} pid={}", log_escape(p.model), ::getpid());
  auto loaded = load(p);
  if (!loaded) {
    const Error& e = loaded.error();
    const FailureKind kind = classified(e.kind);
    // Every job this worker would get fails the same way: say so for the first one.
    Out(p.out_fd).send(encode_load_error(e.message, kind));
    spdlog::error("event=worker_load_failed model={} kind={} error=\"{}\"", log_escape(p.model), to_string(kind),
                  log_escape(e.message));
    return is_user_error(kind) ? kExitInputError : kExitFailure;
  }
  Worker w(p, **loaded, std::move(read));  // PeakRss opens /proc/self/clear_refs: before the sandbox
  const nlohmann::json sandbox = sandbox_self(p);
  return w.serve(sandbox);
}

}  // namespace soroka::worker
