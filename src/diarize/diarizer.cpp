// The diarizer: LFCC pieces split at BIC changes, pooled in a capped set of units, clustered
// at the end with a BIC-chosen speaker count, matched to known voices, turned into Turns.
#include "diarize/diarizer.h"

#include <algorithm>
#include <set>

#include "diarize/change.h"
#include "diarize/cluster.h"
#include "diarize/features.h"
#include "diarize/known.h"
#include "diarize/reseg.h"
#include "diarize/turns.h"
#include "util/log.h"
#include "util/text.h"

namespace soroka::diarize {

namespace {

// Speech is analysed in stretches of at most 20 s (the segmenter's own cap), so the frames
// held at once are bounded whatever the caller feeds.
constexpr double kChunkS = 20.0;
// Units the pool keeps before merging the two most alike: 128 covers ~4 min of dialogue
// without any early merge (dev set: 1 unit per 1.9 s of speech), and costs ~0.5 MB.
constexpr int kPoolCap = 128;
// A piece with fewer kept frames than this (0.3 s of voiced speech) is too short to model; it
// takes the speaker of its neighbour.
constexpr Eigen::Index kMinUnitFrames = 30;
// A new piece starts at least 0.5 s after the previous one's start (the shortest piece the
// change detector cuts); closer speech joins it, so pieces are at most 2 per second of input.
constexpr double kMinPieceSpacingS = 0.5;
// A clip with fewer kept frames than this (1 s of voiced speech) says too little of a voice.
constexpr double kMinClipFrames = 100;
// A clip matches a voice when the textbook BIC (weight 1, as the unit pool's merges) would
// model both with one Gaussian (known.h). Measured on six dev sets (seeds 11-16) with clips of
// slt, awb and kal16 saying other sentences, every found voice against every clip (360
// pairs): the same voice -0.17-0.59, different voices 1.19 (the LibriVox reader vs kal16) and
// up; kal16's clip against kal (the same recorded man, flite's 8 kHz voice of him) 0.74-0.89.
// Per frame, as this was measured before, the two overlap: the same voice up to 0.32 nat (a
// voice of short turns has few frames), the LibriVox reader 0.27 from kal16's clip.
constexpr double kKnownThreshold = 1.0;
// Pool merges and the change detector use the textbook BIC weight.
constexpr double kPoolLambda = 1.0;

// The resegmentation pass (reseg.h): a turn inside a stretch lasts at least 0.5 s of kept
// frames, and a change costs 40 nats. Swept with LFCC on 140 dialogues (dev sets of seeds
// 11-20 and 20 asterisk trios; mean DER per dialogue of the dev sets, worst dialogue whose
// count is right): one pass 1.51 %, 11.3 %; 0.25 s with no cost 1.97 %, 19.3 % (voices split
// at frame level); 0.5 s, 20 nats 0.84 %, 11.85 %; 0.5 s, 35-50 nats 0.80 %, 11.05 %; 80-200
// nats 0.87-0.88 %, 11.05 %; 1 s, 50 nats 0.80 %, 11.05 %. 0.5 s keeps a short reply inside a
// stretch.
constexpr int kResegMinFrames = 50;
constexpr double kResegSwitchPenalty = 40.0;

struct Piece {
  double start_s, end_s;
  int id;  // in the unit pool; -1 when too short to model
};

class BicDiarizer final : public Diarizer {
 public:
  explicit BicDiarizer(Params p)
      : p_(std::move(p)),
        fx_(make_lfcc(p_.sample_rate)),
        clusterer_(make_bic_clusterer()),
        pool_(fx_->dim(), kPoolCap, kPoolLambda) {
    for (const auto& k : p_.known) clips_.push_back(*k.voice);  // a few KB each: d + d*d doubles
  }

  Result<void> add(const segment::Segment& speech) override;
  Result<std::vector<Turn>> finish() override;
  Result<std::vector<Turn>> finish_resegmented(AudioReplay& input) override;
  void shed() override { fx_->shed(); }

 private:
  // What the clustering found: each piece's speaker, each speaker's statistics and name.
  struct Found {
    std::vector<int> per_piece;
    std::vector<GaussStats> voices;
    std::vector<std::string> names;
  };
  void add_chunk(std::span<const std::int16_t> pcm, std::int64_t start_sample);
  void add_piece(double start_s, double end_s, GaussStats stats);
  std::vector<int> piece_labels(const std::vector<int>& unit_labels);
  Result<Found> cluster_all();
  std::vector<LabeledSpan> piece_spans(const Found& found) const;
  void fill_unlabelled(std::vector<LabeledSpan>& spans, const Found& found) const;

  Params p_;
  std::unique_ptr<FeatureExtractor> fx_;
  std::unique_ptr<Clusterer> clusterer_;
  UnitPool pool_;
  std::vector<GaussStats> clips_;
  std::vector<Piece> pieces_;
  std::vector<Stretch> stretches_;  // for the second pass
  std::int64_t next_sample_ = 0;
  bool finished_ = false;
};

Result<void> BicDiarizer::add(const segment::Segment& speech) {
  if (finished_) return fail(FailureKind::internal, "diarizer: add() after finish()");
  if (speech.start_sample < next_sample_)
    return fail(FailureKind::internal, "diarizer: speech out of order or overlapping");
  next_sample_ = speech.start_sample + static_cast<std::int64_t>(speech.samples.size());
  auto chunk = static_cast<std::size_t>(kChunkS * p_.sample_rate);
  std::span<const std::int16_t> all(speech.samples);
  for (std::size_t at = 0; at < all.size(); at += chunk) {
    auto part = all.subspan(at, std::min(chunk, all.size() - at));
    add_chunk(part, speech.start_sample + static_cast<std::int64_t>(at));
  }
  return {};
}

void BicDiarizer::add_chunk(std::span<const std::int16_t> pcm, std::int64_t start_sample) {
  const double start_s = static_cast<double>(start_sample) / p_.sample_rate;
  const double end_s = start_s + static_cast<double>(pcm.size()) / p_.sample_rate;
  Frames f = fx_->extract(pcm);
  stretches_.push_back({start_sample, static_cast<std::int32_t>(pcm.size()),
                        static_cast<std::int32_t>(f.x.rows())});
  std::vector<Eigen::Index> cuts = detect_changes(f.x, ChangeParams{});
  cuts.push_back(f.x.rows());
  Eigen::Index from = 0;
  double piece_start = start_s;
  for (Eigen::Index cut : cuts) {
    GaussStats s(fx_->dim());
    s.add_rows(f.x, from, cut);
    double piece_end = cut < f.x.rows()
                           ? start_s + f.time_s[static_cast<std::size_t>(cut)] - fx_->hop_s() / 2
                           : end_s;
    add_piece(piece_start, piece_end, std::move(s));
    piece_start = piece_end;
    from = cut;
  }
}

void BicDiarizer::add_piece(double start_s, double end_s, GaussStats stats) {
  if (!pieces_.empty() && start_s - pieces_.back().start_s < kMinPieceSpacingS) {
    pieces_.back().end_s = std::max(pieces_.back().end_s, end_s);  // too close to cut apart
    return;
  }
  int id = stats.n >= static_cast<double>(kMinUnitFrames) ? pool_.add(std::move(stats)) : -1;
  pieces_.push_back(Piece{start_s, end_s, id});
}

// Each piece's speaker; a piece too short to model takes a touching neighbour's (the one
// before first), else the nearest modelled piece's.
std::vector<int> BicDiarizer::piece_labels(const std::vector<int>& unit_labels) {
  std::vector<int> out(pieces_.size(), -1);
  for (std::size_t i = 0; i < pieces_.size(); ++i)
    if (pieces_[i].id >= 0) out[i] = unit_labels[pool_.slot_of(pieces_[i].id)];
  auto touch = [&](std::size_t a, std::size_t b) {
    return pieces_[b].start_s - pieces_[a].end_s < 0.001;
  };
  for (std::size_t i = 0; i < pieces_.size(); ++i) {
    if (out[i] >= 0) continue;
    std::size_t next = i + 1;
    while (next < pieces_.size() && out[next] < 0 && pieces_[next].id < 0) ++next;
    bool has_prev = i > 0 && out[i - 1] >= 0, has_next = next < pieces_.size() && out[next] >= 0;
    if (has_prev && (touch(i - 1, i) || !has_next || !touch(i, next))) out[i] = out[i - 1];
    else if (has_next) out[i] = out[next];
    else out[i] = 0;
  }
  return out;
}

Result<BicDiarizer::Found> BicDiarizer::cluster_all() {
  if (finished_) return fail(FailureKind::internal, "diarizer: finish() called twice");
  finished_ = true;
  const auto& units = pool_.units();
  std::vector<int> labels =
      clusterer_->cluster(units, CountRange{p_.speakers, p_.min_speakers, p_.max_speakers});
  int k = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  Found f;
  f.voices.assign(static_cast<std::size_t>(k), GaussStats(fx_->dim()));
  for (std::size_t u = 0; u < units.size(); ++u)
    f.voices[static_cast<std::size_t>(labels[u])].merge(units[u]);
  std::vector<int> match = match_known(f.voices, clips_, kKnownThreshold);
  f.names.resize(static_cast<std::size_t>(k));
  for (std::size_t c = 0; c < f.names.size(); ++c)
    if (match[c] >= 0) f.names[c] = p_.known[static_cast<std::size_t>(match[c])].name;
  f.per_piece = piece_labels(labels);
  return f;
}

std::vector<LabeledSpan> BicDiarizer::piece_spans(const Found& found) const {
  std::vector<LabeledSpan> spans;
  spans.reserve(pieces_.size());
  for (std::size_t i = 0; i < pieces_.size(); ++i)
    spans.push_back({pieces_[i].start_s, pieces_[i].end_s, found.per_piece[i]});
  return spans;
}

// Spans the second pass left unlabelled (-1) take the speaker of the first-pass piece they
// overlap most. Both lists are in time order: one walk.
void BicDiarizer::fill_unlabelled(std::vector<LabeledSpan>& spans, const Found& found) const {
  std::size_t p = 0;
  for (auto& s : spans) {
    while (p + 1 < pieces_.size() && pieces_[p].end_s <= s.start_s) ++p;
    if (s.cluster >= 0 || pieces_.empty()) continue;
    std::size_t best = p;
    double best_ov = -1;
    for (std::size_t q = p; q < pieces_.size() && pieces_[q].start_s < s.end_s; ++q) {
      double ov = std::min(s.end_s, pieces_[q].end_s) - std::max(s.start_s, pieces_[q].start_s);
      if (ov > best_ov) best_ov = ov, best = q;
    }
    s.cluster = found.per_piece[best];
  }
}

Result<std::vector<Turn>> BicDiarizer::finish() {
  auto found = cluster_all();
  if (!found) return std::unexpected(found.error());
  return make_turns(piece_spans(*found), found->names);
}

Result<std::vector<Turn>> BicDiarizer::finish_resegmented(AudioReplay& input) {
  auto found = cluster_all();
  if (!found) return std::unexpected(found.error());
  // One voice (or none): no boundary to place, no need to read the input again.
  if (found->voices.size() < 2) return make_turns(piece_spans(*found), found->names);
  std::vector<GaussModel> models;
  for (const auto& v : found->voices) models.push_back(GaussModel::from(v));
  ResegParams rp{{kResegMinFrames, kResegSwitchPenalty}, static_cast<int>(kMinUnitFrames),
                 p_.sample_rate};
  auto spans = resegment(input, stretches_, *fx_, models, rp);
  if (!spans) {
    spdlog::warn("event=diarize_second_pass_skipped reason=\"{}\"", log_escape(spans.error().message));
    return make_turns(piece_spans(*found), found->names);
  }
  fill_unlabelled(*spans, *found);
  return make_turns(*spans, found->names);
}

Result<void> check_counts(const Params& p) {
  if (p.min_speakers < 1 || p.max_speakers > kMaxSpeakers || p.min_speakers > p.max_speakers)
    return fail(FailureKind::invalid_request,
                "speaker range: need 1 <= min_speakers <= max_speakers <= " +
                    std::to_string(kMaxSpeakers));
  if (p.speakers < 0 || (p.speakers > 0 && (p.speakers < p.min_speakers ||
                                            p.speakers > p.max_speakers)))
    return fail(FailureKind::invalid_request,
                "speakers must be 0 (find them) or between min_speakers and max_speakers");
  if (p.sample_rate < 8000 || p.sample_rate > 48000)
    return fail(FailureKind::invalid_request, "diarization needs audio at 8 to 48 kHz");
  return {};
}

// The known voices as the matching needs them: named once each, analysed like the input.
Result<void> check_known(const Params& p) {
  std::set<std::string> seen;
  for (const auto& k : p.known) {
    if (k.name.empty()) return fail(FailureKind::invalid_request, "a known speaker needs a name");
    if (!seen.insert(k.name).second)
      return fail(FailureKind::invalid_request, "known speaker '" + k.name + "' given twice");
    if (!k.voice || k.voice->dim() != kLfccDim || k.sample_rate != p.sample_rate)
      return fail(FailureKind::invalid_request,
                  "the voice of '" + k.name + "' was not analysed as this input is (known_speaker)");
  }
  return {};
}

}  // namespace

Result<KnownSpeaker> known_speaker(std::string name, std::span<const std::int16_t> clip,
                                   int sample_rate) {
  auto fx = make_lfcc(sample_rate);
  auto voice = std::make_shared<GaussStats>(fx->dim());
  // In stretches of kChunkS, as the input's speech is analysed: the same frames, and a bound
  // on the frames held at once.
  const auto chunk = static_cast<std::size_t>(kChunkS * sample_rate);
  for (std::size_t at = 0; at < clip.size(); at += chunk) {
    Frames f = fx->extract(clip.subspan(at, std::min(chunk, clip.size() - at)));
    voice->add_rows(f.x, 0, f.x.rows());
  }
  if (voice->n < kMinClipFrames)
    return fail(FailureKind::invalid_request,
                "the clip of '" + name + "' holds too little speech: give at least 2 s");
  return KnownSpeaker{std::move(name), std::move(voice), sample_rate};
}

Result<std::unique_ptr<Diarizer>> make_diarizer(const Params& params) {
  if (auto ok = check_counts(params); !ok) return std::unexpected(ok.error());
  if (auto ok = check_known(params); !ok) return std::unexpected(ok.error());
  return std::make_unique<BicDiarizer>(params);
}

namespace {

// The second pass's scratch for one stretch (chunk_frames frames at most): its samples (at the
// pipeline's rate) and a read block, the frames in double and their centred copy and
// product, the scores, the Viterbi's back pointers and chains, the speakers' models.
std::size_t second_pass_bytes(std::size_t chunk_frames, int dim) {
  const auto d = static_cast<std::size_t>(dim), k = static_cast<std::size_t>(kMaxSpeakers);
  const std::size_t pcm =
      (static_cast<std::size_t>(kChunkS * media::kSampleRate) + kReplayBlock) * sizeof(std::int16_t);
  const std::size_t frames = chunk_frames * (3 * d * sizeof(double) + k * sizeof(double));
  const std::size_t back = chunk_frames * (k * (sizeof(int) + 1) + 64);
  const std::size_t chains = 2 * k * static_cast<std::size_t>(kResegMinFrames) * sizeof(double);
  return pcm + frames + back + chains + k * (d * d + d + 8) * sizeof(double);
}

}  // namespace

std::uint64_t working_bytes(double duration_s) {
  const int dim = kLfccDim;
  auto chunk_frames = static_cast<std::size_t>(kChunkS / kLfccHopS) + 1;
  // all frames and the kept ones (floats), their energies, times and keep flags
  std::size_t frames = chunk_frames * (2 * dim * sizeof(float) + 3 * sizeof(float));
  std::size_t change = chunk_frames / 5 * 16 + 4 * 200 * dim * sizeof(double);
  std::size_t fixed = frames + change + UnitPool::working_bytes(dim, kPoolCap) +
                      make_bic_clusterer()->working_bytes(kPoolCap, dim) +
                      kMaxSpeakers * 2 * GaussStats::bytes(dim) + (64u << 10) +
                      second_pass_bytes(chunk_frames, dim);
  // Per piece (at most one per kMinPieceSpacingS): its record, its pool parent, its label,
  // its stretch, its span, and its turn; vectors may hold twice what they use while they grow.
  double pieces = std::max(0.0, duration_s) / kMinPieceSpacingS + 2;
  double per_piece = 2.0 * (sizeof(Piece) + sizeof(int) + sizeof(Stretch)) + sizeof(int) +
                     sizeof(LabeledSpan) + 2.0 * sizeof(Turn);
  // The second pass's spans: besides one per piece, one per change it places, at most one per
  // kResegMinFrames frames of 10 ms; each a span (twice, growing) and a turn (twice).
  pieces += std::max(0.0, duration_s) * 100.0 / kResegMinFrames;
  // malloc's own headers (16 bytes on every one of the few hundred blocks) and rounding
  double slack = 1.25;
  return static_cast<std::uint64_t>(slack * (static_cast<double>(fixed) + pieces * per_piece));
}

}  // namespace soroka::diarize
