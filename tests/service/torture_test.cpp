// Torture: the service in a real 700 MiB cgroup-v1 limit under 24 concurrent mixed requests.
#include <sys/wait.h>

#include <future>

#include <gtest/gtest.h>

#include "service/serve_instance.h"
#include "support/cgroup_v1.h"
#include "support/media_fixtures.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;

// A WAV of the speech sample followed by silence, just under `limit` bytes: a valid file at
// the size limit (silence keeps the recognizer's time short).
std::optional<std::string> near_limit_wav(const std::string& speech, std::uint64_t limit) {
  std::string out = (media_cache_dir() / ("near-limit-" + std::to_string(limit) + ".wav")).string();
  if (std::filesystem::exists(out)) return out;
  // 16 kHz mono s16 = 32000 B/s; the header is 44 bytes.
  double total_s = static_cast<double>(limit - 4096) / 32000.0;
  auto r = run({"/usr/bin/sox", speech, "-r", "16000", "-c", "1", "-b", "16", out + ".tmp.wav", "pad", "0",
                std::to_string(std::max(1.0, total_s - 14.7))});
  if (r.exit_code != 0) return std::nullopt;
  std::filesystem::rename(out + ".tmp.wav", out);
  return out;
}

TEST(ServeTorture, SevenHundredMiBCgroupTwentyFourConcurrentRequests) {
  std::string why;
  ASSERT_TRUE(v1_memory_available(&why)) << "cgroup v1 memory is needed: " << why;
  ASSERT_EQ(missing_media_tools(), "");
  auto cg = V1Cgroup::create(700ull << 20, &why);
  ASSERT_TRUE(cg) << why;
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  auto long_note = long_voice_note(1);
  ASSERT_TRUE(long_note) << long_note.error().message;
  const std::uint64_t max_file = 4ull << 20;
  auto near = near_limit_wav(speech->path.string(), max_file);
  ASSERT_TRUE(near);
  ASSERT_LT(std::filesystem::file_size(*near), max_file);

  ServeInstance server({"SOROKA_MEMORY_MAX_FILE_SIZE=4MiB"}, {}, cg->dir() + "/cgroup.procs");
  const pid_t pid = server.pid();

  struct Req {
    std::string what;
    std::string body;
    std::string name;
    std::vector<int> ok_status;
    bool chunked = false;
  };
  std::vector<Req> reqs;
  const std::string wav = ServeInstance::read_all(speech->path);
  for (int i = 0; i < 6; ++i) reqs.push_back({"short", wav, "short.wav", {200}});
  for (int i = 0; i < 1; ++i) reqs.push_back({"long", ServeInstance::read_all(long_note->path), "long.ogg", {200}});
  for (int i = 0; i < 1; ++i) reqs.push_back({"near-limit", ServeInstance::read_all(*near), "near.wav", {200}});
  std::string big(5u << 20, 'x');
  for (int i = 0; i < 2; ++i) reqs.push_back({"oversize", big, "big.wav", {413}});
  for (int i = 0; i < 2; ++i) reqs.push_back({"oversize-chunked", big, "big.wav", {413}, true});
  for (const std::string b : {"text", "random", "video_only", "unknown_codec", "text", "random"}) {
    auto p = bad_sample(b);
    ASSERT_TRUE(p);
    reqs.push_back({b, ServeInstance::read_all(p->string()), b + ".bin", {415}});
  }
  for (const std::string b : {"truncated_wav", "truncated_ogg", "truncated_mp3", "truncated_flac", "truncated_webm", "empty"}) {
    auto p = bad_sample(b);
    ASSERT_TRUE(p);
    // A truncated file may still hold readable audio (200) or be refused (400/415).
    reqs.push_back({b, ServeInstance::read_all(p->string()), b + ".bin", {200, 400, 415}});
  }
  ASSERT_GE(reqs.size(), 24u);

  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<std::pair<int, std::string>>> replies;
  for (const auto& q : reqs)
    replies.push_back(std::async(std::launch::async, [&server, &q]() -> std::pair<int, std::string> {
      auto c = server.client(300);
      auto send = [&]() -> httplib::Result {
      if (q.chunked) {
        std::string body = "--B0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + q.name +
                           "\"\r\n\r\n" + q.body + "\r\n--B0und--\r\n";
        return post_chunked(c, "/v1/audio/transcriptions", body, 256 * 1024,
                            "multipart/form-data; boundary=B0und");
      }
      return c.Post("/v1/audio/transcriptions",
                    httplib::MultipartFormDataItems{{"file", q.body, q.name, "application/octet-stream"}});
      };
      auto r = send();
      if (!r) return {-1, httplib::to_string(r.error())};
      return {r->status, r->body};
    }));
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_EQ(replies[i].wait_for(240s), std::future_status::ready) << reqs[i].what << " hangs";
    auto [status, body] = replies[i].get();
    const auto& okv = reqs[i].ok_status;
    EXPECT_NE(std::find(okv.begin(), okv.end(), status), okv.end())
        << reqs[i].what << ": " << status << " " << body;
    if (status >= 400) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      EXPECT_TRUE(j.is_object() && j.contains("error")) << reqs[i].what << ": " << body;
    }
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
  // The service itself was never killed: same pid, alive, healthy.
  EXPECT_EQ(server.pid(), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
  auto h = server.client().Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto m = server.client().Get("/metrics");
  ASSERT_TRUE(m);
  std::printf("torture: %zu requests in %lld s; cgroup usage now %llu MiB\n", reqs.size(),
              static_cast<long long>(elapsed.count()),
              static_cast<unsigned long long>(cg->usage() >> 20));
  for (const char* k : {"soroka_worker_starts_total", "soroka_worker_oom_kills_total", "soroka_budget_capacity_bytes",
                        "soroka_worker_preemptions_total"}) {
    auto at = m->body.find(std::string("\n") + k + " ");
    if (at != std::string::npos) std::printf("  %s\n", m->body.substr(at + 1, m->body.find('\n', at + 1) - at - 1).c_str());
  }
  EXPECT_EQ(server.stop(SIGTERM, 30s), std::optional<int>(0));
}

}  // namespace
}  // namespace soroka::test
