// No fake: one `soroka serve` (pocketsphinx, an API key, loopback) is the remote engine of
// another `soroka serve`, whose sandboxed worker reaches it over the network. The remote
// transcript must match a direct one within 3 WER points against the LibriVox reference.
#include <cmath>
#include <csignal>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "pipeline/samples.h"
#include "service/serve_instance.h"
#include "support/format_validators.h"

namespace soroka::test {
namespace {

constexpr const char* kBackKey = "sk-back-end-0123456789abcdef";

// The five LibriVox utterances twice: 49 s of speech, two 30 s chunks.
std::string librivox_twice(const std::string& dir, std::string& reference) {
  const auto refs = librivox_references();
  std::string files;
  for (int round = 0; round < 2; ++round)
    for (const auto& [id, text] : refs) {
      files += " " + kLibrivoxDir + "/" + id + ".wav";
      reference += (reference.empty() ? "" : " ") + text;
    }
  const std::string out = dir + "/librivox2.wav";
  sh("sox" + files + " " + out);
  return out;
}

// The text of `file` transcribed by `model`; `job`, when given, gets the final job JSON.
std::string job_text(const ServeInstance& s, const std::string& file, const std::string& model,
                     nlohmann::json* job) {
  const std::string id = s.submit(file, model);
  if (id.empty()) return "<submit failed>";
  auto j = s.wait_final(id, std::chrono::seconds(240));
  if (j.value("state", "") != "succeeded") return "<" + j.dump() + ">";
  if (job) *job = j;
  return j["result"].value("text", "");
}

TEST(RemoteEndToEnd, OneServeIsTheRemoteEngineOfAnother) {
  TempDir dir;
  std::string reference;
  const std::string wav = librivox_twice(dir.path(), reference);

  ServeInstance back({std::string("SOROKA_SERVER_API_KEYS=") + kBackKey});
  const std::string config = dir / "front.toml";
  std::ofstream(config) << "[engines.back]\ntype = \"openai\"\nurl = \"http://127.0.0.1:" << back.port()
                        << "/v1\"\napi_key = \"" << kBackKey << "\"\nchunk_seconds = 30\nmax_concurrency = 2\n";
  ServeInstance front({"SOROKA_CONFIG=" + config});

  // The front offers it by name and checks it.
  auto models = front.client().Get("/v1/models");
  ASSERT_TRUE(models && models->status == 200);
  EXPECT_NE(models->body.find("\"back\""), std::string::npos) << models->body;
  auto health = nlohmann::json::parse(front.client().Get("/healthz")->body);
  EXPECT_EQ(health["status"], "ok") << health.dump();
  EXPECT_TRUE(health["engines"].contains("back")) << health.dump();

  nlohmann::json job;
  const std::string remote = job_text(front, wav, "back", &job);
  const std::string direct = job_text(front, wav, "pocketsphinx", nullptr);
  EXPECT_EQ(job.value("model", ""), "back");
  EXPECT_EQ(job["result"].value("engine", ""), "back") << "the result names the engine that made it";
  // The worker was sized by its request buffers (64 MiB process + ~14 MiB for two 30 s chunks
  // in flight), not worker.memory_per_job (256 MiB), and that limit held: one attempt.
  EXPECT_EQ(job.value("runs", 0), 1) << job.dump();
  EXPECT_EQ(job.value("attempts", -1), 0) << "no failed attempt: " << job.dump();
  EXPECT_GT(job.value("peak_bytes", std::uint64_t{0}), 0u) << job.dump();
  EXPECT_LT(job.value("peak_bytes", std::uint64_t{0}), std::uint64_t{100} << 20) << job.dump();
  const double wer_remote = word_error_rate(reference, remote);
  const double wer_direct = word_error_rate(reference, direct);
  std::cout << "  WER direct " << wer_direct * 100 << " %, through the remote engine " << wer_remote * 100 << " %\n";
  EXPECT_LE(std::abs(wer_remote - wer_direct), 0.03) << "direct: " << direct << "\nremote: " << remote;
  // The back end did the work: a request for each chunk (two) and its health checks.
  EXPECT_GE(std::stoi(metric(back, "soroka_http_requests_total")), 2);
}

TEST(RemoteEndToEnd, AnUnreachableEngineMakesHealthzDegraded) {
  TempDir dir;
  const std::string config = dir / "front.toml";
  std::ofstream(config) << "[engines.gone]\nurl = \"http://127.0.0.1:" << free_loopback_port() << "/v1\"\n";
  ServeInstance front({"SOROKA_CONFIG=" + config});
  nlohmann::json h;
  for (int i = 0; i < 100; ++i) {
    h = nlohmann::json::parse(front.client().Get("/healthz")->body);
    if (h["engines"]["gone"]["status"] != "unknown") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(h["status"], "degraded") << h.dump();
  EXPECT_EQ(h["engines"]["gone"]["status"], "unreachable") << h.dump();

  // A reload that swaps the engine is checked at once, not at the next 15 s round.
  std::ofstream(config, std::ios::trunc) << "[engines.later]\nurl = \"http://127.0.0.1:" << free_loopback_port()
                                         << "/v1\"\n";
  ASSERT_EQ(::kill(front.pid(), SIGHUP), 0);
  for (int i = 0; i < 200; ++i) {  // 10 s: a liveness bound, the check takes one second
    h = nlohmann::json::parse(front.client().Get("/healthz")->body);
    if (h["engines"].contains("later") && h["engines"]["later"]["status"] != "unknown") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(h["engines"]["later"]["status"], "unreachable") << h.dump();
  EXPECT_FALSE(h["engines"].contains("gone")) << h.dump();
  auto models = front.client().Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_NE(models->body.find("\"later\""), std::string::npos) << models->body;
}

}  // namespace
}  // namespace soroka::test
