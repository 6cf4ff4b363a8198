// Memory levels (normal/warning/critical), their thresholds, and a classifier with hysteresis.
#pragma once

#include <cstdint>
#include <string>

#include "oomguard/snapshot.h"
#include "util/result.h"
#include "util/units.h"

namespace soroka::oomguard {

enum class Level { normal = 0, warning = 1, critical = 2 };
const char* to_string(Level l) noexcept;  // "normal", "warning", "critical"

// Defaults from the operators' original guide: warning 85 %, critical 95 %, critical also
// when less than 200 MiB is available.
struct Thresholds {
  double warning_percent = 85.0;
  double critical_percent = 95.0;
  std::uint64_t min_available_bytes = 200 * kMiB;
  // A level is left only once the value is this many percentage points back below its
  // threshold (and available is this share of the limit above min_available), so a value
  // hovering at a threshold does not flap.
  double hysteresis_percent = 2.0;

  // Checks ranges and ordering; the error names the offending field and value.
  Result<void> validate() const;
};

// Thresholds as they apply to one snapshot: a cgroup memory.high (systemd MemoryHigh) below
// the warning point becomes the warning point.
struct EffectiveThresholds {
  double warning_percent;
  double critical_percent;
  std::uint64_t min_available_bytes;
  double hysteresis_percent;
};
EffectiveThresholds effective_thresholds(const Thresholds& t, const Snapshot& s) noexcept;

// Level of a snapshot with no history (entering thresholds only).
Level classify(const EffectiveThresholds& t, const Snapshot& s) noexcept;

// Tracks the current level; a level is entered at its threshold and left only below the
// threshold minus hysteresis. Not thread-safe.
class LevelTracker {
 public:
  explicit LevelTracker(Thresholds t) : thresholds_(t) {}
  // Returns the new level (which may equal the previous one).
  Level update(const Snapshot& s) noexcept;
  Level level() const noexcept { return level_; }
  const Thresholds& thresholds() const noexcept { return thresholds_; }
  void set_thresholds(const Thresholds& t) noexcept { thresholds_ = t; }

 private:
  Thresholds thresholds_;
  Level level_ = Level::normal;
};

}  // namespace soroka::oomguard
