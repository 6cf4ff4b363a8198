// Runs a command for CLI tests: captures exit code, stdout and stderr, or streams its lines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace soroka::test {

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out, err;
};

// Runs argv with extra "K=V" environment entries; kills it after `timeout`.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60),
              const std::string& stdin_text = "");

// A running command whose stdout is read line by line.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~Process();  // SIGTERM, then SIGKILL
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Sends a signal and waits for the exit code.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
  bool reaped_ = false;
};

}  // namespace soroka::test
