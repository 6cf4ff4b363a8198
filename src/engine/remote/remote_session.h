// RemoteSession: one transcription on a remote engine: segments joined into chunks, at most
// max_concurrency requests in flight on sender threads, answers handed back in input order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "engine/remote/balancer.h"
#include "engine/remote/chunk.h"
#include "engine/remote/remote_engine.h"

namespace soroka::engine::remote {

// What an engine's sessions share: the settings, the key, one HTTP client (its idle
// connections stay open between chunks and jobs) and the balancer.
struct RemoteEngine::Shared {
  Shared(const RemoteEngineSettings& s, std::string key)
      : settings(s), api_key(std::move(key)),
        client(net::ClientParams{.max_answer_bytes = kMaxAnswerBytes,
                                 .max_idle_handles = std::max<std::size_t>(2, s.max_concurrency)}),
        balancer(s.urls) {}
  const RemoteEngineSettings settings;
  const std::string api_key;
  net::HttpClient client;
  Balancer balancer;
};

// Memory: the chunk being built plus at most max_concurrency encoded chunks (each with its
// PCM only when keep_audio) and their answers; submit() blocks while that many are in flight.
class RemoteSession final : public Session {
 public:
  RemoteSession(std::shared_ptr<RemoteEngine::Shared> shared, SessionParams p);
  ~RemoteSession() override;  // aborts requests in flight and joins the senders

  Result<SegmentText> transcribe(const segment::Segment& seg) override;
  Result<std::vector<Recognised>> submit(segment::Segment&& seg) override;
  Result<std::vector<Recognised>> drain() override;

 private:
  struct Sealed {
    Chunk chunk;  // pcm emptied unless keep_audio
    std::string flac;  // or WAV: the file uploaded
  };
  struct Done {
    Chunk chunk;
    std::vector<SegmentText> texts;
  };

  Result<std::string> encode(const Chunk& c) const;  // FLAC or WAV (uploads_wav)
  Result<void> seal();
  Result<void> enqueue(Chunk&& c);
  Result<void> wait_for_room();
  Result<void> wait_while(std::unique_lock<std::mutex>& l, const std::function<bool()>& busy);
  void pause(std::chrono::milliseconds d);
  Result<std::vector<Recognised>> take_ready();  // under mu_
  void sender();
  Result<std::vector<SegmentText>> send(const Sealed& s);
  std::string prompt_for(std::uint64_t seq);
  std::string redact(std::string text) const;
  Error chunk_error(const Chunk& c, FailureKind kind, const std::string& why) const;

  std::shared_ptr<RemoteEngine::Shared> shared_;
  const RemoteEngineSettings& s_;
  SessionParams p_;
  Chunk building_;
  std::uint64_t next_seq_ = 0;  // the next chunk sealed gets this
  std::uint64_t next_out_ = 0;  // the next chunk handed back

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Sealed> queue_;            // sealed, not yet taken by a sender (front first)
  std::size_t in_flight_ = 0;           // queued or being sent
  std::map<std::uint64_t, Done> done_;  // answered, waiting for their turn
  std::map<std::uint64_t, std::string> tails_;  // each chunk's last words: the next one's prompt
  std::optional<Error> failed_;
  bool stopping_ = false;
  std::atomic<bool> abort_{false};
  std::vector<std::thread> senders_;
};

}  // namespace soroka::engine::remote
