// Energy VAD with an adaptive noise floor and hysteresis; cuts speech at pauses, or at the
// quietest point before the length cap, holding only the open segment in memory.
#include "segment/segmenter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace soroka::segment {

namespace {

// 20 ms analysis frames: long enough for a stable energy, short enough to place cuts inside
// the 50-150 ms gaps between words.
constexpr int kFramesPerSecond = 50;
// Energies in dB relative to a full-scale square wave. Digital silence is clamped here.
constexpr double kSilenceDb = -100.0;
// The noise floor never goes below this: 16-bit dither and codec noise sit around -85 dB.
constexpr double kMinFloorDb = -80.0;
// The first frame seeds the floor, capped here so a recording that starts mid-word still has
// its speech (typically -35..-15 dB) well above the floor.
constexpr double kMaxInitialFloorDb = -45.0;
// Nothing quieter than this is speech, whatever the floor (a whisper on a phone is ~-50 dB).
constexpr double kAbsMinSpeechDb = -60.0;
// Hysteresis: speech starts 10 dB above the floor and continues while frames stay 5 dB above.
constexpr double kOnDb = 10.0;
constexpr double kOffDb = 5.0;
// The floor follows quieter frames within ~60 ms (0.3 per frame) and louder ones by at most
// 1 dB/s: the gaps between words pull it back down long before speech could lift it, while a
// new steady background noise (a fan, a car) is learnt within tens of seconds.
constexpr double kFloorDownRate = 0.3;
constexpr double kFloorRiseDbPerS = 1.0;
// With no pause to cut at, never cut in the first third of a segment (tiny segments lose
// context for the recogniser); smooth energies over 5 frames (100 ms) to find a quiet point.
constexpr double kCutSearchFrom = 1.0 / 3.0;
constexpr int kSmoothFrames = 5;

double energy_db(const std::int16_t* x, std::size_t n) {
  if (n == 0) return kSilenceDb;
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += std::int64_t{x[i]} * x[i];
  if (sum == 0) return kSilenceDb;
  double mean = static_cast<double>(sum) / static_cast<double>(n);
  return std::max(kSilenceDb, 10.0 * std::log10(mean / (32768.0 * 32768.0)));
}

}  // namespace

struct Segmenter::Impl {
  enum class State { Silence, Speech };

  explicit Impl(SegmenterParams in) : p(in) {
    p.sample_rate = std::max(p.sample_rate, kFramesPerSecond);
    p.pad_s = std::clamp(p.pad_s, 0.0, 5.0);
    p.min_silence_s = std::clamp(p.min_silence_s, 0.02, 10.0);
    p.min_speech_s = std::clamp(p.min_speech_s, 0.0, 10.0);
    p.max_segment_s = std::clamp(p.max_segment_s, std::max(1.0, 2 * p.pad_s + 0.5), 3600.0);
    frame = static_cast<std::size_t>(p.sample_rate / kFramesPerSecond);
    auto samples = [&](double s) {
      return static_cast<std::int64_t>(std::llround(s * p.sample_rate));
    };
    max_seg = samples(p.max_segment_s);
    pad = samples(p.pad_s);
    min_silence = samples(p.min_silence_s);
    min_speech = samples(p.min_speech_s);
    rise_per_frame = kFloorRiseDbPerS / kFramesPerSecond;
    partial.reserve(frame);
  }

  SegmenterParams p;
  std::size_t frame = 320;
  std::int64_t max_seg = 0, pad = 0, min_silence = 0, min_speech = 0;
  double rise_per_frame = 0;

  // Buffered audio covers absolute samples [base, end); buf[head] is sample `base`, and
  // energy[ehead + k] belongs to the frame starting at base + k * frame (base is frame-aligned).
  std::vector<std::int16_t> buf;
  std::size_t head = 0;
  std::vector<float> energy;
  std::size_t ehead = 0;
  std::int64_t base = 0, end = 0;
  std::vector<std::int16_t> partial;  // an incomplete frame carried over between pushes

  double floor_db = kMinFloorDb;
  bool floor_seeded = false;
  State state = State::Silence;
  std::int64_t seg_start = 0;        // first sample of the open segment, padding included
  std::int64_t speech_start = 0;     // first loud frame of the open segment
  std::int64_t last_active_end = 0;  // end of its last frame above the off threshold
  std::int64_t prev_end = 0;         // end of the last emitted segment

  std::size_t buffered() const { return buf.size() - head; }

  void reset() {
    SegmenterParams keep = p;
    *this = Impl(keep);
  }

  // Drops buffered audio before `abs` (rounded down to a frame), compacting now and then so
  // the vectors' capacity stays within twice the live size.
  void trim_to(std::int64_t abs) {
    std::int64_t f = static_cast<std::int64_t>(frame);
    std::int64_t target = std::clamp(abs, base, end) / f * f;
    if (target <= base) return;
    auto frames = static_cast<std::size_t>((target - base) / f);
    head += static_cast<std::size_t>(target - base);
    ehead += frames;
    base = target;
    if (head >= buffered() && head >= frame * 8) {
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(head));
      energy.erase(energy.begin(), energy.begin() + static_cast<std::ptrdiff_t>(ehead));
      head = ehead = 0;
    }
  }

  void emit(std::int64_t from, std::int64_t to, const SegmentSink& sink) {
    from = std::max(from, base);
    to = std::min(to, end);
    if (to <= from) return;
    Segment s;
    s.start_sample = from;
    auto* first = buf.data() + head + static_cast<std::size_t>(from - base);
    s.samples.assign(first, first + (to - from));
    prev_end = to;
    sink(std::move(s));
  }

  // Ends the open segment after its last active frame (plus padding) unless it is too short.
  void close_segment(const SegmentSink& sink) {
    std::int64_t stop = std::min({last_active_end + pad, end, seg_start + max_seg});
    if (last_active_end - speech_start >= min_speech && stop > seg_start)
      emit(seg_start, stop, sink);
    state = State::Silence;
    trim_to(end - pad);
  }

  // The open segment reached max_segment_s: cut it at the longest quiet run after the first
  // third, else at the point of lowest smoothed energy there.
  void cut(const SegmentSink& sink) {
    auto f = static_cast<std::int64_t>(frame);
    std::int64_t lo =
        seg_start + std::max(min_speech, static_cast<std::int64_t>(kCutSearchFrom *
                                                                   static_cast<double>(max_seg)));
    auto fa = static_cast<std::size_t>((std::max(lo, base) - base + f - 1) / f);
    auto fb = static_cast<std::size_t>((end - base) / f);
    const float* e = energy.data() + ehead;
    std::int64_t cut_at = end;
    if (fa < fb) {
      // Longest run of quiet frames; on equal length the quieter, then the later one.
      std::size_t best_len = 0, best_mid = 0;
      double best_mean = 0;
      for (std::size_t i = fa; i < fb;) {
        if (e[i] > floor_db + kOffDb && e[i] > kAbsMinSpeechDb) {
          ++i;
          continue;
        }
        std::size_t j = i;
        double sum = 0;
        while (j < fb && !(e[j] > floor_db + kOffDb && e[j] > kAbsMinSpeechDb)) sum += e[j++];
        std::size_t len = j - i;
        double mean = sum / static_cast<double>(len);
        if (len > best_len || (len == best_len && mean <= best_mean)) {
          best_len = len, best_mid = i + len / 2, best_mean = mean;
        }
        i = j;
      }
      if (best_len > 0) {
        cut_at = base + static_cast<std::int64_t>(best_mid) * f;
      } else {
        double best = std::numeric_limits<double>::max();
        std::size_t best_i = fb - 1;
        for (std::size_t i = fa; i < fb; ++i) {
          std::size_t a = i >= kSmoothFrames / 2 ? i - kSmoothFrames / 2 : 0;
          std::size_t b = std::min(fb, i + kSmoothFrames / 2 + 1);
          double sum = 0;
          for (std::size_t k = a; k < b; ++k) sum += std::pow(10.0, e[k] / 10.0);
          double mean = sum / static_cast<double>(b - a);
          if (mean <= best) best = mean, best_i = i;
        }
        cut_at = base + static_cast<std::int64_t>(best_i) * f + f / 2;
      }
    }
    cut_at = std::min(cut_at, seg_start + max_seg);
    emit(seg_start, cut_at, sink);
    if (last_active_end <= cut_at) {
      // Only quiet audio after the cut so far: wait for speech to resume, as after a pause.
      state = State::Silence;
      trim_to(end - pad);
    } else {
      seg_start = speech_start = cut_at;
      trim_to(seg_start);
    }
  }

  void update_floor(double e) {
    if (!floor_seeded) {
      floor_db = std::clamp(e, kMinFloorDb, kMaxInitialFloorDb);
      floor_seeded = true;
    } else if (e < floor_db) {
      floor_db += (e - floor_db) * kFloorDownRate;
    } else {
      floor_db += std::min(e - floor_db, rise_per_frame);
    }
    floor_db = std::max(floor_db, kMinFloorDb);
  }

  void on_frame(const std::int16_t* x, std::size_t n, const SegmentSink& sink) {
    buf.insert(buf.end(), x, x + n);
    double e = energy_db(x, n);
    energy.push_back(static_cast<float>(e));
    std::int64_t start = end;
    end += static_cast<std::int64_t>(n);
    if (!floor_seeded) update_floor(e);
    bool loud = e > floor_db + kOnDb && e > kAbsMinSpeechDb;
    bool active = e > floor_db + kOffDb && e > kAbsMinSpeechDb;
    update_floor(e);

    if (state == State::Silence) {
      if (loud) {
        state = State::Speech;
        speech_start = start;
        last_active_end = end;
        seg_start = std::max({start - pad, prev_end, base});
      } else {
        trim_to(end - pad);
      }
      return;
    }
    if (active) last_active_end = end;
    if (end - last_active_end >= min_silence) {
      close_segment(sink);
      return;
    }
    if (end - seg_start >= max_seg) cut(sink);
  }

  void push(std::span<const std::int16_t> pcm, const SegmentSink& sink) {
    std::size_t i = 0;
    if (!partial.empty()) {
      std::size_t take = std::min(frame - partial.size(), pcm.size());
      partial.insert(partial.end(), pcm.begin(), pcm.begin() + static_cast<std::ptrdiff_t>(take));
      i = take;
      if (partial.size() < frame) return;
      on_frame(partial.data(), frame, sink);
      partial.clear();
    }
    for (; i + frame <= pcm.size(); i += frame) on_frame(pcm.data() + i, frame, sink);
    partial.assign(pcm.begin() + static_cast<std::ptrdiff_t>(i), pcm.end());
  }

  void finish(const SegmentSink& sink) {
    if (!partial.empty()) on_frame(partial.data(), partial.size(), sink);
    partial.clear();
    if (state == State::Speech) close_segment(sink);
    reset();
  }
};

Segmenter::Segmenter(SegmenterParams p) : impl_(std::make_unique<Impl>(p)) {}
Segmenter::Segmenter(Segmenter&&) noexcept = default;
Segmenter& Segmenter::operator=(Segmenter&&) noexcept = default;
Segmenter::~Segmenter() = default;

void Segmenter::push(std::span<const std::int16_t> pcm, const SegmentSink& sink) {
  impl_->push(pcm, sink);
}
void Segmenter::finish(const SegmentSink& sink) {
  impl_->finish(sink);
}
std::size_t Segmenter::buffered_samples() const noexcept {
  return impl_->buffered() + impl_->partial.size();
}

}  // namespace soroka::segment
