// FakeWhisper: a Whisper-class transcription server for tests (loopback, cpp-httplib), speaking
// OpenAI's /v1/audio/transcriptions and whisper.cpp's /inference. It "transcribes" test audio
// made of tone bursts (tone_bursts_wav): each burst is heard as the word "w<k>" from its pitch,
// at its time within the chunk, so stitching can be checked word by word. It records requests
// and the concurrency high-water mark, and plays scripted faults.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "media/decoder.h"

namespace soroka::test {

// Burst k: a tone at kBaseHz + k * kStepHz for kToneS seconds, then kGapS of silence.
inline constexpr double kBaseHz = 200, kStepHz = 25, kToneS = 0.8, kGapS = 0.7, kLeadS = 0.5;
inline constexpr int kRate = 16000;

inline double burst_start_s(int k) { return kLeadS + k * (kToneS + kGapS); }

// A 16 kHz mono WAV of `n` bursts (a 0.5 s lead of silence first).
inline void tone_bursts_wav(const std::string& path, int n) {
  const auto total = static_cast<std::size_t>((burst_start_s(n) + 0.5) * kRate);
  std::vector<std::int16_t> pcm(total, 0);
  for (int k = 0; k < n; ++k) {
    const double hz = kBaseHz + k * kStepHz;
    const auto at = static_cast<std::size_t>(burst_start_s(k) * kRate);
    for (std::size_t i = 0; i < static_cast<std::size_t>(kToneS * kRate); ++i)
      pcm[at + i] = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * hz * static_cast<double>(i) / kRate));
  }
  std::ofstream f(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  const auto bytes = static_cast<std::uint32_t>(pcm.size() * 2);
  f.write("RIFF", 4);
  u32(36 + bytes);
  f.write("WAVEfmt ", 8);
  u32(16);
  u16(1);
  u16(1);
  u32(kRate);
  u32(kRate * 2);
  u16(2);
  u16(16);
  f.write("data", 4);
  u32(bytes);
  f.write(reinterpret_cast<const char*>(pcm.data()), bytes);
}

class FakeWhisper {
 public:
  struct Request {
    std::string path, authorization, model, prompt, response_format, language;
    std::vector<std::string> granularities;
    std::size_t file_bytes = 0;
    std::string file_name, file_magic;  // the upload's name and first 4 bytes ("fLaC", "RIFF")
  };
  // A scripted answer for the next request: a status with a body (and Retry-After), a delay
  // before the normal answer, a connection cut mid-answer, or a 200 that is not JSON.
  struct Fault {
    enum Kind { status, delay, reset, garbled, huge } kind = status;
    int code = 500;
    int retry_after_s = -1;
    std::string body = R"({"error":{"message":"injected"}})";
    int delay_ms = 0;
  };

  FakeWhisper() {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) { answer(req, res); };
    server_.Post("/v1/audio/transcriptions", handle);
    server_.Post("/inference", handle);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeWhisper() {
    closing_ = true;  // slow answers end now
    server_.stop();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string openai_url() const { return base() + "/v1"; }

  void script(std::vector<Fault> faults) {
    std::lock_guard l(mu_);
    faults_.assign(faults.begin(), faults.end());
  }
  void always(Fault f) {
    std::lock_guard l(mu_);
    always_ = f;
  }
  void slow(int ms) { slow_ms_ = ms; }
  void text_only(bool on) { text_only_ = on; }
  std::vector<Request> requests() const {
    std::lock_guard l(mu_);
    return requests_;
  }
  int high_water() const { return high_water_; }

 private:
  std::optional<Fault> next_fault() {
    std::lock_guard l(mu_);
    if (!faults_.empty()) {
      Fault f = faults_.front();
      faults_.pop_front();
      return f;
    }
    return always_;
  }

  void record(const httplib::Request& req) {
    Request r;
    r.path = req.path;
    r.authorization = req.get_header_value("Authorization");
    auto field = [&](const char* k) { return req.has_file(k) ? req.get_file_value(k).content : std::string(); };
    r.model = field("model");
    r.prompt = field("prompt");
    r.response_format = field("response_format");
    r.language = field("language");
    auto range = req.files.equal_range("timestamp_granularities[]");
    for (auto it = range.first; it != range.second; ++it) r.granularities.push_back(it->second.content);
    r.file_bytes = field("file").size();
    if (req.has_file("file")) r.file_name = req.get_file_value("file").filename;
    r.file_magic = field("file").substr(0, 4);
    std::lock_guard l(mu_);
    requests_.push_back(std::move(r));
  }

  void answer(const httplib::Request& req, httplib::Response& res) {
    const int now = ++in_flight_;
    for (int hw = high_water_; now > hw && !high_water_.compare_exchange_weak(hw, now);) {
    }
    record(req);
    pause(slow_ms_.load());
    auto fault = next_fault();
    if (fault && fault->kind == Fault::delay) pause(fault->delay_ms);
    if (fault && fault->kind == Fault::status) {
      if (fault->retry_after_s >= 0) res.set_header("Retry-After", std::to_string(fault->retry_after_s));
      res.status = fault->code;
      res.set_content(fault->body, "application/json");
    } else if (fault && fault->kind == Fault::reset) {
      // Headers promise a body that never comes: the client sees the connection cut.
      res.set_content_provider(1000, "application/json", [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
    } else if (fault && fault->kind == Fault::huge) {
      // 64 MiB of a transcription that never ends, streamed without a length.
      res.set_chunked_content_provider("application/json", [](std::size_t offset, httplib::DataSink& sink) {
        static const std::string block(1 << 20, 'a');
        if (offset >= (64u << 20)) return sink.done(), true;
        sink.write(offset == 0 ? "{\"text\":\"" : block.data(), offset == 0 ? 9 : block.size());
        return true;
      });
    } else if (fault && fault->kind == Fault::garbled) {
      res.set_content("<html>502 Bad Gateway</html>", "text/html");
    } else {
      res.set_content(transcribe(req).dump(), "application/json");
    }
    --in_flight_;
  }

  void pause(int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!closing_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  struct Burst {
    double start_s, end_s;
    int k;
  };

  // The tone bursts in the uploaded audio: 10 ms frames above an energy floor, runs of them,
  // each burst's pitch from its zero crossings.
  std::vector<Burst> hear(const std::string& audio) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("fake-whisper-" + std::to_string(port_) + "-" + std::to_string(++files_) + ".flac");
    std::ofstream(path, std::ios::binary) << audio;
    std::vector<std::int16_t> pcm, buf(8192);
    if (auto dec = media::AudioDecoder::open(path.string(), {})) {
      while (auto n = dec->read(buf)) {
        if (*n == 0) break;
        pcm.insert(pcm.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
      }
    }
    std::filesystem::remove(path);
    constexpr std::size_t kFrame = kRate / 100;
    std::vector<Burst> out;
    std::size_t run_start = 0, quiet = 0;
    bool in = false;
    auto close = [&](std::size_t end) {
      std::size_t crossings = 0;
      for (std::size_t i = run_start + 1; i < end; ++i) crossings += (pcm[i - 1] < 0) != (pcm[i] < 0);
      const double secs = static_cast<double>(end - run_start) / kRate;
      const double hz = static_cast<double>(crossings) / 2 / secs;
      out.push_back({static_cast<double>(run_start) / kRate, static_cast<double>(end) / kRate,
                     static_cast<int>(std::lround((hz - kBaseHz) / kStepHz))});
    };
    for (std::size_t f = 0; f + kFrame <= pcm.size(); f += kFrame) {
      double e = 0;
      for (std::size_t i = f; i < f + kFrame; ++i) e += double(pcm[i]) * pcm[i];
      const bool loud = std::sqrt(e / kFrame) > 500;
      if (loud && !in) in = true, run_start = f;
      if (loud) quiet = 0;
      else if (in && ++quiet >= 5) in = false, close(f - (quiet - 1) * kFrame);
    }
    if (in) close(pcm.size());
    return out;
  }

  nlohmann::json transcribe(const httplib::Request& req) {
    const auto bursts = hear(req.has_file("file") ? req.get_file_value("file").content : std::string());
    std::string text;
    nlohmann::json segs = nlohmann::json::array(), words = nlohmann::json::array();
    for (const auto& b : bursts) {
      const std::string w = "w" + std::to_string(b.k);
      text += (text.empty() ? "" : " ") + w;
      nlohmann::json word = {{"word", w}, {"start", b.start_s}, {"end", b.end_s}};
      nlohmann::json seg = {{"start", b.start_s}, {"end", b.end_s}, {"text", " " + w}};
      if (req.path == "/inference") seg["words"] = nlohmann::json::array({word});
      else words.push_back(word);
      segs.push_back(seg);
    }
    if (text_only_) return {{"text", text}};
    nlohmann::json j = {{"text", text}, {"segments", segs}};
    if (req.path != "/inference") j["words"] = words;
    return j;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::deque<Fault> faults_;
  std::optional<Fault> always_;
  std::vector<Request> requests_;
  std::atomic<int> in_flight_{0}, high_water_{0}, slow_ms_{0}, files_{0};
  std::atomic<bool> text_only_{false}, closing_{false};
};

}  // namespace soroka::test
