// Byte units: the constants, and how sizes are parsed (config) and written (messages, log events).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace soroka {

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

// Whole MiB, rounded to the nearest: the value of the `*_mib=` fields of log events.
constexpr std::uint64_t to_mib(std::uint64_t bytes) { return (bytes + kMiB / 2) / kMiB; }

// For sentences people read: "12.3 MiB".
std::string format_mib(std::uint64_t bytes);
// In the largest unit that keeps a number >= 1: 1536 -> "1.5 KiB", 209715200 -> "200.0 MiB".
std::string format_size(std::uint64_t bytes);

// "123", "200MiB", "200M", "1.5G", "1GiB", "512KiB", "100MB" (SI: 10^6), "2T", "1.5 PiB".
// K/M/G/T/P/E and KiB/MiB/GiB/TiB/PiB/EiB are powers of 1024, as systemd reads
// MemoryMax=2G; KB/MB/GB/TB/PB/EB are powers of 1000. nullopt when malformed or out of
// range; whatever format_size prints reads back.
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

}  // namespace soroka
