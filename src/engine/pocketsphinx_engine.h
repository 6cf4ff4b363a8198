// PocketsphinxEngine: CMU pocketsphinx (5prealpha, Debian) decoders loaded through the
// ModelRegistry, one decoder per concurrent session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "oomguard/model_registry.h"

namespace soroka::engine {

struct PocketsphinxParams {
  std::string hmm_dir;    // acoustic model directory
  std::string lm_path;    // n-gram language model (.lm.bin)
  std::string dict_path;  // pronunciation dictionary
  std::string model_name = "en-us";  // registry names are "pocketsphinx/<model_name>#<slot>"
  // Decoders are not thread-safe, so each concurrent session gets its own (~91 MiB for
  // en-us). More sessions than this wait for a free decoder, up to `session_wait`.
  std::size_t max_sessions = 2;
  std::chrono::milliseconds session_wait{std::chrono::seconds(60)};
};

// The model in `model_dir` (engine.model_dir; Debian's is /usr/share/pocketsphinx/model/en-us):
// {en-us, en-us.lm.bin, cmudict-en-us.dict} in it.
PocketsphinxParams pocketsphinx_default_params(const std::string& model_dir);

// Memory a decoder takes, estimated from its model files' sizes before loading:
// 91 MiB RSS measured for 36.9 MiB of en-us files (x86-64, 5prealpha), so 2.5x the sum.
// Missing files are an error naming them.
Result<std::uint64_t> estimate_decoder_bytes(const PocketsphinxParams& p);

// Turns one pocketsphinx segment-iterator entry into a word, or nothing for what is not a
// word: <s>, </s>, <sil>, fillers such as [NOISE] or ++UH++. Alternate pronunciation markers
// are stripped: "read(2)" -> "read". Exposed for tests.
std::optional<std::string> clean_word(std::string_view ps_word);

// Frames are 10 ms (pocketsphinx -frate 100); `ef` is inclusive.
inline constexpr double kFrameSeconds = 0.01;

class PocketsphinxEngine final : public Engine {
 public:
  // The registry (and its budget) must outlive the engine and its sessions.
  PocketsphinxEngine(oomguard::ModelRegistry& registry, PocketsphinxParams params);
  ~PocketsphinxEngine() override;

  std::string name() const override { return "pocketsphinx"; }
  std::vector<std::string> languages() const override { return {"en"}; }
  Capabilities capabilities() const override;
  MemoryCost memory_cost() const override;
  // Thread-safe. Takes a free decoder slot (waiting up to session_wait), then leases that
  // slot's decoder from the registry, loading it if it was never loaded or was evicted.
  Result<std::unique_ptr<Session>> start(const SessionParams& p) override;

  struct Slots;

 private:
  oomguard::ModelRegistry& registry_;
  PocketsphinxParams params_;
  std::shared_ptr<Slots> slots_;  // shared with sessions, which give their slot back
};

}  // namespace soroka::engine
