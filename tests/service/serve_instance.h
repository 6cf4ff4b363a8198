// ServeInstance: a real `soroka serve` on a free loopback port with its own state dir, for tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "jobs/job_store.h"
#include "support/loopback.h"
#include "support/run.h"

namespace soroka::test {

inline std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  char* d = ::mkdtemp(tmpl.data());
  return d ? std::string(d) : std::string();
}

class ServeInstance {
 public:
  // `env`: extra "K=V" (settings as SOROKA_* variables). The simulation engine is enabled.
  // `cgroup_procs`: a cgroup.procs file the service joins before it starts (so that it and
  // its workers live under that cgroup's limit).
  explicit ServeInstance(std::vector<std::string> env = {}, std::string state_dir = {},
                         std::string cgroup_procs = {})
      : env_(std::move(env)), state_(state_dir.empty() ? make_temp_dir("soroka-serve-") : state_dir),
        cgroup_procs_(std::move(cgroup_procs)) {
    start();
  }
  ~ServeInstance() {
    proc_.reset();
    if (owns_state_) {
      std::error_code ec;
      std::filesystem::remove_all(state_, ec);
    }
  }

  void start() {
    port_ = free_loopback_port();
    std::vector<std::string> env = {"SOROKA_ENABLE_SIM_ENGINE=1", "SOROKA_LOG_LEVEL=warn"};
    env.insert(env.end(), env_.begin(), env_.end());
    std::vector<std::string> argv = {SOROKA_BINARY, "serve", "--listen",
                                     "127.0.0.1:" + std::to_string(port_), "--state-dir", state_};
    if (!cgroup_procs_.empty())
      argv.insert(argv.begin(), {"/bin/sh", "-c", "echo $$ > " + cgroup_procs_ + " && exec \"$0\" \"$@\""});
    proc_ = std::make_unique<Process>(argv, env);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = client().Get("/healthz");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "soroka serve did not become healthy on port " << port_;
  }
  // kill -9: no drain, no cleanup.
  void crash() {
    ::kill(proc_->pid(), SIGKILL);
    proc_->stop(0, std::chrono::seconds(5));
    proc_.reset();
  }
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout) {
    auto r = proc_->stop(sig, timeout);
    proc_.reset();
    return r;
  }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }

  httplib::Client client(int read_timeout_s = 120) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(read_timeout_s, 0);
    c.set_write_timeout(60, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
  const std::string& state_dir() const { return state_; }
  std::string db_path() const { return state_ + "/jobs.sqlite"; }
  void keep_state() { owns_state_ = false; }
  int port() const { return port_; }

  // POST /v1/jobs; returns the id ("" on failure).
  std::string submit(const std::string& file, const std::string& model = "") const {
    httplib::MultipartFormDataItems items = {{"file", read_all(file), std::filesystem::path(file).filename().string(), "application/octet-stream"}};
    if (!model.empty()) items.push_back({"model", model, "", ""});
    auto r = client().Post("/v1/jobs", items);
    if (!r || r->status != 202) return {};
    return nlohmann::json::parse(r->body).value("id", "");
  }
  nlohmann::json job(const std::string& id) const {
    auto r = client().Get("/v1/jobs/" + id);
    if (!r || r->status != 200) return nullptr;
    return nlohmann::json::parse(r->body);
  }
  // Polls until the job is in a final state; returns it (or the last seen after `timeout`).
  nlohmann::json wait_final(const std::string& id, std::chrono::seconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json j;
    while (std::chrono::steady_clock::now() < deadline) {
      j = job(id);
      if (j.is_object()) {
        std::string s = j.value("state", "");
        if (s == "succeeded" || s == "failed" || s == "cancelled") return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return j;
  }

  static std::string read_all(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    std::string s;
    if (!f) return s;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
  }

 private:
  std::vector<std::string> env_;
  std::string state_;
  std::string cgroup_procs_;
  bool owns_state_ = true;
  int port_ = 0;
  std::unique_ptr<Process> proc_;
};

// Polls `pred` every 50 ms until it holds or `timeout` passes; its last value.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// One value of GET /metrics ("" when absent or unreachable).
inline std::string metric(const ServeInstance& s, const std::string& name) {
  auto r = s.client().Get("/metrics");
  if (!r) return {};
  auto at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return {};
  auto start = at + name.size() + 2;
  return r->body.substr(start, r->body.find('\n', start) - start);
}

// POSTs `body` in chunks of `chunk` bytes with no Content-Length (chunked transfer encoding).
inline httplib::Result post_chunked(httplib::Client& c, const std::string& path, std::string body,
                                    std::size_t chunk, const std::string& content_type) {
  std::size_t sent = 0;
  return c.Post(
      path,
      [body = std::move(body), sent, chunk](std::size_t, httplib::DataSink& sink) mutable {
        std::size_t n = std::min(chunk, body.size() - sent);
        if (n == 0) {
          sink.done();
          return true;
        }
        sink.write(body.data() + sent, n);
        sent += n;
        return true;
      },
      content_type);
}

// The service's child processes (its workers), from /proc/PID/task/*/children.
inline std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(t.path() / "children");
    pid_t c;
    while (f >> c) out.push_back(c);
  }
  return out;
}

}  // namespace soroka::test
