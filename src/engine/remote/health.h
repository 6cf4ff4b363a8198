// RemoteHealth: the service's view of its remote engines for /healthz: a thread that asks each
// engine's URLs now and then whether they answer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/remote_engines.h"
#include "net/http_client.h"

namespace soroka::engine::remote {

struct EngineHealth {
  std::string name;
  std::size_t urls = 0, reachable = 0;
  std::string last_error;  // of the last URL that did not answer ("" when all did)
  bool checked = false;    // false until the first round
};

// One look at a server's URLs: a URL is reachable when a GET of it gets any HTTP answer within
// `timeout`. No key is sent: any answer, a 401 too, shows the server is there. `first_only`:
// stop at the first that answers (a job's start only needs to know that one does).
struct ProbeResult {
  std::size_t reachable = 0;
  std::string last_error;  // of the last URL that did not answer ("" when all asked did)
};
ProbeResult probe_urls(net::HttpClient& client, const std::vector<std::string>& urls,
                       std::chrono::milliseconds timeout, bool first_only = false);

// `engines` is asked every second: a reload that adds, drops or re-points an engine is checked
// at once, the rest every `every`. A URL is reachable when a GET of it gets any HTTP answer
// within `timeout`. Thread-safe.
class RemoteHealth {
 public:
  RemoteHealth(std::function<std::vector<RemoteEngineSettings>()> engines,
               std::chrono::milliseconds every = std::chrono::seconds(15),
               std::chrono::milliseconds timeout = std::chrono::seconds(3));
  ~RemoteHealth();  // stops the thread
  // Every engine `engines` names now, in its order: its last check when that was of the URLs
  // it has now, else unchecked (just started, added or re-pointed by a reload, and not yet
  // asked). An engine a reload dropped is gone at once.
  std::vector<EngineHealth> snapshot() const;
  void check_now();  // one round on the caller's thread (tests; the first round)

 private:
  void loop();
  void check(const std::vector<RemoteEngineSettings>& engines);
  std::function<std::vector<RemoteEngineSettings>()> engines_;
  std::chrono::milliseconds every_, timeout_;
  net::HttpClient client_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  struct Checked {
    std::vector<std::string> urls;  // as they were when checked
    EngineHealth health;
  };
  std::map<std::string, Checked> state_;
  std::thread thread_;
};

}  // namespace soroka::engine::remote
