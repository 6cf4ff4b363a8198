// What any Settings that apply_toml / apply_env accepted must satisfy (shared by two targets).
#pragma once

#include <chrono>
#include <cmath>
#include <limits>

#include "config/settings.h"
#include "fuzz_check.h"

namespace soroka::fuzz {

// A duration is used with steady_clock (nanoseconds in an int64): it must convert without
// overflow, with room for now() (years of uptime) added to it.
template <class D>
bool fits_clock(D d) {
  using ns = std::chrono::nanoseconds;
  const auto max_count = std::chrono::duration_cast<D>(ns(std::numeric_limits<ns::rep>::max() / 2)).count();
  return d.count() > 0 && d.count() <= max_count;
}

inline void check_settings(const Settings& s) {
  const auto& t = s.monitor.thresholds;
  FUZZ_CHECK(t.validate().has_value());
  for (double p : {t.warning_percent, t.critical_percent, t.hysteresis_percent})
    FUZZ_CHECK(std::isfinite(p) && p >= 0 && p <= 100);
  FUZZ_CHECK(fits_clock(s.monitor.poll_interval));
  FUZZ_CHECK(fits_clock(s.monitor.fast_poll_interval));
  FUZZ_CHECK(fits_clock(s.monitor.rescan_interval));
  FUZZ_CHECK(fits_clock(s.monitor.psi_stall));
  FUZZ_CHECK(fits_clock(s.monitor.psi_window));
  FUZZ_CHECK(fits_clock(s.service.request_timeout));
  FUZZ_CHECK(fits_clock(s.service.shutdown_timeout));
  FUZZ_CHECK(fits_clock(s.service.retention));
  FUZZ_CHECK(fits_clock(s.service.worker_timeout));
  FUZZ_CHECK(s.service.worker_idle_ttl.count() == 0 || fits_clock(s.service.worker_idle_ttl));
  FUZZ_CHECK(s.admission.max_file_bytes > 0);
}

}  // namespace soroka::fuzz
