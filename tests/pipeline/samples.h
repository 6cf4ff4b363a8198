// Speech samples for pipeline tests, generated at test time: flite voices, FFmpeg containers,
// silence; plus the LibriVox recordings from Debian's pocketsphinx-testdata.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace soroka::test {

inline const std::string kModelDir = "/usr/share/pocketsphinx/model/en-us";
inline const std::string kLibrivoxDir = "/usr/share/pocketsphinx/test/data/librivox";

// Runs a shell command quietly; a failure throws (a broken test setup, not a result).
inline void sh(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("command failed: " + cmd);
}

// A fresh directory under $TMPDIR, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/soroka-pipeline-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Spoken text for the flite samples: everyday words the en-us language model knows.
struct SpeechSample {
  std::string voice;      // flite voice: slt, awb, rms
  std::string container;  // file extension: wav, ogg, mp3, m4a, mp4 (with a video track)
  std::string text;
};

inline const std::vector<SpeechSample>& speech_samples() {
  static const std::vector<SpeechSample> s = {
      {"slt", "ogg", "the weather is nice today and we will go for a long walk in the park"},
      {"awb", "mp3", "please send the report to the office before noon on monday"},
      {"rms", "m4a", "the children played in the garden until it was time for dinner"},
      {"slt", "mp4", "we need to buy some bread and milk at the store this evening"},
      {"awb", "wav", "the quick brown fox jumps over the lazy dog"},
  };
  return s;
}

// The FFmpeg arguments that encode a 16-bit WAV into `container`.
inline std::string encode_args(const std::string& container) {
  if (container == "ogg") return "-c:a libvorbis -q:a 4";
  if (container == "mp3") return "-c:a libmp3lame -b:a 64k";
  if (container == "m4a") return "-c:a aac -b:a 64k";
  if (container == "wav") return "-c:a pcm_s16le -ar 44100 -ac 2";  // resampled and downmixed
  throw std::runtime_error("no encoder for " + container);
}

// Speaks `text` with flite into dir/name.wav (16 kHz mono).
inline std::string speak(const std::string& dir, const std::string& name, const std::string& voice,
                         const std::string& text) {
  std::string wav = dir + "/" + name + ".wav";
  sh("flite -voice " + voice + " -t '" + text + "' -o '" + wav + "'");
  return wav;
}

// Converts a WAV into `container`; mp4 gets a small video track as well.
inline std::string encode(const std::string& wav, const std::string& out_base,
                          const std::string& container) {
  std::string out = out_base + "." + container;
  if (container == "mp4")
    sh("ffmpeg -nostdin -y -f lavfi -i color=c=black:s=64x64:r=5 -i '" + wav +
       "' -shortest -c:v mpeg4 -c:a aac -b:a 64k '" + out + "'");
  else
    sh("ffmpeg -nostdin -y -i '" + wav + "' " + encode_args(container) + " '" + out + "'");
  return out;
}

// A sample in its container: dir/<voice>-<n>.<container>.
inline std::string make_sample(const std::string& dir, const SpeechSample& s, int n) {
  std::string base = dir + "/" + s.voice + "-" + std::to_string(n);
  std::string wav = speak(dir, s.voice + "-" + std::to_string(n) + "-src", s.voice, s.text);
  return encode(wav, base, s.container);
}

// `seconds` of digital silence as a 16 kHz mono WAV.
inline std::string make_silence(const std::string& path, double seconds) {
  sh("ffmpeg -nostdin -y -f lavfi -i anullsrc=r=16000:cl=mono -t " + std::to_string(seconds) +
     " -c:a pcm_s16le '" + path + "'");
  return path;
}

// Concatenates WAVs (same format) into one.
inline std::string concat_wavs(const std::vector<std::string>& parts, const std::string& out) {
  std::string cmd = "sox";
  for (const auto& p : parts) cmd += " '" + p + "'";
  sh(cmd + " '" + out + "'");
  return out;
}

inline double wav_seconds(const std::string& path) {
  FILE* f = ::popen(("soxi -D '" + path + "'").c_str(), "r");
  if (!f) throw std::runtime_error("soxi failed");
  double d = 0;
  if (std::fscanf(f, "%lf", &d) != 1) d = -1;
  ::pclose(f);
  return d;
}

// LibriVox reference transcripts, by file id ("sense_and_sensibility_01_austen_64kb-0870").
inline std::map<std::string, std::string> librivox_references() {
  std::ifstream in(kLibrivoxDir + "/transcription");
  if (!in) throw std::runtime_error("pocketsphinx-testdata missing: " + kLibrivoxDir);
  std::map<std::string, std::string> refs;
  for (std::string line; std::getline(in, line);) {
    auto open = line.rfind('(');
    auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string id = line.substr(open + 1, close - open - 1);
    std::string text;
    std::istringstream words(line.substr(0, open));
    for (std::string w; words >> w;)
      if (w != "<s>" && w != "</s>") text += (text.empty() ? "" : " ") + w;
    refs[id] = text;
  }
  return refs;
}

}  // namespace soroka::test
