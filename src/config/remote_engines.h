// [engines.NAME]: Whisper-class servers (OpenAI's /v1/audio/transcriptions, whisper.cpp's
// /inference) configured as engines, read from TOML and checked at load.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace soroka {

enum class RemoteProtocol { openai, whisper_cpp };
const char* to_string(RemoteProtocol p) noexcept;

struct RemoteEngineSettings {
  std::string name;  // the table's NAME: what jobs and the API's `model` pick
  RemoteProtocol type = RemoteProtocol::openai;
  // Bases: "http://gpu1:8000/v1" (openai: + /audio/transcriptions), "http://gpu1:8080"
  // (whisper.cpp: + /inference). Several: least-outstanding-requests between them.
  std::vector<std::string> urls;
  std::string api_key;       // sent as "Authorization: Bearer KEY"; never logged
  std::string api_key_file;  // read when the engine is made (first line)
  std::string model;         // sent upstream as `model`; "" : openai "whisper-1", whisper.cpp none
  std::vector<std::string> languages = {"en"};
  // Requests in flight to this engine from one job (one worker). 2 keeps a GPU busy while the
  // next chunk uploads; each one is a chunk's FLAC and PCM in memory (MemoryCost).
  std::uint64_t max_concurrency = 2;
  // One request's whole time: 120 s of audio takes ~10 s on a GPU and ~60 s on whisper.cpp's
  // CPU build (base model, 4 threads); 5 min is 5x the slower.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // OpenAI refuses bodies over 25 MB; the audio part is kept this far below it for the form.
  std::uint64_t max_request_bytes = 25'000'000;
  // Audio per request. 120 s of 16 kHz FLAC is ~2-3 MB, far below 25 MB; Whisper works in
  // 30 s windows, so longer chunks only add waiting for the first result.
  double chunk_seconds = 120;
  std::uint64_t max_tries = 5;  // tries of one chunk with an answer (5xx, timeout, reset)
  // A server that cannot be reached at all is waited for this long (not counted in max_tries);
  // after it a job fails, or starts on `fallback` when that is set.
  std::chrono::milliseconds unreachable_wait{std::chrono::minutes(2)};
  // How chunks are uploaded: "flac" (half the bytes; OpenAI, Groq, faster-whisper servers and
  // whisper.cpp's server from 1.7 read it) or "wav" (what any whisper.cpp server reads, even
  // without --convert). "" : flac for openai, wav for whisper.cpp.
  std::string audio_format;
  std::string fallback;  // a local model ("pocketsphinx") used while this one is unreachable
};

// Reading the tables from TOML: config/engines_toml.h.

// The local (pocketsphinx) model's names: the only fallback a remote engine may name, and
// names no remote engine may take (nor any "sim-" name).
inline const std::vector<std::string> kLocalModelNames = {"pocketsphinx", "whisper-1"};

// Load-time checks: names, URLs, ranges, fallback naming an existing other model.
Result<void> validate_remote_engines(const std::vector<RemoteEngineSettings>& engines, const std::string& origin);

// The key to send: api_key, else the first line of api_key_file; "" when neither.
Result<std::string> resolve_api_key(const RemoteEngineSettings& e);

const RemoteEngineSettings* find_remote(const std::vector<RemoteEngineSettings>& engines,
                                        std::string_view name);

}  // namespace soroka
