// Renders snapshots and audits for `soroka monitor`: JSON objects and compact human lines.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "oomguard/audit.h"
#include "oomguard/levels.h"
#include "oomguard/sampler.h"

namespace soroka::cli {

// The JSON object documented in README ("soroka monitor --json"). Unlimited values are null.
nlohmann::json snapshot_json(const oomguard::Snapshot& s, const oomguard::TargetInfo& t,
                             const oomguard::Thresholds& th, oomguard::Level level);

// One compact line with a bar of used against the limit; ANSI colour when `color`.
std::string snapshot_line(const oomguard::Snapshot& s, const oomguard::TargetInfo& t,
                          oomguard::Level level, bool color);

nlohmann::json audit_json(const oomguard::AuditReport& r, const nlohmann::json& snapshot);
std::string audit_text(const oomguard::AuditReport& r, bool color);

}  // namespace soroka::cli
