// What goes over the wire to a Whisper-class server and back: the form of a request (OpenAI's
// /audio/transcriptions or whisper.cpp's /inference) and its answer, parsed. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/remote_engines.h"
#include "net/http_client.h"
#include "util/result.h"

namespace soroka::engine::remote {

// Times in seconds from the start of the chunk's audio.
struct WireWord {
  double start_s = 0, end_s = 0;
  std::string text;
};
struct WireSegment {
  double start_s = 0, end_s = 0;
  std::string text;
};
struct ChunkAnswer {
  std::string text;
  std::vector<WireSegment> segments;  // empty: the server gave none
  std::vector<WireWord> words;        // empty: no word timings
};

// Whether chunks go up as WAV (audio_format, else by protocol: whisper.cpp WAV, openai FLAC).
bool uploads_wav(const RemoteEngineSettings& e);

// The endpoint for a base URL: {base}/audio/transcriptions (openai) or {base}/inference.
std::string endpoint(RemoteProtocol type, std::string_view base);

// The form: the audio as file "chunk.flac" (or "chunk.wav", uploads_wav), response_format verbose_json (word and segment
// timestamps asked for; servers that ignore it still answer text), the language, the model
// when set, the prompt when not empty. The parts point into the arguments (net::FormPart):
// keep them alive while the form is used.
std::vector<net::FormPart> request_form(const RemoteEngineSettings& e, std::string_view audio,
                                        std::string_view language, std::string_view prompt);

// The headers: Authorization: Bearer KEY when there is a key.
std::vector<std::string> request_headers(std::string_view api_key);

// Parses a 2xx body: verbose_json ({"text", "segments": [{start,end,text,words?}], "words"?}),
// json ({"text"}) or whisper.cpp's variants (segments with "t0"/"t1" in centiseconds are not
// asked for; "offsets" in ms are read when present). Times that are not finite numbers are
// dropped with their word. An answer that is not JSON with a string "text" is an error.
Result<ChunkAnswer> parse_answer(std::string_view body);

// The server's own message from an error body ({"error":{"message"}}, {"error":"..."},
// {"detail":"..."}, or the text itself), cut to 300 bytes and made printable.
std::string server_message(std::string_view body);

// The last words of a transcript as the next chunk's prompt: at most `max_words` words and
// 224 bytes (Whisper reads only the last 224 tokens of a prompt).
std::string prompt_tail(std::string_view text, std::size_t max_words = 40);

}  // namespace soroka::engine::remote
