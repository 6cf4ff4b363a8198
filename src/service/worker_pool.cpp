// WorkerPool: warm workers kept between jobs, each holding a model, a cgroup limit and its reservation.
#include "service/worker_pool.h"

#include <algorithm>
#include <iterator>

#include "util/log.h"
#include "util/units.h"

namespace soroka::service {

namespace {
using namespace std::chrono_literals;

// Sets a worker's cgroup limit and reservation to `bytes`; false (nothing changed) when the
// budget has no room to grow or the kernel refuses to shrink below what is in use.
bool resize(PooledWorker& w, std::uint64_t bytes) {
  const bool grow = bytes > w.limit;
  if (grow && !w.reservation.resize(bytes)) return false;
  if (auto r = w.conn->resize(bytes); !r && r.error().code != ENOTSUP) {
    if (grow) w.reservation.resize(w.limit);
    return false;
  }
  if (!grow) w.reservation.resize(bytes);
  w.limit = bytes;
  return true;
}
}  // namespace

Result<void> WorkerPool::start(PooledWorker& w, const std::string& label) {
  auto c = launcher_.launch(w.model, w.limit, label);
  if (!c) return std::unexpected(c.error());
  w.conn = std::move(*c);
  return {};
}

std::unique_ptr<PooledWorker> WorkerPool::take(const std::string& model, std::uint64_t need) {
  std::lock_guard lk(mu_);
  std::erase_if(idle_, [](const std::unique_ptr<PooledWorker>& w) {
    if (w->conn->running()) return false;
    spdlog::warn("event=worker_lost pid={} model={} detail=\"{}\"", w->conn->pid(), w->model,
                 w->conn->wait().detail);
    return true;
  });
  auto take_at = [&](auto rit) {
    auto it = std::next(rit).base();
    auto w = std::move(*it);
    idle_.erase(it);
    return w;
  };
  // The most recently idle first: its pages are the most likely still in memory. A worker
  // sized by an earlier, larger estimate shrinks to this one, so that the room it no longer
  // needs can hold another worker.
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    PooledWorker& w = **it;
    if (w.model != model || w.limit < need) continue;
    if (w.limit > need) (void)resize(w, need);
    return take_at(it);
  }
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it)
    if ((*it)->model == model && resize(**it, need)) return take_at(it);
  return nullptr;
}

void WorkerPool::put(std::unique_ptr<PooledWorker> w) {
  w->idle_since = std::chrono::steady_clock::now();
  std::lock_guard lk(mu_);
  idle_.push_back(std::move(w));
}

bool WorkerPool::retire_oldest(const char* why) {
  std::unique_ptr<PooledWorker> w;
  {
    std::lock_guard lk(mu_);
    if (idle_.empty()) return false;
    w = std::move(idle_.front());
    idle_.erase(idle_.begin());
  }
  retire(std::move(w), why);
  return true;
}

std::size_t WorkerPool::retire_where(const std::function<bool(const PooledWorker&)>& pred,
                                     const char* why) {
  std::vector<std::unique_ptr<PooledWorker>> out;
  {
    std::lock_guard lk(mu_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (pred(**it)) {
        out.push_back(std::move(*it));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : out) retire(std::move(w), why);
  return out.size();
}

std::size_t WorkerPool::idle() const {
  std::lock_guard lk(mu_);
  return idle_.size();
}

void WorkerPool::retire(std::unique_ptr<PooledWorker> w, const char* why) {
  if (!w || !w->conn) return;  // never started: only its reservation, released below
  spdlog::info("event=worker_retired pid={} model={} jobs={} reason={} limit_mib={}",
               w->conn->pid(), w->model, w->jobs, why, to_mib(w->limit));
  w->conn->close_input();
  if (!w->conn->wait_for(1s)) {
    w->conn->terminate(0ms);
    (void)w->conn->wait();
  }
}

}  // namespace soroka::service
