// Allocation-free, non-throwing parsers for numbers and "key value" text from the kernel.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace soroka::parse {

// Trims ASCII whitespace (space, tab, newline) from both ends.
std::string_view trim(std::string_view s) noexcept;

// Parses an unsigned decimal integer; the whole (trimmed) string must be the number.
std::optional<std::uint64_t> u64(std::string_view s) noexcept;
std::optional<std::int64_t> i64(std::string_view s) noexcept;
std::optional<double> f64(std::string_view s) noexcept;

// Splits off the first line of `text` (without '\n'); advances `text` past it.
std::string_view next_line(std::string_view& text) noexcept;

// Splits off the next whitespace-separated token; advances `text` past it.
std::string_view next_token(std::string_view& text) noexcept;

// In "key value\n" text (memory.stat, memory.events, oom_control), finds the line whose
// first token is `key` and parses its second token.
std::optional<std::uint64_t> keyed_u64(std::string_view text, std::string_view key) noexcept;

}  // namespace soroka::parse
