// Admission: may this file be processed now? Size, readability, and its memory cost.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "oomguard/levels.h"

namespace soroka::oomguard {

struct AdmissionParams {
  std::uint64_t max_file_bytes = 100 * kMiB;  // the original guide's default
};

enum class Refusal {
  none,
  not_found,          // ENOENT
  unreadable,         // permissions, I/O error
  not_regular,        // a directory, device, fifo
  empty,              // zero bytes
  too_big,            // over max_file_bytes
  not_enough_memory,  // its estimated cost does not fit in what is available
};
const char* to_string(Refusal r) noexcept;

struct Verdict {
  bool ok() const noexcept { return refusal == Refusal::none; }
  Refusal refusal = Refusal::none;
  // For the user: "file is 150.0 MiB; the limit is 100.0 MiB". It does not repeat the path
  // (which may be a server-side temp file); callers add the name the user knows.
  std::string message;
  std::uint64_t file_bytes = 0;
  std::uint64_t estimated_bytes = 0;
};

// Memory cost of processing a file of `file_bytes` at `path`; the pipeline supplies a better
// one (from probed duration) than the default.
using CostEstimator = std::function<std::uint64_t(const std::string& path, std::uint64_t file_bytes)>;

// Default estimate: a fixed 64 MiB working set plus the file size once (a buffered upload).
std::uint64_t default_cost(const std::string& path, std::uint64_t file_bytes);

// `available_bytes` is what the process may still use now (the monitor's latest
// snapshot); memory is refused when cost > available_bytes - min_available_bytes.
Verdict check_file(const std::string& path, const AdmissionParams& params,
                   std::uint64_t available_bytes, std::uint64_t min_available_bytes,
                   const CostEstimator& estimate = default_cost);

}  // namespace soroka::oomguard
