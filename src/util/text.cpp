// Text from outside: UTF-8 validation and escaping for key=value log lines.
#include "util/text.h"

#include <cstdint>

namespace soroka {

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0.
std::size_t utf8_seq(std::string_view s, std::size_t i) noexcept {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0, min = 0;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1Fu, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0Fu, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07u, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_seq(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string log_escape(std::string_view s, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string o;
  o.reserve(std::min(s.size(), max) + 8);
  for (std::size_t i = 0; i < s.size();) {
    if (o.size() >= max) {
      o += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = utf8_seq(s, i);
    if (n > 1) {
      o.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c == '\n') {
      o += "\\n";
    } else if (n == 0 || c < 0x20 || c == 0x7F) {
      o += "\\x";
      o += kHex[c >> 4];
      o += kHex[c & 0xF];
    } else {
      o += static_cast<char>(c);
    }
    ++i;
  }
  return o;
}

std::string_view check_client_name(std::string_view s, std::size_t max) noexcept {
  if (s.size() > max) return "is too long";
  if (!valid_utf8(s)) return "is not valid UTF-8";
  for (char ch : s)
    if (const auto c = static_cast<unsigned char>(ch); c < 0x20 || c == 0x7F) return "contains control characters";
  return {};
}

}  // namespace soroka
