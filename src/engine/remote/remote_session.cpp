// RemoteSession: chunks built from segments, sent by sender threads with retries, handed back
// in input order.
#include "engine/remote/remote_session.h"

#include <fmt/format.h>

#include "engine/remote/retry.h"
#include "engine/remote/wire.h"
#include "media/decoder.h"
#include "media/encoder.h"
#include "util/log.h"
#include "util/text.h"

namespace soroka::engine::remote {

namespace {

// Multipart framing and the small fields around the audio: a few hundred bytes; 16 KiB
// leaves room for a long prompt and any proxy's headers.
constexpr std::uint64_t kFormOverhead = 16u << 10;
// How often a waiting pipeline thread says it is alive (SessionParams::still_working).
constexpr auto kAliveEvery = std::chrono::seconds(1);

double jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string clock_text(double s) {
  const auto t = static_cast<long>(s);
  return fmt::format("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
}

std::string describe(const net::HttpAnswer& a) {
  if (a.status == 0) return a.timed_out ? "timed out" : "no answer (" + log_escape(a.transport, 200) + ")";
  if (a.too_large) return fmt::format("HTTP {}: answer over {} bytes", a.status, kMaxAnswerBytes);
  return fmt::format("HTTP {}: {}", a.status, server_message(a.body));
}

std::string joined_text(const std::vector<SegmentText>& texts) {
  std::string t;
  for (const auto& s : texts)
    if (!s.text.empty()) t += (t.empty() ? "" : " ") + s.text;
  return t;
}

}  // namespace

RemoteSession::RemoteSession(std::shared_ptr<RemoteEngine::Shared> shared, SessionParams p)
    : shared_(std::move(shared)), s_(shared_->settings), p_(std::move(p)) {
  for (std::uint64_t i = 0; i < s_.max_concurrency; ++i) senders_.emplace_back([this] { sender(); });
}

RemoteSession::~RemoteSession() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  abort_ = true;
  cv_.notify_all();
  for (auto& t : senders_) t.join();
}

// A server may echo the key it refused ("Incorrect API key provided: sk-..."): whatever it
// says passes through here before it is logged or becomes an error.
std::string RemoteSession::redact(std::string text) const {
  const std::string& key = shared_->api_key;
  if (!key.empty())
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at)) text.replace(at, key.size(), "<api key>");
  return text;
}

Error RemoteSession::chunk_error(const Chunk& c, FailureKind kind, const std::string& why) const {
  std::string msg = fmt::format("remote engine '{}': the audio at {}: {}", s_.name, clock_text(c.start_s(media::kSampleRate)), why);
  return Error{kind == FailureKind::invalid_request ? EINVAL : EIO, redact(std::move(msg)), kind};
}

Result<std::string> RemoteSession::encode(const Chunk& c) const {
  if (uploads_wav(s_)) return media::encode_wav(c.pcm, media::kSampleRate);
  return media::encode_flac(c.pcm, media::kSampleRate);
}

Result<SegmentText> RemoteSession::transcribe(const segment::Segment& seg) {
  Sealed s;
  segment::Segment copy = seg;
  s.chunk.add(std::move(copy));
  auto flac = encode(s.chunk);
  if (!flac) return std::unexpected(flac.error());
  s.flac = std::move(*flac);
  auto texts = send(s);
  if (!texts) return std::unexpected(texts.error());
  return std::move(texts->front());
}

Result<std::vector<Recognised>> RemoteSession::submit(segment::Segment&& seg) {
  const double seg_s = static_cast<double>(seg.samples.size()) / media::kSampleRate;
  if (chunk_full(building_.seconds(media::kSampleRate), seg_s, s_.chunk_seconds))
    if (auto r = seal(); !r) return std::unexpected(r.error());
  building_.add(std::move(seg));
  std::lock_guard l(mu_);
  return take_ready();
}

Result<std::vector<Recognised>> RemoteSession::drain() {
  if (auto r = seal(); !r) return std::unexpected(r.error());
  std::unique_lock l(mu_);
  if (auto r = wait_while(l, [&] { return in_flight_ > 0; }); !r) return std::unexpected(r.error());
  return take_ready();
}

Result<std::vector<Recognised>> RemoteSession::take_ready() {
  if (failed_) return std::unexpected(*failed_);
  std::vector<Recognised> out;
  for (auto it = done_.find(next_out_); it != done_.end(); it = done_.find(++next_out_)) {
    Done d = std::move(it->second);
    done_.erase(it);
    std::vector<segment::Segment> audio;
    if (p_.keep_audio) audio = pieces_audio(d.chunk);
    for (std::size_t i = 0; i < d.chunk.pieces.size(); ++i) {
      segment::Segment seg;
      if (i < audio.size()) seg = std::move(audio[i]);
      seg.start_sample = d.chunk.pieces[i].start_sample;
      out.push_back({std::move(seg), std::move(d.texts[i])});
    }
  }
  return out;
}

Result<void> RemoteSession::seal() {
  if (building_.pieces.empty()) return {};
  Chunk c = std::move(building_);
  building_ = Chunk{};
  return enqueue(std::move(c));
}

Result<void> RemoteSession::wait_for_room() {
  std::unique_lock l(mu_);
  return wait_while(l, [&] { return in_flight_ >= s_.max_concurrency; });
}

// Waits on the pipeline's thread while `busy()`, saying it is alive every second; ends early
// on a chunk's failure (returned) or a cancellation (ECANCELED, and requests in flight end).
Result<void> RemoteSession::wait_while(std::unique_lock<std::mutex>& l, const std::function<bool()>& busy) {
  while (busy() && !failed_) {
    if (p_.stop.stop_requested()) {
      abort_ = true;
      return fail(FailureKind::internal, "cancelled", ECANCELED);
    }
    cv_.wait_for(l, kAliveEvery);
    if (p_.still_working) {
      l.unlock();
      p_.still_working();
      l.lock();
    }
  }
  if (failed_) return std::unexpected(*failed_);
  return {};
}

Result<void> RemoteSession::enqueue(Chunk&& c) {
  if (auto r = wait_for_room(); !r) return r;
  auto flac = encode(c);
  if (!flac) return std::unexpected(flac.error());
  const std::uint64_t budget = s_.max_request_bytes > kFormOverhead ? s_.max_request_bytes - kFormOverhead : 0;
  if (flac->size() > budget) {
    const std::size_t bytes = flac->size();
    *flac = std::string();
    auto halves = split(std::move(c));
    if (!halves)
      return std::unexpected(chunk_error(c, FailureKind::internal,
                                         fmt::format("one segment encodes to {} bytes, over max_request_bytes ({})",
                                                     bytes, s_.max_request_bytes)));
    if (auto r = enqueue(std::move(halves->first)); !r) return r;
    return enqueue(std::move(halves->second));
  }
  c.seq = next_seq_++;
  if (!p_.keep_audio) c.pcm = std::vector<std::int16_t>();
  {
    std::lock_guard l(mu_);
    queue_.push_back(Sealed{std::move(c), std::move(*flac)});
    ++in_flight_;
  }
  cv_.notify_all();
  return {};
}

void RemoteSession::sender() {
  for (;;) {
    Sealed s;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      s = std::move(queue_.front());
      queue_.pop_front();
    }
    auto r = send(s);
    {
      std::lock_guard l(mu_);
      if (!r) {
        if (!failed_) failed_ = std::move(r.error());
      } else {
        tails_[s.chunk.seq] = prompt_tail(joined_text(*r));
        done_[s.chunk.seq] = Done{std::move(s.chunk), std::move(*r)};
      }
      --in_flight_;
    }
    cv_.notify_all();
  }
}

std::string RemoteSession::prompt_for(std::uint64_t seq) {
  std::lock_guard l(mu_);
  if (seq == 0) return {};
  auto it = tails_.find(seq - 1);
  std::string p = it == tails_.end() ? std::string() : it->second;
  // Tails older than the one just used are of no further use.
  tails_.erase(tails_.begin(), tails_.lower_bound(seq - 1));
  return p;
}

void RemoteSession::pause(std::chrono::milliseconds d) {
  std::unique_lock l(mu_);
  cv_.wait_for(l, d, [&] { return stopping_; });
}

Result<std::vector<SegmentText>> RemoteSession::send(const Sealed& s) {
  using Clock = std::chrono::steady_clock;
  const std::string prompt = prompt_for(s.chunk.seq);
  const auto form = request_form(s_, s.flac, p_.language, prompt);
  const auto headers = request_headers(shared_->api_key);
  unsigned tries = 0;
  Clock::time_point unreachable_since{};  // of the current run of failed connects
  bool unreachable = false;
  for (;;) {
    if (abort_) return fail(FailureKind::internal, "cancelled", ECANCELED);
    const std::size_t idx = shared_->balancer.pick();
    const std::string& url = shared_->balancer.url(idx);
    net::HttpAnswer a = shared_->client.post_form(endpoint(s_.type, url), form, headers, s_.timeout, &abort_);
    shared_->balancer.done(idx, !a.connect_failed);
    if (abort_) return fail(FailureKind::internal, "cancelled", ECANCELED);
    // Another URL may answer: try it at once; the balancer has set this one aside.
    if (a.connect_failed && shared_->balancer.any_healthy()) {
      spdlog::warn("event=remote_unreachable engine={} url=\"{}\" error=\"{}\"", s_.name, log_escape(url),
                   log_escape(a.transport));
      continue;
    }
    const auto now = Clock::now();
    if (a.connect_failed && !unreachable) unreachable_since = now;
    unreachable = a.connect_failed;
    if (!unreachable) ++tries;
    const auto down = unreachable ? std::chrono::duration_cast<std::chrono::milliseconds>(now - unreachable_since)
                                  : std::chrono::milliseconds(0);
    Decision d = decide(a, tries, down, s_, jitter());
    if (d.next == Next::done) {
      auto parsed = parse_answer(a.body);
      if (parsed) return stitch(s.chunk.pieces, *parsed, media::kSampleRate);
      // A 2xx that is not a transcription: a server fault, retried like a 5xx.
      a.status = 502;
      a.body = parsed.error().message;
      d = decide(a, tries, down, s_, jitter());
    }
    switch (d.next) {
      case Next::done: break;
      case Next::retry:
      case Next::wait:
        spdlog::warn("event=remote_retry engine={} url=\"{}\" chunk={} tries={} wait_ms={} error=\"{}\"", s_.name,
                     log_escape(url), s.chunk.seq, tries, d.wait.count(), log_escape(redact(describe(a))));
        pause(d.wait);
        continue;
      case Next::fail_request:
        return std::unexpected(chunk_error(s.chunk, FailureKind::invalid_request,
                                           "the server refused it: " + describe(a)));
      case Next::fail_tries:
        return std::unexpected(chunk_error(s.chunk, FailureKind::internal,
                                           fmt::format("failed after {} tries; the last: {}", tries, describe(a))));
      case Next::fail_unreachable:
        return std::unexpected(chunk_error(
            s.chunk, FailureKind::internal,
            fmt::format("no server could be reached for {} s ({}): {}", down.count() / 1000,
                        fmt::join(s_.urls, ", "), describe(a))));
    }
  }
}

}  // namespace soroka::engine::remote
