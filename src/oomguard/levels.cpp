// Memory levels (normal/warning/critical), their thresholds, and a classifier with hysteresis.
#include "oomguard/levels.h"

#include <cmath>
#include <string>

#include <fmt/format.h>

namespace soroka::oomguard {

const char* to_string(Level l) noexcept {
  switch (l) {
    case Level::normal: return "normal";
    case Level::warning: return "warning";
    case Level::critical: return "critical";
  }
  return "?";
}

Result<void> Thresholds::validate() const {
  auto bad = [](std::string_view key, double v, std::string_view why) {
    return fail(fmt::format("invalid {} = {}: {}", key, v, why), EINVAL);
  };
  if (!std::isfinite(warning_percent) || warning_percent <= 0 || warning_percent >= 100)
    return bad("warning_percent", warning_percent, "must be in (0, 100)");
  if (!std::isfinite(critical_percent) || critical_percent <= 0 || critical_percent > 100)
    return bad("critical_percent", critical_percent, "must be in (0, 100]");
  if (critical_percent <= warning_percent)
    return bad("critical_percent", critical_percent,
               fmt::format("must be above warning_percent ({})", warning_percent));
  if (!std::isfinite(hysteresis_percent) || hysteresis_percent < 0 ||
      hysteresis_percent >= warning_percent)
    return bad("hysteresis_percent", hysteresis_percent, "must be in [0, warning_percent)");
  return {};
}

EffectiveThresholds effective_thresholds(const Thresholds& t, const Snapshot& s) noexcept {
  EffectiveThresholds e{t.warning_percent, t.critical_percent, t.min_available_bytes,
                        t.hysteresis_percent};
  if (s.high_bytes_effective && s.limit_bytes) {
    double high_pct =
        100.0 * static_cast<double>(s.high_bytes_effective) / static_cast<double>(s.limit_bytes);
    if (high_pct < e.warning_percent) e.warning_percent = high_pct;
  }
  return e;
}

namespace {
bool critical_entered(const EffectiveThresholds& t, const Snapshot& s) noexcept {
  return s.used_percent >= t.critical_percent || s.available_bytes < t.min_available_bytes;
}
bool critical_left(const EffectiveThresholds& t, const Snapshot& s) noexcept {
  double margin = static_cast<double>(s.limit_bytes) * t.hysteresis_percent / 100.0;
  return s.used_percent < t.critical_percent - t.hysteresis_percent &&
         static_cast<double>(s.available_bytes) >=
             static_cast<double>(t.min_available_bytes) + margin;
}
bool warning_entered(const EffectiveThresholds& t, const Snapshot& s) noexcept {
  return s.used_percent >= t.warning_percent;
}
bool warning_left(const EffectiveThresholds& t, const Snapshot& s) noexcept {
  // A memory.high far below the limit can lower the warning point under the hysteresis
  // (MemoryHigh=1% of MemoryMax): the exit would be below 0 % and never reached. Then half
  // the warning point is the margin. validate() keeps configured ones below it.
  double margin =
      t.hysteresis_percent < t.warning_percent ? t.hysteresis_percent : t.warning_percent / 2;
  return s.used_percent < t.warning_percent - margin;
}
}  // namespace

Level classify(const EffectiveThresholds& t, const Snapshot& s) noexcept {
  if (critical_entered(t, s)) return Level::critical;
  if (warning_entered(t, s)) return Level::warning;
  return Level::normal;
}

Level LevelTracker::update(const Snapshot& s) noexcept {
  const EffectiveThresholds t = effective_thresholds(thresholds_, s);
  Level fresh = classify(t, s);
  if (fresh >= level_) {
    level_ = fresh;  // going up (or staying) needs no margin
    return level_;
  }
  // Going down: step only as far as the exit conditions allow.
  if (level_ == Level::critical) {
    if (!critical_left(t, s)) return level_;
    level_ = warning_left(t, s) ? Level::normal : Level::warning;
    return level_;
  }
  if (level_ == Level::warning && warning_left(t, s)) level_ = Level::normal;
  return level_;
}

}  // namespace soroka::oomguard
