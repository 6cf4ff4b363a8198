// Workers as `soroka worker` processes: the production side of service/worker_port.h.
#include "service/process_worker.h"

#include <unistd.h>

#include <fmt/format.h>

#include "util/log.h"
#include "util/units.h"
#include "worker/protocol.h"

namespace soroka::service {

namespace {

class ProcessWorker final : public WorkerConn {
 public:
  explicit ProcessWorker(worker::WorkerHandle h)
      : handle_(std::move(h)), channel_(handle_.input().get(), handle_.output().get()) {}

  pid_t pid() const override { return handle_.pid(); }
  std::string cgroup() const override { return handle_.cgroup_dir(); }
  bool running() const override { return handle_.running(); }
  Result<void> send(std::string_view line, std::chrono::milliseconds timeout) override {
    return channel_.send(line, timeout);
  }
  Result<std::string> receive(std::chrono::milliseconds timeout) override {
    return channel_.receive(timeout);
  }
  void shed() override {
    // One short line, written whole or not at all (below PIPE_BUF); the fd is non-blocking.
    static const std::string line = std::string(worker::kShedLine) + "\n";
    const int fd = handle_.input().get();
    if (fd >= 0) (void)!::write(fd, line.data(), line.size());
  }
  void terminate(std::chrono::milliseconds grace) override { handle_.terminate(grace); }
  Result<void> resize(std::uint64_t limit_bytes) override { return handle_.resize(limit_bytes); }
  void close_input() override { handle_.input().reset(); }
  worker::WorkerExit wait() override { return handle_.wait(); }
  std::optional<worker::WorkerExit> wait_for(std::chrono::milliseconds timeout) override {
    return handle_.wait_for(timeout);
  }

 private:
  worker::WorkerHandle handle_;
  worker::LineChannel channel_;
};


// The command line of a worker of `model`: the flags of `start` and the sandbox's.
std::vector<std::string> worker_argv(const WorkerLaunch& l, const std::string& model, const WorkerStartup& start) {
  std::vector<std::string> argv = {l.exe, "worker", "--model", model};
  argv.insert(argv.end(), start.args.begin(), start.args.end());
  if (!start.engine_line.empty()) argv.push_back("--engine-on-stdin");
  if (l.sandbox) {
    argv.insert(argv.end(), {"--sandbox-input", l.input_dir, "--sandbox-results", l.results_dir});
    if (start.network) argv.push_back("--sandbox-network");
  }
  return argv;
}

}  // namespace

Result<std::shared_ptr<WorkerConn>> ProcessLauncher::launch(const std::string& model,
                                                            std::uint64_t limit_bytes,
                                                            const std::string& label) {
  const WorkerStartup start = launch_.startup ? launch_.startup(model) : WorkerStartup{};
  worker::WorkerSpec spec;
  spec.name = fmt::format("soroka-worker-{}-{}", model, label);
  spec.argv = worker_argv(launch_, model, start);
  spec.new_network_namespace = launch_.sandbox && !start.network;
  spec.inherit_env = true;
  spec.limit_bytes = limit_bytes;
  spec.io = worker::WorkerIo::pipes;  // no process timeout: a worker outlives its jobs
  auto h = supervisor_.spawn(std::move(spec));
  if (!h) return std::unexpected(h.error());
  metrics_.worker_starts.fetch_add(1, std::memory_order_relaxed);
  auto w = std::make_shared<ProcessWorker>(std::move(*h));
  if (!start.engine_line.empty()) {
    // A fresh pipe holds 64 KiB and the line is ~500 bytes: this does not wait in practice.
    if (auto r = w->send(start.engine_line, std::chrono::seconds(5)); !r) {
      w->terminate(std::chrono::milliseconds(0));
      w->wait();
      return std::unexpected(std::move(r.error()).with_context("sending the engine line"));
    }
  }
  spdlog::info("event=worker_started for={} pid={} model={} limit_mib={} cgroup={}", label,
               w->pid(), model, to_mib(limit_bytes), w->cgroup().empty() ? "none" : w->cgroup());
  return w;
}

}  // namespace soroka::service
