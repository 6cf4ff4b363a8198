// Job state names and job id generation.
#include "jobs/job.h"

#include <sys/random.h>

#include <cerrno>
#include <cstddef>

namespace soroka::jobs {

TimeMs now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

const char* to_string(JobState s) noexcept {
  switch (s) {
    case JobState::queued:
      return "queued";
    case JobState::running:
      return "running";
    case JobState::succeeded:
      return "succeeded";
    case JobState::failed:
      return "failed";
    case JobState::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<JobState> parse_state(std::string_view s) noexcept {
  for (JobState st : kAllStates) {
    if (s == to_string(st)) return st;
  }
  return std::nullopt;
}

std::string to_string(const LeaseOwner& o) {
  return o.node + "/" + std::to_string(o.pid);
}

namespace {
// Crockford's base32: no I, L, O, U, so ids survive being read aloud or retyped.
constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
}  // namespace

std::string format_job_id(std::uint64_t unix_ms, const std::array<std::uint8_t, 10>& random) {
  std::string id(26, '0');
  // 10 chars x 5 bits = 50 bits of time; the top 2 are zero until the year 10889.
  std::uint64_t t = unix_ms & ((std::uint64_t{1} << 48) - 1);
  for (std::size_t i = 10; i-- > 0;) {
    id[i] = kAlphabet[t & 31];
    t >>= 5;
  }
  // 80 random bits as two 40-bit groups of 8 chars each.
  for (std::size_t group = 0; group < 2; ++group) {
    std::uint64_t bits = 0;
    for (std::size_t b = 0; b < 5; ++b) bits = (bits << 8) | random[group * 5 + b];
    for (std::size_t i = 8; i-- > 0;) {
      id[10 + group * 8 + i] = kAlphabet[bits & 31];
      bits >>= 5;
    }
  }
  return id;
}

Result<std::string> make_job_id(TimeMs now) {
  std::array<std::uint8_t, 10> random{};
  std::size_t got = 0;
  while (got < random.size()) {
    // 10 bytes from the urandom pool never block once it is initialised and are never short,
    // but EINTR is still possible in principle.
    const ssize_t n = ::getrandom(random.data() + got, random.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail("getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  const auto ms = now.time_since_epoch().count();
  return format_job_id(ms < 0 ? 0 : static_cast<std::uint64_t>(ms), random);
}

}  // namespace soroka::jobs
