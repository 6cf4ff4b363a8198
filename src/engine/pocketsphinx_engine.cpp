// PocketsphinxEngine: loads decoders through the ModelRegistry and turns segments into words.
#include "engine/pocketsphinx_engine.h"

#include <cmn.h>
#include <err.h>
#include <feat.h>
#include <malloc.h>
#include <pocketsphinx.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <system_error>

#include <fmt/format.h>

#include "oomguard/levels.h"
#include "oomguard/probe/process.h"
#include "util/file_reader.h"
#include "util/log.h"
#include "util/units.h"

namespace soroka::engine {
namespace {

namespace fs = std::filesystem;

struct PsFree {
  void operator()(ps_decoder_t* p) const noexcept { ps_free(p); }
};
struct CmdLnFree {
  void operator()(cmd_ln_t* c) const noexcept { cmd_ln_free_r(c); }
};
struct SegFree {
  void operator()(ps_seg_t* s) const noexcept { ps_seg_free(s); }
};
using PsPtr = std::unique_ptr<ps_decoder_t, PsFree>;
using CmdLnPtr = std::unique_ptr<cmd_ln_t, CmdLnFree>;
using SegPtr = std::unique_ptr<ps_seg_t, SegFree>;

// What the registry holds: one decoder. Only the session holding its slot touches it.
struct Decoder {
  PsPtr ps;
  // The cepstral mean as loaded (the model's -cmninit). pocketsphinx updates it after every
  // utterance; each session starts from this, so that a file's transcript does not depend
  // on the files decoded before it on the same decoder.
  std::vector<mfcc_t> cmn_initial;

  void reset_cmn() {
    feat_t* feat = ps_get_feat(ps.get());
    if (feat && feat->cmn_struct && !cmn_initial.empty()) cmn_live_set(feat->cmn_struct, cmn_initial.data());
  }
};

// The decoder is fed with the segmenter's output, which has already dropped silence. The
// front end's own VAD (-remove_silence yes) would also break word timings: with it, a word
// at frame 121 of an utterance holding a 2 s pause came out at frame 472.
constexpr const char* kRemoveSilence = "no";

// Working memory of one utterance on top of the model: lattice, history and feature buffers.
// 13 MiB measured after a 4 s utterance; 20 s segments (the segmenter's maximum) keep it
// under 32 MiB.
constexpr std::uint64_t kSessionBytes = 32 * kMiB;

// Decoder files: 91 MiB RSS for 36.9 MiB of en-us model files.
constexpr double kBytesPerModelFileByte = 2.5;

void silence_pocketsphinx_logging() {
  static std::once_flag once;
  // NULL disables sphinxbase's logging for the whole process (it is a global).
  std::call_once(once, [] { err_set_logfp(nullptr); });
}

std::uint64_t self_rss_bytes() {
  auto text = read_file("/proc/self/statm");
  if (!text) return 0;
  long page = ::sysconf(_SC_PAGESIZE);
  auto rss = oomguard::parse_statm_rss(*text, page > 0 ? static_cast<std::uint64_t>(page) : 4096);
  return rss ? *rss : 0;
}


Result<std::uint64_t> file_bytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    std::uint64_t sum = 0;
    for (const auto& e : fs::recursive_directory_iterator(p, ec))
      if (e.is_regular_file(ec)) sum += e.file_size(ec);
    if (ec) return fail(fmt::format("reading {}: {}", p.string(), ec.message()), ec.value());
    return sum;
  }
  auto n = fs::file_size(p, ec);
  if (ec) return fail(fmt::format("pocketsphinx model file {}: {}", p.string(), ec.message()), ec.value());
  return static_cast<std::uint64_t>(n);
}

// Loads one decoder. Loads are serialised so that the RSS delta measures this load only
// (another thread allocating at the same time can still blur it; the registry then corrects
// the reservation to what we report).
Result<oomguard::LoadedModel> load_decoder(const PocketsphinxParams& p, std::uint64_t estimate,
                                           const std::string& name) {
  static std::mutex load_mu;
  std::lock_guard lock(load_mu);
  silence_pocketsphinx_logging();

  auto t0 = std::chrono::steady_clock::now();
  ::malloc_trim(0);  // so that the load does not silently reuse freed heap pages
  std::uint64_t before = self_rss_bytes();
  CmdLnPtr config(cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", p.hmm_dir.c_str(), "-lm",
                              p.lm_path.c_str(), "-dict", p.dict_path.c_str(), "-remove_silence",
                              kRemoveSilence, nullptr));
  if (!config) return fail("pocketsphinx: invalid configuration", EINVAL);
  PsPtr ps(ps_init(config.get()));  // the decoder keeps its own reference to the config
  if (!ps)
    return fail(fmt::format("pocketsphinx: loading model {} (hmm {}, lm {}, dict {}) failed",
                            p.model_name, p.hmm_dir, p.lm_path, p.dict_path),
                EIO);
  std::uint64_t after = self_rss_bytes();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::optional<std::uint64_t> measured;
  std::uint64_t delta = after > before ? after - before : 0;
  // Under half the estimate means the delta missed pages the load reused (a decoder freed
  // earlier in this process): the estimate is then the better figure.
  if (before != 0 && after != 0 && delta >= estimate / 2) measured = delta;
  spdlog::debug("loaded {}: {} measured (estimate {}) in {:.2f} s", name,
                measured ? format_mib(*measured) : std::string("not"), format_mib(estimate), secs);

  auto obj = std::make_shared<Decoder>(Decoder{std::move(ps), {}});
  if (feat_t* feat = ps_get_feat(obj->ps.get()); feat && feat->cmn_struct) {
    obj->cmn_initial.resize(static_cast<std::size_t>(feat->cmn_struct->veclen));
    cmn_live_get(feat->cmn_struct, obj->cmn_initial.data());
  }
  return oomguard::LoadedModel{std::move(obj), measured};
}

}  // namespace

PocketsphinxParams pocketsphinx_default_params(const std::string& model_dir) {
  PocketsphinxParams p;
  p.hmm_dir = model_dir + "/en-us";
  p.lm_path = model_dir + "/en-us.lm.bin";
  p.dict_path = model_dir + "/cmudict-en-us.dict";
  return p;
}

Result<std::uint64_t> estimate_decoder_bytes(const PocketsphinxParams& p) {
  std::uint64_t sum = 0;
  for (const auto& path : {p.hmm_dir, p.lm_path, p.dict_path}) {
    auto n = file_bytes(path);
    if (!n) return std::unexpected(n.error());
    sum += *n;
  }
  return static_cast<std::uint64_t>(static_cast<double>(sum) * kBytesPerModelFileByte);
}

std::optional<std::string> clean_word(std::string_view w) {
  if (w.empty() || w == "<s>" || w == "</s>" || w == "<sil>") return std::nullopt;
  // Fillers: [NOISE], [SPEECH] in en-us; ++UH++ style in older models.
  if (w.front() == '[' || w.front() == '+' || w.front() == '<') return std::nullopt;
  // Alternate pronunciations: "was(2)".
  if (w.back() == ')') {
    auto open = w.rfind('(');
    if (open != std::string_view::npos && open > 0) w = w.substr(0, open);
  }
  return std::string(w);
}

// Decoder slots: slot i owns the registry model "pocketsphinx/<model>#i".
struct PocketsphinxEngine::Slots {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> busy;
  std::uint64_t estimate = 0;
  std::optional<Error> estimate_error;
  std::optional<std::uint64_t> measured;  // last measured decoder size

  std::optional<std::size_t> take(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu);
    std::optional<std::size_t> slot;
    auto free_slot = [&] {
      for (std::size_t i = 0; i < busy.size(); ++i)
        if (!busy[i]) {
          slot = i;
          return true;
        }
      return false;
    };
    if (!cv.wait_for(lock, wait, free_slot)) return std::nullopt;
    busy[*slot] = true;
    return slot;
  }
  void give(std::size_t i) {
    {
      std::lock_guard lock(mu);
      busy[i] = false;
    }
    cv.notify_one();
  }
};

namespace {

std::string slot_name(const PocketsphinxParams& p, std::size_t i) {
  return fmt::format("pocketsphinx/{}#{}", p.model_name, i);
}

class PocketsphinxSession final : public Session {
 public:
  PocketsphinxSession(oomguard::ModelLease<Decoder> lease,
                      std::shared_ptr<PocketsphinxEngine::Slots> slots, std::size_t slot)
      : lease_(std::move(lease)), slots_(std::move(slots)), slot_(slot) {
    lease_->reset_cmn();
  }
  ~PocketsphinxSession() override {
    lease_ = {};  // the model goes idle before the slot is offered to the next session
    slots_->give(slot_);
  }
  PocketsphinxSession(const PocketsphinxSession&) = delete;
  PocketsphinxSession& operator=(const PocketsphinxSession&) = delete;

  Result<SegmentText> transcribe(const segment::Segment& seg) override {
    SegmentText out;
    out.start_s = seg.start_s();
    out.end_s = seg.end_s();
    if (seg.samples.empty()) return out;

    ps_decoder_t* ps = lease_->ps.get();
    // A new stream per segment: frame numbers (our word times) otherwise run on from the
    // previous utterance, and each segment decodes the same whatever came before.
    if (ps_start_stream(ps) < 0 || ps_start_utt(ps) < 0)
      return fail("pocketsphinx: cannot start an utterance", EIO);
    // The whole segment in one call, not flagged as a full utterance: in full-utterance mode
    // pocketsphinx numbers frames after its own silence removal, not from the segment start.
    int r = ps_process_raw(ps, seg.samples.data(), seg.samples.size(), FALSE, FALSE);
    if (ps_end_utt(ps) < 0 || r < 0)
      return fail(fmt::format("pocketsphinx: decoding the segment at {:.2f} s failed", out.start_s),
                  EIO);

    logmath_t* lmath = ps_get_logmath(ps);
    for (SegPtr it(ps_seg_iter(ps)); it;) {
      auto word = clean_word(ps_seg_word(it.get()));
      if (word) {
        int sf = 0, ef = 0;
        ps_seg_frames(it.get(), &sf, &ef);
        Word w;
        w.start_s = std::min(out.start_s + sf * kFrameSeconds, out.end_s);
        w.end_s = std::min(out.start_s + (ef + 1) * kFrameSeconds, out.end_s);
        int32 ascr = 0, lscr = 0, lback = 0;
        w.confidence = logmath_exp(lmath, ps_seg_prob(it.get(), &ascr, &lscr, &lback));
        w.text = std::move(*word);
        out.words.push_back(std::move(w));
      }
      it.reset(ps_seg_next(it.release()));  // ps_seg_next frees the iterator at the end
    }
    for (const auto& w : out.words) {
      if (!out.text.empty()) out.text += ' ';
      out.text += w.text;
    }
    if (!out.words.empty()) {
      out.start_s = out.words.front().start_s;
      out.end_s = out.words.back().end_s;
    }
    return out;
  }

 private:
  oomguard::ModelLease<Decoder> lease_;
  std::shared_ptr<PocketsphinxEngine::Slots> slots_;
  std::size_t slot_;
};

}  // namespace

PocketsphinxEngine::PocketsphinxEngine(oomguard::ModelRegistry& registry,
                                       PocketsphinxParams params)
    : registry_(registry), params_(std::move(params)), slots_(std::make_shared<Slots>()) {
  slots_->busy.assign(std::max<std::size_t>(params_.max_sessions, 1), false);
  auto est = estimate_decoder_bytes(params_);
  if (est)
    slots_->estimate = *est;
  else
    slots_->estimate_error = est.error();
}

PocketsphinxEngine::~PocketsphinxEngine() = default;

Capabilities PocketsphinxEngine::capabilities() const {
  return Capabilities{.word_timings = true, .max_segment_s = 20.0};
}

MemoryCost PocketsphinxEngine::memory_cost() const {
  MemoryCost c;
  std::optional<std::size_t> next_slot;
  {
    std::lock_guard lock(slots_->mu);
    c.model_bytes = slots_->measured.value_or(slots_->estimate);
    for (std::size_t i = 0; i < slots_->busy.size() && !next_slot; ++i)
      if (!slots_->busy[i]) next_slot = i;
  }
  c.session_bytes = kSessionBytes;
  c.to_load_bytes = c.model_bytes;
  if (next_slot) {
    std::string name = slot_name(params_, *next_slot);
    for (const auto& m : registry_.list())
      if (m.name == name) c.to_load_bytes = 0;
  }
  return c;
}

Result<std::unique_ptr<Session>> PocketsphinxEngine::start(const SessionParams& p) {
  if (p.language != "en")
    return fail(FailureKind::invalid_request, fmt::format("language '{}' is not supported by pocketsphinx (supported: en)",
                            p.language),
                EINVAL);
  if (slots_->estimate_error) return std::unexpected(*slots_->estimate_error);

  auto slot = slots_->take(params_.session_wait);
  if (!slot)
    return fail(fmt::format("all {} pocketsphinx decoders stayed busy for {} s",
                            slots_->busy.size(), params_.session_wait.count() / 1000),
                EBUSY);
  std::string name = slot_name(params_, *slot);
  std::uint64_t estimate = slots_->estimate;
  auto slots = slots_;
  auto lease = registry_.acquire<Decoder>(name, estimate, [&]() -> Result<oomguard::LoadedModel> {
    auto loaded = load_decoder(params_, estimate, name);
    if (loaded && loaded->measured_bytes) {
      std::lock_guard lock(slots->mu);
      slots->measured = loaded->measured_bytes;
    }
    return loaded;
  });
  if (!lease) {
    slots_->give(*slot);
    return std::unexpected(std::move(lease.error()).with_context("loading " + name));
  }
  return std::make_unique<PocketsphinxSession>(std::move(*lease), slots_, *slot);
}

}  // namespace soroka::engine
