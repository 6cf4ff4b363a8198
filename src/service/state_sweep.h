// StateSweep: finds and removes files in the state dir that no job refers to (orphans left
// when the service died between writing a file and recording it, or between deleting a job's
// row and its files).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job_store.h"
#include "util/result.h"

namespace soroka::service {

// Files being written that no job refers to yet: uploads still arriving or being probed. The
// sweep never removes them, however old their last write. Keyed by file name. Thread-safe.
class InFlightFiles {
 public:
  void add(const std::string& path);
  void remove(const std::string& path);
  bool contains(std::string_view name) const;

 private:
  mutable std::mutex mu_;
  std::multiset<std::string, std::less<>> names_;
};

// Registers a path for its lifetime (a no-op with a null registry).
class InFlightGuard {
 public:
  InFlightGuard(InFlightFiles* files, std::string path);
  ~InFlightGuard();
  InFlightGuard(const InFlightGuard&) = delete;
  InFlightGuard& operator=(const InFlightGuard&) = delete;

 private:
  InFlightFiles* files_;
  std::string path_;
};

// A file written this recently is left alone, referenced or not: between writing a file and
// recording it lie at most a probe of the upload (seconds) or a worker's rename and the
// scheduler's complete() (milliseconds); 10 minutes is far beyond both and still returns a
// leaked upload's disk space within one retention period.
inline constexpr std::chrono::seconds kSweepGrace{600};

struct SweepParams {
  std::vector<std::string> dirs;  // swept, not recursively: <state>/uploads, <state>/results
  std::chrono::seconds grace = kSweepGrace;
  const InFlightFiles* in_flight = nullptr;
};

struct SweepReport {
  std::uint64_t files = 0;  // removed
  std::uint64_t bytes = 0;  // their sizes
  std::vector<std::string> removed;
  std::vector<std::string> errors;  // files that could not be removed or read, for the log
};

// Removes every regular file in params.dirs that is older than the grace, not in flight and
// not referenced by a job of `store` (by file name: a job's input or result file, or a file
// named "<job id>" or "<job id>.<anything>"). Matching names rather than whole paths keeps
// every recorded file even when the state dir is spelled differently from when it was
// recorded. The references are read after the directories, so a file recorded meanwhile is
// seen as referenced. Fails, removing nothing, when the store cannot be read.
Result<SweepReport> sweep_orphans(jobs::JobQueue& store, const SweepParams& params);

}  // namespace soroka::service
