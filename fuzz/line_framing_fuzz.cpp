// Fuzzes the worker line framing: LineFramer on arbitrary chunking, and LineChannel::receive
// reading the same bytes from a socket; both must return exactly the '\n'-separated lines.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "fuzz_check.h"
#include "worker/line_channel.h"

using soroka::worker::LineChannel;
using soroka::worker::LineFramer;

namespace {
std::vector<std::string> expected_lines(std::string_view stream, std::string_view& tail) {
  std::vector<std::string> out;
  for (auto nl = stream.find('\n'); nl != std::string_view::npos; nl = stream.find('\n')) {
    out.emplace_back(stream.substr(0, nl));
    stream.remove_prefix(nl + 1);
  }
  tail = stream;
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte seeds the chunk sizes (1..64 bytes, xorshift: no wrapping arithmetic for
  // the overflow sanitizer to flag), the rest is the stream.
  std::uint32_t rng = 0x9e3779b9u ^ data[0];
  const std::string_view stream = soroka::fuzz::as_text(data + 1, size - 1);
  std::string_view tail;
  const auto want = expected_lines(stream, tail);

  LineFramer framer;
  std::vector<std::string> got;
  for (std::size_t at = 0; at < stream.size();) {
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    std::size_t n = std::min<std::size_t>(1 + rng % 64, stream.size() - at);
    framer.append(stream.substr(at, n));
    at += n;
    while (auto line = framer.next_line()) got.push_back(std::move(*line));
  }
  FUZZ_CHECK(got == want);
  FUZZ_CHECK(framer.pending() == tail.size());

  // The channel over a socket: the same lines, then EPIPE at the end of the stream.
  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  FUZZ_CHECK(::write(sv[0], stream.data(), stream.size()) == static_cast<ssize_t>(stream.size()));
  ::close(sv[0]);
  {
    LineChannel ch(sv[1], sv[1]);
    std::vector<std::string> received;
    for (;;) {
      auto line = ch.receive(std::chrono::milliseconds(0));
      if (!line) {
        FUZZ_CHECK(line.error().code == EPIPE);
        break;
      }
      received.push_back(std::move(*line));
    }
    FUZZ_CHECK(received == want);
    // A line with a newline inside is refused, never split.
    if (stream.find('\n') != std::string_view::npos)
      FUZZ_CHECK(!ch.send(stream, std::chrono::milliseconds(0)));
  }
  ::close(sv[1]);
  return 0;
}
