// What a user asks of diarization, checked for every front end; known voices' clips decoded.
#include "pipeline/speaker_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>

#include "media/decoder.h"
#include "util/text.h"

namespace soroka::pipeline {

namespace {

std::string check_count(const char* what, int n) {
  if (n == 0 || (n >= 1 && n <= diarize::kMaxSpeakers)) return {};
  return fmt::format("{} must be between 1 and {} (got {})", what, diarize::kMaxSpeakers, n);
}

// Each known voice is one of the speakers found, so there cannot be more of them than speakers.
std::string check_known_count(const diarize::Params& p, std::size_t known) {
  const bool exact = p.speakers > 0;
  const int most = exact ? p.speakers : p.max_speakers;
  if (known <= static_cast<std::size_t>(most)) return {};
  return fmt::format("{} known speakers are more than {} ({})", known, exact ? "speakers" : "max_speakers",
                     most);
}

std::string check_names(const std::vector<KnownClip>& known) {
  if (known.size() > kMaxKnownSpeakers)
    return fmt::format("at most {} known speakers may be given (got {})", kMaxKnownSpeakers, known.size());
  std::set<std::string> seen;
  for (const auto& k : known) {
    if (k.name.empty()) return "a known speaker's name is empty";
    if (k.name.size() > kMaxSpeakerName || !valid_utf8(k.name) ||
        std::any_of(k.name.begin(), k.name.end(), [](char c) { return static_cast<unsigned char>(c) < ' '; }))
      return fmt::format("the speaker name '{}' must be printable UTF-8 of at most {} bytes",
                         log_escape(k.name, 32), kMaxSpeakerName);
    if (k.path.empty()) return fmt::format("the speaker '{}' has no reference clip", log_escape(k.name, 32));
    if (!seen.insert(k.name).second) return fmt::format("the speaker name '{}' is given twice", log_escape(k.name, 32));
  }
  return {};
}

}  // namespace

std::expected<diarize::Params, std::string> speaker_params(const SpeakerRequest& r) {
  for (auto [what, n] : std::array<std::pair<const char*, int>, 3>{
           {{"speakers", r.speakers}, {"min_speakers", r.min_speakers}, {"max_speakers", r.max_speakers}}})
    if (auto e = check_count(what, n); !e.empty()) return std::unexpected(e);
  if (auto e = check_names(r.known); !e.empty()) return std::unexpected(e);
  diarize::Params p = diarize::default_params();
  p.speakers = r.speakers;
  if (r.min_speakers > 0) p.min_speakers = r.min_speakers;
  if (r.max_speakers > 0) p.max_speakers = r.max_speakers;
  else p.max_speakers = std::max({p.max_speakers, r.speakers, r.min_speakers});
  if (p.min_speakers > p.max_speakers)
    return std::unexpected(fmt::format("min_speakers ({}) is above max_speakers ({})", p.min_speakers, p.max_speakers));
  if (p.speakers > 0 && (p.speakers < p.min_speakers || p.speakers > p.max_speakers))
    return std::unexpected(fmt::format("speakers ({}) is outside min_speakers..max_speakers ({}..{})", p.speakers,
                                       p.min_speakers, p.max_speakers));
  if (auto e = check_known_count(p, r.known.size()); !e.empty()) return std::unexpected(e);
  return p;
}

std::optional<KnownClip> parse_speaker_arg(std::string_view arg) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == arg.size()) return std::nullopt;
  return KnownClip{std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
}

std::string clip_length_problem(double seconds) {
  if (seconds < diarize::kMinClipS)
    return fmt::format("shorter than {:.0f} s: give at least {:.0f} s of their voice", diarize::kMinClipS,
                       diarize::kMinClipS);
  if (seconds > kMaxClipS) return fmt::format("longer than {:.0f} s", kMaxClipS);
  return {};
}

Result<std::vector<std::int16_t>> load_clip(const KnownClip& clip) {
  const std::string who = log_escape(clip.name, 32);
  auto refuse = [&](const std::string& why) {
    return fail(FailureKind::invalid_request, fmt::format("the clip of '{}': {}", who, why), EINVAL);
  };
  media::DecodeLimits limits;
  limits.max_duration_s = kMaxClipS;
  auto dec = media::AudioDecoder::open(clip.path, limits);
  if (!dec) return refuse(dec.error().message);
  constexpr auto kMaxSamples = static_cast<std::size_t>(kMaxClipS * media::kSampleRate);
  std::vector<std::int16_t> samples;
  std::array<std::int16_t, 8192> chunk{};
  for (;;) {
    auto n = dec->read(chunk);
    if (!n) return refuse(n.error().message);
    if (*n == 0) break;
    if (samples.size() + *n > kMaxSamples)  // too long already: no need to read the rest
      return refuse(clip_length_problem(static_cast<double>(samples.size() + *n) / media::kSampleRate));
    samples.insert(samples.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  if (samples.empty()) return refuse("no audio");
  const double seconds = static_cast<double>(samples.size()) / media::kSampleRate;
  if (auto why = clip_length_problem(seconds); !why.empty()) return refuse(why);
  return samples;
}

Result<diarize::Params> load_known(diarize::Params params, const std::vector<KnownClip>& known) {
  params.known.clear();
  for (const auto& k : known) {
    auto samples = load_clip(k);
    if (!samples) return std::unexpected(samples.error());
    auto voice = diarize::known_speaker(k.name, *samples, media::kSampleRate);
    if (!voice) return std::unexpected(voice.error());
    params.known.push_back(std::move(*voice));
  }
  return params;
}

}  // namespace soroka::pipeline
