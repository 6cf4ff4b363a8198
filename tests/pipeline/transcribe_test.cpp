// End-to-end transcription through the library: flite speech in several containers, LibriVox
// WER, timings, admission refusals, stages, cancellation and the engine's decoder slots.
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "diarize/diarizer.h"
#include "engine/pocketsphinx_engine.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "pipeline/formats.h"
#include "pipeline/pipeline.h"
#include "pipeline/samples.h"
#include "support/format_validators.h"

namespace soroka::pipeline {
namespace {

using namespace soroka::test;

// One budget, registry and engine per test process (each loads its decoder once).
struct Stack {
  oomguard::MemoryBudget budget{4096 * kMiB};
  oomguard::ModelRegistry registry{budget, oomguard::ModelRegistry::Params{}};
  engine::PocketsphinxEngine engine{registry, engine::pocketsphinx_default_params(kModelDir)};
};

Stack& stack() {
  static Stack s;
  return s;
}

std::string render(const Transcript& t, Format f) {
  std::ostringstream out;
  write(out, t, f);
  return out.str();
}

// Every output format of `t` obeys its rules.
void expect_valid_outputs(const Transcript& t) {
  EXPECT_EQ(validate_srt(render(t, Format::srt), t.duration_s), std::vector<std::string>{});
  EXPECT_EQ(validate_vtt(render(t, Format::vtt), t.duration_s), std::vector<std::string>{});
  EXPECT_EQ(validate_json(render(t, Format::json), t.duration_s), std::vector<std::string>{});
  double prev = 0;
  for (const auto& s : t.segments) {
    EXPECT_GE(s.start_s, prev);
    EXPECT_LE(s.start_s, s.end_s);
    EXPECT_LE(s.end_s, t.duration_s);
    for (const auto& w : s.words) {
      EXPECT_GE(w.start_s, s.start_s);
      EXPECT_LE(w.end_s, s.end_s);
      EXPECT_LT(w.start_s, w.end_s) << w.text;
    }
    prev = s.start_s;
  }
}

class SpeechInContainers : public ::testing::TestWithParam<int> {};

TEST_P(SpeechInContainers, RecognisedWordsOverlapTheSpokenText) {
  const SpeechSample& s = speech_samples()[static_cast<std::size_t>(GetParam())];
  TempDir dir;
  std::string path = make_sample(dir.path(), s, GetParam());
  auto info = media::probe_media(path);
  ASSERT_TRUE(info) << info.error().message;

  std::vector<std::pair<double, double>> progress;
  auto t = transcribe_file(stack().engine, path, default_options(),
                           [&](double done, double total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->file, path);
  EXPECT_EQ(t->engine, "pocketsphinx");
  EXPECT_EQ(t->language, "en");
  EXPECT_NEAR(t->duration_s, info->duration_s, 0.2);
  double overlap = word_overlap(s.text, t->text());
  std::cout << "  " << s.voice << "/" << s.container << ": \"" << t->text() << "\" overlap "
            << overlap << '\n';
  EXPECT_GE(overlap, 0.7) << "spoken: " << s.text << "\nheard:  " << t->text();
  expect_valid_outputs(*t);

  ASSERT_FALSE(progress.empty());
  for (std::size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);
  EXPECT_DOUBLE_EQ(progress.back().first, t->duration_s);
}

INSTANTIATE_TEST_SUITE_P(FliteVoices, SpeechInContainers,
                         ::testing::Range(0, static_cast<int>(speech_samples().size())),
                         [](const auto& info) {
                           const auto& s = speech_samples()[static_cast<std::size_t>(info.param)];
                           return s.voice + "_" + s.container;
                         });

// The five LibriVox sentences of pocketsphinx-testdata: pocketsphinx_continuous with the same
// model scores 36.6 % WER on them (26 errors in 71 words; "mister" is heard as "mr"); a
// broken pipeline (lost audio, wrong rate, bad cuts) lands far above.
TEST(Librivox, WordErrorRateIsSane) {
  auto refs = librivox_references();
  ASSERT_EQ(refs.size(), 5u);
  std::string all_ref, all_hyp;
  for (const auto& [id, ref] : refs) {
    auto t = transcribe_file(stack().engine, kLibrivoxDir + "/" + id + ".wav", default_options());
    ASSERT_TRUE(t) << id << ": " << t.error().message;
    std::cout << "  ref: " << ref << "\n  hyp: " << t->text() << '\n';
    expect_valid_outputs(*t);
    all_ref += ref + " ";
    all_hyp += t->text() + " ";
  }
  double wer = word_error_rate(all_ref, all_hyp);
  std::cout << "  WER " << wer * 100 << " %\n";
  EXPECT_LE(wer, 0.45);
}

// Word times are absolute: a phrase after a long pause is placed after the pause.
TEST(Timings, WordsAfterAPauseKeepTheirPlace) {
  TempDir dir;
  std::string a = speak(dir.path(), "a", "slt", "good morning");
  std::string gap = make_silence(dir / "gap.wav", 5.0);
  std::string b = speak(dir.path(), "b", "slt", "thank you very much");
  std::string all = concat_wavs({a, gap, b}, dir / "all.wav");
  double b_start = wav_seconds(a) + 5.0;

  auto t = transcribe_file(stack().engine, all, default_options());
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_GE(t->segments.size(), 2u) << t->text();
  expect_valid_outputs(*t);
  const auto& last = t->segments.back();
  ASSERT_FALSE(last.words.empty());
  EXPECT_GE(last.words.front().start_s, b_start - 0.3) << t->text();
  EXPECT_LE(last.words.front().start_s, b_start + 1.0) << t->text();
  EXPECT_LE(t->segments.front().words.back().end_s, wav_seconds(a) + 0.3);

  // The same decoder again: its frame count must not run on from the previous file.
  auto again = transcribe_file(stack().engine, all, default_options());
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_EQ(again->segments.size(), t->segments.size());
  for (std::size_t i = 0; i < t->segments.size(); ++i) {
    EXPECT_EQ(again->segments[i].text, t->segments[i].text);
    EXPECT_DOUBLE_EQ(again->segments[i].start_s, t->segments[i].start_s);
    EXPECT_DOUBLE_EQ(again->segments[i].end_s, t->segments[i].end_s);
  }
}

TEST(Timings, SilenceGivesAnEmptyTranscript) {
  TempDir dir;
  std::string path = make_silence(dir / "silence.wav", 30.0);
  auto t = transcribe_file(stack().engine, path, default_options());
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->segments.empty()) << t->text();
  EXPECT_NEAR(t->duration_s, 30.0, 0.1);
  expect_valid_outputs(*t);
}

TEST(Admission, RefusalsAreUserFacingErrors) {
  TempDir dir;
  std::string speech = speak(dir.path(), "s", "slt", "hello there");
  {
    auto t = transcribe_file(stack().engine, dir / "missing.wav", default_options());
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ENOENT);
    EXPECT_EQ(t.error().message, "file not found");
  }
  {
    TranscribeOptions o;
    o.admission.max_file_bytes = 1000;
    auto t = transcribe_file(stack().engine, speech, o);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, EFBIG);
    EXPECT_NE(t.error().message.find("the limit is"), std::string::npos) << t.error().message;
  }
  {
    // The cost includes at least a session and a segment; 10 MiB free cannot hold it.
    TranscribeOptions o;
    o.available_bytes = 10 * kMiB;
    auto t = transcribe_file(stack().engine, speech, o);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ENOMEM);
    EXPECT_NE(t.error().message.find("not enough memory"), std::string::npos) << t.error().message;
  }
  {
    std::ofstream(dir / "notes.mp3") << "these are not the droids you are looking for\n";
    auto t = transcribe_file(stack().engine, dir / "notes.mp3", default_options());
    ASSERT_FALSE(t);
    EXPECT_FALSE(t.error().message.empty());
    EXPECT_EQ(t.error().message.find(dir.path()), std::string::npos)
        << "errors must not repeat the path: " << t.error().message;
  }
  {
    TranscribeOptions o;
    o.language = "fr";
    auto t = transcribe_file(stack().engine, speech, o);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().message, "language 'fr' is not supported by pocketsphinx (supported: en)");
  }
}

TEST(Admission, CostGrowsWithDurationAndShrinksOnceLoaded) {
  segment::SegmenterParams seg;
  engine::MemoryCost fresh{.model_bytes = 91 * kMiB,
                           .to_load_bytes = 91 * kMiB,
                           .session_bytes = 32 * kMiB};
  engine::MemoryCost loaded = fresh;
  loaded.to_load_bytes = 0;
  EXPECT_LT(estimate_cost(fresh, 60, seg), estimate_cost(fresh, 3600, seg));
  EXPECT_EQ(estimate_cost(fresh, 60, seg) - estimate_cost(loaded, 60, seg), 91 * kMiB);
  // An hour adds a few MiB at most: the audio itself is never held.
  EXPECT_LT(estimate_cost(fresh, 3600, seg) - estimate_cost(fresh, 60, seg), 8 * kMiB);
}

TEST(Admission, TheStagesWorkingMemoryIsInTheEstimate) {
  segment::SegmenterParams seg;
  engine::MemoryCost cost{.model_bytes = 91 * kMiB, .to_load_bytes = 0, .session_bytes = 32 * kMiB};
  EXPECT_EQ(estimate_cost(cost, 600, seg, diarize::working_bytes(600)) - estimate_cost(cost, 600, seg),
            diarize::working_bytes(600));
  // Through transcribe_file: room for the transcription alone, not with a stage's 2 GiB, so the
  // file is refused before any stage is made, and the stage is asked with the file's duration.
  TempDir dir;
  const std::string speech = speak(dir.path(), "s", "slt", "good morning");
  const double seconds = media::probe_media(speech)->duration_s;
  double asked_for = -1;
  bool made = false;
  TranscribeOptions o;
  o.available_bytes = estimate_cost(stack().engine.memory_cost(), seconds, seg) + 64 * kMiB;
  o.stage_bytes = [&](double d) {
    asked_for = d;
    return std::uint64_t{2} << 30;
  };
  o.stages.push_back([&](const StageInput&) -> Result<std::unique_ptr<engine::Stage>> {
    made = true;
    return fail("not reached", EINVAL);
  });
  auto t = transcribe_file(stack().engine, speech, o);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ENOMEM) << t.error().message;
  EXPECT_NEAR(asked_for, seconds, 0.05);
  EXPECT_FALSE(made);
  // With room, the factory's refusal fails the transcription.
  o.stage_bytes = [](double) { return std::uint64_t{0}; };
  auto refused = transcribe_file(stack().engine, speech, o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "not reached");
  EXPECT_TRUE(made);
}

// A diarization-like stage: labels each segment, then relabels in finish().
class CountingStage final : public engine::Stage {
 public:
  explicit CountingStage(int* finished) : finished_(finished) {}
  std::string name() const override { return "counting"; }
  Result<void> process(const segment::Segment& audio, engine::SegmentText& text) override {
    if (audio.samples.empty()) return fail("empty audio");
    text.speaker = "S" + std::to_string(++n_);
    return {};
  }
  Result<void> finish(std::vector<engine::SegmentText>& all) override {
    ++*finished_;
    for (auto& s : all) s.speaker = *s.speaker + "/" + std::to_string(all.size());
    return {};
  }

 private:
  int* finished_;
  int n_ = 0;
};

TEST(Stages, RunOnEverySegmentAndFinishOnce) {
  TempDir dir;
  std::string a = speak(dir.path(), "a", "awb", "good morning");
  std::string gap = make_silence(dir / "gap.wav", 2.0);
  std::string b = speak(dir.path(), "b", "rms", "good night");
  std::string all = concat_wavs({a, gap, b}, dir / "all.wav");
  int finished = 0;
  TranscribeOptions o;
  o.stages.push_back([&](const StageInput&) -> Result<std::unique_ptr<engine::Stage>> {
    return std::make_unique<CountingStage>(&finished);
  });
  auto t = transcribe_file(stack().engine, all, o);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(finished, 1);
  ASSERT_GE(t->segments.size(), 2u);
  for (const auto& s : t->segments) ASSERT_TRUE(s.speaker);
  EXPECT_EQ(*t->segments[0].speaker, "S1/" + std::to_string(t->segments.size()));
  EXPECT_NE(render(*t, Format::json).find("\"speaker\""), std::string::npos);
}

TEST(Cancel, StopTokenEndsTheTranscription) {
  TempDir dir;
  std::string path = speak(dir.path(), "s", "slt", "this will not be finished");
  std::stop_source stop;
  stop.request_stop();
  TranscribeOptions o;
  o.stop = stop.get_token();
  auto t = transcribe_file(stack().engine, path, o);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ECANCELED);
}

// Decoders are not thread-safe: each concurrent session has its own registry model; more
// sessions than slots wait, then fail with EBUSY.
TEST(Engine, OneDecoderPerConcurrentSession) {
  oomguard::MemoryBudget budget(4096 * kMiB);
  oomguard::ModelRegistry registry(budget, oomguard::ModelRegistry::Params{});
  auto params = engine::pocketsphinx_default_params(kModelDir);
  params.max_sessions = 2;
  params.session_wait = std::chrono::milliseconds(50);
  engine::PocketsphinxEngine eng(registry, params);
  EXPECT_GT(eng.memory_cost().to_load_bytes, 0u);

  auto s1 = eng.start({});
  auto s2 = eng.start({});
  ASSERT_TRUE(s1) << s1.error().message;
  ASSERT_TRUE(s2) << s2.error().message;
  auto s3 = eng.start({});
  ASSERT_FALSE(s3);
  EXPECT_EQ(s3.error().code, EBUSY);

  auto models = registry.list();
  ASSERT_EQ(models.size(), 2u);
  std::set<std::string> names;
  for (const auto& m : models) {
    names.insert(m.name);
    // Measured RSS of a decoder: 91 MiB on x86-64; anything far off means a broken measure.
    EXPECT_GT(m.bytes, 40 * kMiB) << m.name;
    EXPECT_LT(m.bytes, 400 * kMiB) << m.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"pocketsphinx/en-us#0", "pocketsphinx/en-us#1"}));

  // Two threads decode at once, each on its own decoder.
  TempDir dir;
  std::string wav = speak(dir.path(), "s", "slt", "good morning");
  std::vector<std::int16_t> pcm;
  {
    auto dec = media::AudioDecoder::open(wav);
    ASSERT_TRUE(dec) << dec.error().message;
    std::array<std::int16_t, 4096> buf{};
    for (;;) {
      auto n = dec->read(buf);
      ASSERT_TRUE(n);
      if (*n == 0) break;
      pcm.insert(pcm.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
    }
  }
  segment::Segment seg{0, pcm};
  std::string r1, r2;
  std::thread t1([&] { r1 = (*s1)->transcribe(seg).value_or(engine::SegmentText{}).text; });
  std::thread t2([&] { r2 = (*s2)->transcribe(seg).value_or(engine::SegmentText{}).text; });
  t1.join();
  t2.join();
  EXPECT_EQ(r1, r2);
  EXPECT_GE(word_overlap("good morning", r1), 0.5) << r1;

  // A freed slot is reused without loading again.
  s1->reset();
  EXPECT_EQ(eng.memory_cost().to_load_bytes, 0u);
  auto s4 = eng.start({});
  ASSERT_TRUE(s4) << s4.error().message;
  EXPECT_EQ(registry.list().size(), 2u);
}

TEST(Engine, UnsupportedLanguageAndMissingModelAreClearErrors) {
  oomguard::MemoryBudget budget(1024 * kMiB);
  oomguard::ModelRegistry registry(budget, oomguard::ModelRegistry::Params{});
  engine::PocketsphinxEngine eng(registry, engine::pocketsphinx_default_params(kModelDir));
  auto de = eng.start({.language = "de"});
  ASSERT_FALSE(de);
  EXPECT_EQ(de.error().message, "language 'de' is not supported by pocketsphinx (supported: en)");

  engine::PocketsphinxEngine missing(registry, engine::pocketsphinx_default_params("/nonexistent/model"));
  auto m = missing.start({});
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("/nonexistent/model"), std::string::npos) << m.error().message;
  EXPECT_TRUE(registry.list().empty());
}

TEST(Engine, ADecoderThatDoesNotFitIsRefused) {
  oomguard::MemoryBudget budget(32 * kMiB);  // less than one decoder
  oomguard::ModelRegistry registry(budget, oomguard::ModelRegistry::Params{});
  engine::PocketsphinxEngine eng(registry, engine::pocketsphinx_default_params(kModelDir));
  auto s = eng.start({});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ENOMEM) << s.error().message;
  // The slot was given back: a later attempt fails the same way, not with EBUSY.
  auto again = eng.start({});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ENOMEM);
}

}  // namespace
}  // namespace soroka::pipeline
