// Admission: checks a file before work starts and explains a refusal in words for the user.
#include "oomguard/admission.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "util/fd.h"
#include "util/units.h"

namespace soroka::oomguard {

namespace {

// Working set of one transcription besides the upload itself (decoder, resampler, feature
// buffers); the pipeline replaces this default with an estimate from the probed duration.
constexpr std::uint64_t kBaseCost = 64 * kMiB;


const char* file_kind(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

Verdict refuse(Verdict v, Refusal r, std::string message) {
  v.refusal = r;
  v.message = std::move(message);
  return v;
}

Verdict refuse_errno(Verdict v, int err) {
  if (err == ENOENT || err == ENOTDIR)
    return refuse(std::move(v), Refusal::not_found, "file not found");
  return refuse(std::move(v), Refusal::unreadable,
                fmt::format("the file cannot be read ({})", std::strerror(err)));
}

}  // namespace

const char* to_string(Refusal r) noexcept {
  switch (r) {
    case Refusal::none:
      return "none";
    case Refusal::not_found:
      return "not_found";
    case Refusal::unreadable:
      return "unreadable";
    case Refusal::not_regular:
      return "not_regular";
    case Refusal::empty:
      return "empty";
    case Refusal::too_big:
      return "too_big";
    case Refusal::not_enough_memory:
      return "not_enough_memory";
  }
  return "unknown";
}

std::uint64_t default_cost(const std::string& /*path*/, std::uint64_t file_bytes) {
  // Saturates rather than wrapping, so an absurd size is refused rather than admitted.
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  return file_bytes > kMax - kBaseCost ? kMax : kBaseCost + file_bytes;
}

Verdict check_file(const std::string& path, const AdmissionParams& params,
                   std::uint64_t available_bytes, std::uint64_t min_available_bytes,
                   const CostEstimator& estimate) {
  Verdict v;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return refuse_errno(std::move(v), errno);
  // Checked before opening: opening a fifo blocks, opening a device may have side effects.
  if (!S_ISREG(st.st_mode)) {
    return refuse(std::move(v), Refusal::not_regular,
                  fmt::format("not a regular file: it is {}", file_kind(st.st_mode)));
  }
  // O_NONBLOCK: should the path be swapped for a fifo after stat(), open must not hang.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return refuse_errno(std::move(v), errno);
  // Judge what was opened, not what the path named a moment ago.
  if (::fstat(fd.get(), &st) != 0) return refuse_errno(std::move(v), errno);
  if (!S_ISREG(st.st_mode)) {
    return refuse(std::move(v), Refusal::not_regular,
                  fmt::format("not a regular file: it is {}", file_kind(st.st_mode)));
  }

  v.file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (v.file_bytes == 0) return refuse(std::move(v), Refusal::empty, "the file is empty");
  if (v.file_bytes > params.max_file_bytes) {
    const std::string msg =
        fmt::format("file is {}; the limit is {}", format_mib(v.file_bytes), format_mib(params.max_file_bytes));
    return refuse(std::move(v), Refusal::too_big, msg);
  }

  v.estimated_bytes = estimate ? estimate(path, v.file_bytes) : default_cost(path, v.file_bytes);
  const std::uint64_t usable =
      available_bytes > min_available_bytes ? available_bytes - min_available_bytes : 0;
  if (v.estimated_bytes > usable) {
    const std::string msg = fmt::format(
        "not enough memory right now: processing this file needs about {}, {} is free; try "
        "again later",
        format_mib(v.estimated_bytes), format_mib(usable));
    return refuse(std::move(v), Refusal::not_enough_memory, msg);
  }
  return v;
}

}  // namespace soroka::oomguard
