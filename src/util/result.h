// Result<T>: recoverable errors as values, carrying errno and a context chain.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

#include "util/failure_kind.h"

namespace soroka {

struct Error {
  int code = 0;         // errno where the error came from the OS, 0 otherwise
  std::string message;  // human-readable, outermost context first
  FailureKind kind = FailureKind::none;  // set where the failure is understood; kept through context

  // Prepends context: "reading /proc/meminfo: " + message.
  Error&& with_context(std::string_view ctx) && {
    message = std::string(ctx) + ": " + message;
    return std::move(*this);
  }
  Error with_context(std::string_view ctx) const& {
    Error e = *this;
    return std::move(e).with_context(ctx);
  }
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message, int code = 0) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}
// A failure whose kind is known where it happens (a file that is not media, a bad language).
inline std::unexpected<Error> fail(FailureKind kind, std::string message, int code = 0) {
  return std::unexpected<Error>(Error{code, std::move(message), kind});
}

// An error from errno, e.g. sys_fail("open /proc/meminfo").
std::unexpected<Error> sys_fail(std::string what, int err = errno);

}  // namespace soroka
