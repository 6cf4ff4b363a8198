// Builds errno-carrying errors for Result<T>.
#include "util/result.h"

#include <cstring>

namespace soroka {

std::unexpected<Error> sys_fail(std::string what, int err) {
  return std::unexpected<Error>(Error{err, std::move(what) + ": " + std::strerror(err)});
}

}  // namespace soroka
