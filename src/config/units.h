// Parsing and printing of byte sizes ("200MiB", "1.5G") and durations for config and output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace soroka {

// "123", "200MiB", "200M", "1.5G", "1GiB", "512KiB", "100MB" (SI: 10^6), "2T", "1.5 PiB".
// K/M/G/T/P/E and KiB/MiB/GiB/TiB/PiB/EiB are powers of 1024, as systemd reads
// MemoryMax=2G; KB/MB/GB/TB/PB/EB are powers of 1000. nullopt when malformed or out of
// range; whatever format_size prints reads back.
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

// 1536 -> "1.5 KiB", 209715200 -> "200.0 MiB".
std::string format_size(std::uint64_t bytes);

}  // namespace soroka
