// StateSweep: removes files of the state dir that no job refers to.
#include "service/state_sweep.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>

namespace soroka::service {

namespace {

namespace fs = std::filesystem;

std::string file_name(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

struct Candidate {
  std::string path, name;
  std::uint64_t bytes = 0;
};

}  // namespace

void InFlightFiles::add(const std::string& path) {
  std::lock_guard lk(mu_);
  names_.insert(file_name(path));
}

void InFlightFiles::remove(const std::string& path) {
  std::lock_guard lk(mu_);
  if (auto it = names_.find(file_name(path)); it != names_.end()) names_.erase(it);
}

bool InFlightFiles::contains(std::string_view name) const {
  std::lock_guard lk(mu_);
  return names_.find(name) != names_.end();
}

InFlightGuard::InFlightGuard(InFlightFiles* files, std::string path)
    : files_(files), path_(std::move(path)) {
  if (files_) files_->add(path_);
}

InFlightGuard::~InFlightGuard() {
  if (files_) files_->remove(path_);
}

Result<SweepReport> sweep_orphans(jobs::JobQueue& store, const SweepParams& params) {
  SweepReport report;
  // 1. Old enough and not in flight. lstat: a link is not ours to follow or remove.
  const auto cutoff = std::chrono::system_clock::now() - params.grace;
  std::vector<Candidate> candidates;
  for (const auto& dir : params.dirs) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) {
      if (ec != std::errc::no_such_file_or_directory)
        report.errors.push_back(dir + ": " + ec.message());
      continue;
    }
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      const std::string path = it->path().string();
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) report.errors.push_back(path + ": " + std::strerror(errno));
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;
      const auto mtime = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::seconds(st.st_mtim.tv_sec) +
              std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
      if (mtime > cutoff) continue;
      std::string name = it->path().filename().string();
      if (params.in_flight && params.in_flight->contains(name)) continue;
      candidates.push_back({path, std::move(name), static_cast<std::uint64_t>(st.st_size)});
    }
    if (ec) report.errors.push_back(dir + ": " + ec.message());
  }
  if (candidates.empty()) return report;

  // 2. What the jobs refer to, read now: a file recorded while we listed is in it.
  auto refs = store.file_references();
  if (!refs) return std::unexpected(std::move(refs.error()).with_context("sweeping the state dir"));
  std::unordered_set<std::string> names, ids(refs->ids.begin(), refs->ids.end());
  for (const auto& p : refs->paths) names.insert(file_name(p));

  // 3. Remove the rest.
  for (auto& c : candidates) {
    // A known voice's clip beside a job's input ("<input>.speaker0", job_params.h) lives
    // as long as the input does.
    if (names.contains(c.name) || names.contains(c.name.substr(0, c.name.rfind('.'))) ||
        ids.contains(c.name.substr(0, c.name.find('.'))))
      continue;
    if (::unlink(c.path.c_str()) != 0) {
      if (errno != ENOENT) report.errors.push_back(c.path + ": " + std::strerror(errno));
      continue;
    }
    ++report.files;
    report.bytes += c.bytes;
    report.removed.push_back(std::move(c.path));
  }
  return report;
}

}  // namespace soroka::service
