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

}  // namespace

Result<std::shared_ptr<WorkerConn>> ProcessLauncher::launch(const std::string& model,
                                                            std::uint64_t limit_bytes,
                                                            const std::string& label) {
  worker::WorkerSpec spec;
  spec.name = fmt::format("soroka-worker-{}-{}", model, label);
  spec.argv = {launch_.exe, "worker", "--model", model};
  if (launch_.args) {
    auto more = launch_.args();
    spec.argv.insert(spec.argv.end(), more.begin(), more.end());
  }
  if (launch_.sandbox) {
    spec.argv.insert(spec.argv.end(), {"--sandbox-input", launch_.input_dir, "--sandbox-results",
                                       launch_.results_dir});
    const bool network = launch_.needs_network && launch_.needs_network(model);
    if (network) spec.argv.push_back("--sandbox-network");
    spec.new_network_namespace = !network;
  }
  spec.inherit_env = true;
  spec.limit_bytes = limit_bytes;
  spec.io = worker::WorkerIo::pipes;  // no process timeout: a worker outlives its jobs
  auto h = supervisor_.spawn(std::move(spec));
  if (!h) return std::unexpected(h.error());
  metrics_.worker_starts.fetch_add(1, std::memory_order_relaxed);
  auto w = std::make_shared<ProcessWorker>(std::move(*h));
  spdlog::info("event=worker_started for={} pid={} model={} limit_mib={} cgroup={}", label,
               w->pid(), model, to_mib(limit_bytes), w->cgroup().empty() ? "none" : w->cgroup());
  return w;
}

}  // namespace soroka::service
