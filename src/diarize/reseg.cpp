// The resegmentation pass: sequential reading of the input into the first pass's stretches,
// frame scoring, Viterbi, spans.
#include "diarize/reseg.h"

#include <algorithm>

namespace soroka::diarize {

namespace {

// Cuts the input, read once from its start, into the stretches asked for (in order).
class StretchReader {
 public:
  explicit StretchReader(AudioReplay& in) : in_(in), block_(kReplayBlock) {}

  // The samples of [start, start + count), or an error when the input ends before.
  Result<void> read(std::int64_t start, std::size_t count, std::vector<std::int16_t>& out) {
    out.clear();
    while (out.size() < count) {
      if (used_ == have_) {
        auto n = in_.read(block_);
        if (!n) return std::unexpected(n.error());
        if (*n == 0) return fail(FailureKind::invalid_input, "the input ended before its speech did");
        pos_ += static_cast<std::int64_t>(have_);
        have_ = *n;
        used_ = 0;
      }
      const std::int64_t at = start + static_cast<std::int64_t>(out.size());
      const std::int64_t in_block = at - pos_;
      if (in_block >= static_cast<std::int64_t>(have_)) {  // before the stretch: skip
        used_ = have_;
        continue;
      }
      if (in_block < 0) return fail(FailureKind::internal, "resegmentation: stretches out of order");
      used_ = static_cast<std::size_t>(in_block);
      const std::size_t take = std::min(have_ - used_, count - out.size());
      out.insert(out.end(), block_.begin() + static_cast<std::ptrdiff_t>(used_),
                 block_.begin() + static_cast<std::ptrdiff_t>(used_ + take));
      used_ += take;
    }
    return {};
  }

 private:
  AudioReplay& in_;
  std::vector<std::int16_t> block_;
  std::size_t have_ = 0, used_ = 0;
  std::int64_t pos_ = 0;  // input sample of block_[0]
};

}  // namespace

Eigen::MatrixXd frame_scores(const Eigen::MatrixXf& x, const std::vector<GaussModel>& models) {
  Eigen::MatrixXd xd = x.cast<double>();
  Eigen::MatrixXd out(x.rows(), static_cast<Eigen::Index>(models.size()));
  for (std::size_t s = 0; s < models.size(); ++s) {
    const auto& m = models[s];
    Eigen::MatrixXd d = xd.rowwise() - m.mu.transpose();
    out.col(static_cast<Eigen::Index>(s)) =
        -0.5 * ((d * m.inv).cwiseProduct(d).rowwise().sum().array() + m.logdet);
  }
  return out;
}

std::vector<LabeledSpan> spans_of(const std::vector<int>& labels, const std::vector<float>& time_s,
                                  double start_s, double end_s) {
  std::vector<LabeledSpan> out;
  for (std::size_t t = 0; t < labels.size(); ++t) {
    if (t > 0 && labels[t] == labels[t - 1]) continue;
    double at = t == 0 ? start_s : start_s + 0.5 * (time_s[t - 1] + time_s[t]);
    if (!out.empty()) out.back().end_s = at;
    out.push_back({at, end_s, labels[t]});
  }
  return out;
}

Result<std::vector<LabeledSpan>> resegment(AudioReplay& input, std::span<const Stretch> stretches,
                                           FeatureExtractor& fx,
                                           const std::vector<GaussModel>& models,
                                           const ResegParams& p) {
  StretchReader reader(input);
  std::vector<LabeledSpan> out;
  std::vector<std::int16_t> pcm;
  for (const auto& st : stretches) {
    if (auto r = reader.read(st.start_sample, static_cast<std::size_t>(st.samples), pcm); !r)
      return std::unexpected(r.error());
    const double start_s = static_cast<double>(st.start_sample) / p.sample_rate;
    const double end_s = start_s + static_cast<double>(st.samples) / p.sample_rate;
    Frames f = fx.extract(pcm);
    if (f.x.rows() != st.kept_frames)
      return fail(FailureKind::invalid_input, "the input changed since it was first read");
    if (f.x.rows() < p.min_frames || models.size() < 2) {
      out.push_back({start_s, end_s, -1});
      continue;
    }
    auto labels = viterbi_min_duration(frame_scores(f.x, models), p.viterbi);
    for (auto& s : spans_of(labels, f.time_s, start_s, end_s)) out.push_back(s);
  }
  return out;
}

}  // namespace soroka::diarize
