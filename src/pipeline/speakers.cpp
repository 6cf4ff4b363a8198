// Speakers in a transcript: turns assigned to words and segments, and the diarization stage.
#include "pipeline/speakers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "media/decoder.h"
#include "pipeline/input_replay.h"
#include "pipeline/speaker_options.h"
#include "util/log.h"
#include "util/text.h"
#include "util/units.h"

namespace soroka::pipeline {

namespace {

double overlap(double a0, double a1, const diarize::Turn& t) {
  return std::max(0.0, std::min(a1, t.end_s) - std::max(a0, t.start_s));
}

double distance(double a0, double a1, const diarize::Turn& t) {
  if (a1 < t.start_s) return t.start_s - a1;
  if (a0 > t.end_s) return a0 - t.end_s;
  return 0;
}

// The turn [a0, a1] overlaps most; with no overlap at all, the nearest one (ties: the
// earlier). `hint` is the first turn that does not end before a0: words go forward in time, so
// carrying it from word to word keeps the whole pass linear in words + turns.
std::size_t best_turn(double a0, double a1, const std::vector<diarize::Turn>& turns, std::size_t& hint) {
  while (hint > 0 && turns[hint - 1].end_s > a0) --hint;  // input out of order: still right
  while (hint < turns.size() && turns[hint].end_s <= a0) ++hint;
  std::size_t best = hint > 0 ? hint - 1 : 0;  // the nearest turn before, if any
  double best_ov = overlap(a0, a1, turns[best]), best_dist = distance(a0, a1, turns[best]);
  // Candidates: the turns that start before a1, and the first one after it.
  for (std::size_t i = hint; i < turns.size(); ++i) {
    const double ov = overlap(a0, a1, turns[i]), d = distance(a0, a1, turns[i]);
    if (ov > best_ov || (best_ov <= 0 && ov <= 0 && d < best_dist)) {
      best = i;
      best_ov = ov;
      best_dist = d;
    }
    if (turns[i].start_s >= a1) break;
  }
  return best;
}

std::string joined(const std::vector<engine::Word>& words) {
  std::string text;
  for (const auto& w : words) {
    if (!text.empty()) text += ' ';
    text += w.text;
  }
  return text;
}

// Cuts `seg` into runs of words of one speaker (`who[i]`: word i's turn) and appends them.
void split_by_words(engine::SegmentText&& seg, const std::vector<std::size_t>& who,
                    const std::vector<diarize::Turn>& turns, std::vector<engine::SegmentText>& out) {
  const std::size_t n = seg.words.size();
  std::size_t begin = 0;
  while (begin < n) {
    std::size_t end = begin + 1;
    while (end < n && turns[who[end]].name == turns[who[begin]].name) ++end;
    engine::SegmentText part;
    part.start_s = begin == 0 ? seg.start_s : seg.words[begin].start_s;
    part.end_s = end == n ? seg.end_s : seg.words[end - 1].end_s;
    part.words.assign(std::make_move_iterator(seg.words.begin() + static_cast<std::ptrdiff_t>(begin)),
                      std::make_move_iterator(seg.words.begin() + static_cast<std::ptrdiff_t>(end)));
    part.text = begin == 0 && end == n ? std::move(seg.text) : joined(part.words);
    part.speaker = turns[who[begin]].name;
    out.push_back(std::move(part));
    begin = end;
  }
}

}  // namespace

void assign_speakers(std::vector<engine::SegmentText>& segments, const std::vector<diarize::Turn>& turns) {
  if (turns.empty()) return;
  std::vector<engine::SegmentText> out;
  out.reserve(segments.size());
  std::size_t hint = 0;
  std::vector<std::size_t> who;
  for (auto& seg : segments) {
    if (seg.words.empty()) {
      std::size_t h = hint;
      seg.speaker = turns[best_turn(seg.start_s, seg.end_s, turns, h)].name;
      out.push_back(std::move(seg));
      continue;
    }
    who.clear();
    for (const auto& w : seg.words) who.push_back(best_turn(w.start_s, w.end_s, turns, hint));
    split_by_words(std::move(seg), who, turns, out);
  }
  segments = std::move(out);
}

namespace {

// The longest input the decoder takes: what an input of unknown length may need.
constexpr double kUnknownDurationS = media::DecodeLimits{}.max_duration_s;

class DiarizeStage final : public engine::Stage {
 public:
  DiarizeStage(oomguard::Reservation memory, std::unique_ptr<diarize::Diarizer> d, ShedPoint* shed,
               std::string input_path, const media::DecodeLimits& decode)
      : memory_(std::move(memory)), diarizer_(std::move(d)), shed_(shed), path_(std::move(input_path)),
        decode_(decode) {
    if (shed_) shed_->add(diarizer_.get());
  }
  ~DiarizeStage() override {
    if (shed_) shed_->remove(diarizer_.get());
  }
  DiarizeStage(const DiarizeStage&) = delete;
  DiarizeStage& operator=(const DiarizeStage&) = delete;

  std::string name() const override { return "diarization"; }
  Result<void> process(const segment::Segment& audio, engine::SegmentText& /*text*/) override {
    return diarizer_->add(audio);
  }
  Result<void> finish(std::vector<engine::SegmentText>& all) override {
    auto turns = finish_diarizer();
    if (!turns) return std::unexpected(turns.error());
    spdlog::debug("event=diarized turns={} segments={}", turns->size(), all.size());
    assign_speakers(all, *turns);
    return {};
  }

 private:
  // With the input read again when it can be (the resegmentation pass), else in one pass.
  Result<std::vector<diarize::Turn>> finish_diarizer() {
    auto again = path_.empty() ? fail(FailureKind::internal, "no input file") : reopen_input(path_, decode_);
    if (again) return diarizer_->finish_resegmented(**again);
    spdlog::info("event=diarize_one_pass reason=\"{}\" note=\"turn boundaries not refined\"",
                 log_escape(again.error().message));
    return diarizer_->finish();
  }

  oomguard::Reservation memory_;  // declared first: released after the diarizer is freed
  std::unique_ptr<diarize::Diarizer> diarizer_;
  ShedPoint* shed_;
  std::string path_;
  media::DecodeLimits decode_;
};

}  // namespace

Result<std::unique_ptr<engine::Stage>> make_diarize_stage(const DiarizeSetup& setup, double duration_s,
                                                          const std::string& input_path,
                                                          const media::DecodeLimits& decode) {
  if (!setup.budget) return fail(FailureKind::internal, "diarization: no memory budget", EINVAL);
  // This input's own figure, every time: a longer file needs more (the turns grow with it).
  const std::uint64_t bytes = diarize::working_bytes(duration_s > 0 ? duration_s : kUnknownDurationS);
  auto memory = setup.budget->try_reserve(bytes, kDiarizerLabel);
  if (!memory) return std::unexpected(std::move(memory.error()).with_context("diarization"));
  auto d = setup.make(setup.params);
  if (!d) return std::unexpected(d.error());
  spdlog::debug("event=diarizer_reserved mib={}", to_mib(bytes));
  return std::make_unique<DiarizeStage>(std::move(*memory), std::move(*d), setup.shed, input_path, decode);
}

Result<void> add_diarization(const SpeakerRequest& r, DiarizeSetup setup, TranscribeOptions& options) {
  auto params = speaker_params(r);
  if (!params) return fail(FailureKind::invalid_request, params.error(), EINVAL);
  auto loaded = load_known(std::move(*params), r.known);
  if (!loaded) return std::unexpected(loaded.error());
  setup.params = std::move(*loaded);
  options.stages.push_back([setup = std::move(setup)](const StageInput& in) {
    return make_diarize_stage(setup, in.duration_s, in.path, in.decode);
  });
  options.stage_bytes = [](double duration_s) { return diarize::working_bytes(duration_s); };
  return {};
}

}  // namespace soroka::pipeline
