// RemoteEngine: a Whisper-class HTTP server (OpenAI's API, whisper.cpp's server) as an engine:
// segments joined into chunks, encoded to FLAC, sent up to max_concurrency at once, stitched.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/remote_engines.h"
#include "engine/engine.h"
#include "engine/remote/balancer.h"
#include "net/http_client.h"

namespace soroka::engine::remote {

// Memory of one session: max_concurrency chunks in flight, each its PCM (kept for stages),
// its FLAC and its answer, plus the one being built (PCM) and FFmpeg's encoder.
std::uint64_t session_bytes(const RemoteEngineSettings& s);

// The largest answer read for one chunk: verbose_json of a 30-minute chunk with word timings
// is ~0.5 MB (5400 words at ~90 bytes); 4 MiB is 8x that.
inline constexpr std::size_t kMaxAnswerBytes = 4u << 20;

// Thread-safe (sessions share the HTTP client and the balancer). `fallback` (may be null) is a
// local engine used when, at a session's start, none of the URLs can be reached.
class RemoteEngine final : public Engine {
 public:
  RemoteEngine(RemoteEngineSettings s, std::string api_key, std::unique_ptr<Engine> fallback = nullptr);
  ~RemoteEngine() override;

  std::string name() const override { return s_.name; }
  std::vector<std::string> languages() const override { return s_.languages; }
  Capabilities capabilities() const override;
  MemoryCost memory_cost() const override;
  Result<std::unique_ptr<Session>> start(const SessionParams& p) override;

  // Whether any URL answers now (health.h, probe_urls), within `timeout`.
  bool reachable(std::chrono::milliseconds timeout);

  struct Shared;

 private:
  RemoteEngineSettings s_;
  std::unique_ptr<Engine> fallback_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace soroka::engine::remote
