// DataUrlDecoder: a "data:<type>;base64,<data>" URL (OpenAI's known_speaker_references[])
// decoded as it streams in, bounded, never held whole.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace soroka::api {

// Fed the URL in chunks of any size; each call appends the bytes decoded so far to `out`.
// Refuses (a message for a 400): a header that is not "data:<type>;base64," within
// kMaxHeader bytes, a character outside base64's alphabet (line breaks and spaces are
// skipped), data after padding, more than `max_bytes` decoded, and at finish() a length that
// is not a whole number of base64 quanta or no data at all. Pure: no I/O.
class DataUrlDecoder {
 public:
  static constexpr std::size_t kMaxHeader = 256;  // "data:audio/ogg;codecs=opus;base64," is 34
  explicit DataUrlDecoder(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  std::optional<std::string> feed(std::string_view chunk, std::string& out);
  std::optional<std::string> finish() const;
  std::size_t decoded() const { return decoded_; }

 private:
  std::optional<std::string> header_char(char c);
  std::optional<std::string> data_char(char c, std::string& out);
  std::size_t max_bytes_;
  std::string header_;
  bool in_data_ = false;
  unsigned quad_[4] = {0, 0, 0, 0};
  int have_ = 0;     // characters of the current quantum
  int padding_ = 0;  // '=' seen: only more '=' may follow
  std::size_t decoded_ = 0;
};

}  // namespace soroka::api
