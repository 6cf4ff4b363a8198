// DataUrlDecoder: a base64 data URL decoded as it streams in, bounded.
#include "api/data_url.h"

#include <fmt/format.h>

namespace soroka::api {

namespace {
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::optional<std::string> DataUrlDecoder::header_char(char c) {
  header_ += c;
  if (header_.size() > kMaxHeader) return "is not a data URL (no ';base64,' in its first 256 bytes)";
  if (c != ',') return std::nullopt;
  const std::string_view h = header_;
  if (!h.starts_with("data:") || !h.ends_with(";base64,"))
    return "is not a base64 data URL (data:<type>;base64,<data>)";
  in_data_ = true;
  return std::nullopt;
}

std::optional<std::string> DataUrlDecoder::data_char(char c, std::string& out) {
  if (c == '\r' || c == '\n' || c == ' ' || c == '\t') return std::nullopt;
  if (c == '=') {
    if (have_ < 2) return "has misplaced base64 padding";
    if (have_ == 4) return "has too much base64 padding";
    ++padding_;
    if (have_ + padding_ == 4) {  // the quantum is complete with its padding
      const std::size_t n = static_cast<std::size_t>(have_ - 1);
      if (decoded_ + n > max_bytes_) return fmt::format("decodes to more than {} bytes", max_bytes_);
      out += static_cast<char>((quad_[0] << 2 | quad_[1] >> 4) & 0xff);
      if (n == 2) out += static_cast<char>((quad_[1] << 4 | quad_[2] >> 2) & 0xff);
      decoded_ += n;
      have_ = 4;  // closed: nothing may follow
    }
    return std::nullopt;
  }
  if (padding_ > 0) return "has data after base64 padding";
  const int v = sextet(c);
  if (v < 0) return "holds a character outside base64";
  quad_[have_++] = static_cast<unsigned>(v);
  if (have_ < 4) return std::nullopt;
  if (decoded_ + 3 > max_bytes_) return fmt::format("decodes to more than {} bytes", max_bytes_);
  out += static_cast<char>((quad_[0] << 2 | quad_[1] >> 4) & 0xff);
  out += static_cast<char>((quad_[1] << 4 | quad_[2] >> 2) & 0xff);
  out += static_cast<char>((quad_[2] << 6 | quad_[3]) & 0xff);
  decoded_ += 3;
  have_ = 0;
  return std::nullopt;
}

std::optional<std::string> DataUrlDecoder::feed(std::string_view chunk, std::string& out) {
  for (char c : chunk) {
    auto e = in_data_ ? data_char(c, out) : header_char(c);
    if (e) return e;
  }
  return std::nullopt;
}

std::optional<std::string> DataUrlDecoder::finish() const {
  if (!in_data_) return "is not a base64 data URL (data:<type>;base64,<data>)";
  if (padding_ > 0 ? have_ != 4 : have_ != 0) return "is cut off (its base64 length is not a multiple of 4)";
  if (decoded_ == 0) return "holds no data";
  return std::nullopt;
}

}  // namespace soroka::api
