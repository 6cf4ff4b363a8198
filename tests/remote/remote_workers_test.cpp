// A remote engine's workers run the engine as `soroka serve` holds it: an edit of the config
// file reaches them only with the service, at SIGHUP; the engine's key never is in a worker's
// command line.
#include <dirent.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "pipeline/samples.h"
#include "remote/fake_whisper.h"
#include "service/serve_instance.h"

namespace soroka::test {
namespace {

constexpr const char* kKey = "sk-remote-workers-0123456789";

// The command lines of every process now that holds `needle` in its own.
std::vector<std::string> cmdlines_with(const std::string& needle) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) out.push_back(cmd);
  }
  ::closedir(d);
  return out;
}

void write_config(const std::string& path, const std::vector<const FakeWhisper*>& servers) {
  std::ofstream f(path, std::ios::trunc);
  f << "[engines.w]\ntype = \"openai\"\nurls = [";
  for (std::size_t i = 0; i < servers.size(); ++i) f << (i ? ", " : "") << '"' << servers[i]->openai_url() << '"';
  f << "]\napi_key = \"" << kKey << "\"\n";
}

std::size_t requests_to(const std::vector<const FakeWhisper*>& servers) {
  std::size_t n = 0;
  for (const auto* s : servers) n += s->requests().size();
  return n;
}

TEST(RemoteWorkers, RunTheServicesSnapshotNotAnEditedFileUntilSighup) {
  TempDir dir;
  FakeWhisper before, after1, after2;
  const std::string wav = dir / "tones.wav";
  tone_bursts_wav(wav, 3);
  const std::string config = dir / "front.toml";
  write_config(config, {&before});
  // A worker per job: every job below starts a new one.
  ServeInstance front({"SOROKA_CONFIG=" + config, "SOROKA_WORKER_IDLE_TTL_MS=0"});
  auto run = [&] {
    const std::string id = front.submit(wav, "w");
    if (id.empty()) return std::string("<submit failed>");
    return front.wait_final(id, std::chrono::seconds(60)).dump();
  };

  // While the first job waits on its server, its worker is there to look at.
  before.slow(1500);
  const std::string id = front.submit(wav, "w");
  ASSERT_FALSE(id.empty());
  std::vector<std::string> workers;
  for (int i = 0; i < 100 && workers.empty(); ++i) {
    workers = cmdlines_with("--engine-on-stdin");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(workers.empty()) << "no worker of the remote engine was seen";
  for (const auto& w : workers) {
    EXPECT_EQ(w.find(kKey), std::string::npos) << w;
    EXPECT_EQ(w.find("front.toml"), std::string::npos) << "the worker read the file itself: " << w;
  }
  EXPECT_NE(front.wait_final(id, std::chrono::seconds(60)).dump().find("\"succeeded\""), std::string::npos);
  before.slow(0);
  ASSERT_EQ(before.requests().size(), 1u);
  EXPECT_EQ(before.requests()[0].authorization, std::string("Bearer ") + kKey) << "the key came over stdin";

  // Edited, not reloaded: the next worker still asks the server the service knows.
  write_config(config, {&after1, &after2});
  EXPECT_NE(run().find("\"succeeded\""), std::string::npos);
  EXPECT_EQ(before.requests().size(), 2u);
  EXPECT_EQ(requests_to({&after1, &after2}), 0u);

  // Reloaded: /healthz shows the two new URLs, and the next worker asks them.
  ASSERT_EQ(::kill(front.pid(), SIGHUP), 0);
  bool reloaded = false;
  for (int i = 0; i < 200 && !reloaded; ++i) {  // 10 s: a liveness bound, a reload takes milliseconds
    auto h = front.client().Get("/healthz");
    const auto j = h ? nlohmann::json::parse(h->body, nullptr, false) : nlohmann::json();
    const auto w = j.is_object() ? j.value("engines", nlohmann::json::object()).value("w", nlohmann::json::object())
                                 : nlohmann::json::object();
    reloaded = w.is_object() && w.value("urls", 0) == 2;
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(reloaded);
  EXPECT_NE(run().find("\"succeeded\""), std::string::npos);
  EXPECT_EQ(before.requests().size(), 2u);
  EXPECT_EQ(requests_to({&after1, &after2}), 1u);
}

}  // namespace
}  // namespace soroka::test
