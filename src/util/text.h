// Text from outside: UTF-8 validation and escaping for key=value log lines.
#pragma once

#include <string>
#include <string_view>

namespace soroka {

// Well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// A value safe inside "..." of a key=value log line: quotes, backslashes, control characters
// and bytes of invalid UTF-8 escaped (\" \\ \n \xNN), cut at `max` bytes with "...".
std::string log_escape(std::string_view s, std::size_t max = 256);

// A name from a client (an upload's filename) fit to store and show: valid UTF-8, no control
// characters, at most `max` bytes. Returns the reason when it is not.
std::string_view check_client_name(std::string_view s, std::size_t max = 255) noexcept;

}  // namespace soroka
