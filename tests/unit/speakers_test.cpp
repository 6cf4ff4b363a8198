// Speakers in transcripts: assign_speakers by table, and the diarization stage with a fake
// Diarizer (memory reserved per input and given back, shed reached, turns assigned, the input
// read again when it is a regular file). The formats: formats_test.cpp.
#include "pipeline/speakers.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>


namespace soroka::pipeline {
namespace {

using diarize::Turn;
using engine::SegmentText;
using engine::Word;

Word w(double a, double b, std::string t) { return Word{a, b, std::move(t), std::nullopt}; }

SegmentText seg(double a, double b, std::string text, std::vector<Word> words = {}) {
  return {a, b, std::move(text), std::move(words), std::nullopt};
}

Turn turn(double a, double b, int id, std::string name) { return Turn{a, b, id, std::move(name)}; }

// What a segment came out as: times, text, speaker, its words' texts.
struct Part {
  double start_s, end_s;
  std::string text, speaker;
  std::vector<std::string> words;
};

std::vector<Part> parts(const std::vector<SegmentText>& segs) {
  std::vector<Part> out;
  for (const auto& s : segs) {
    Part p{s.start_s, s.end_s, s.text, s.speaker.value_or("<none>"), {}};
    for (const auto& x : s.words) p.words.push_back(x.text);
    out.push_back(std::move(p));
  }
  return out;
}

struct Case {
  const char* name;
  std::vector<SegmentText> in;
  std::vector<Turn> turns;
  std::vector<Part> want;
};

const std::vector<Turn> kAB = {turn(0, 2.0, 0, "Speaker 1"), turn(2.0, 5.0, 1, "Speaker 2")};

TEST(AssignSpeakers, Table) {
  const std::vector<Case> cases = {
      {"one speaker per segment, no split",
       {seg(0.1, 1.5, "hello there", {w(0.1, 0.6, "hello"), w(0.7, 1.5, "there")}),
        seg(2.5, 4.0, "fine thanks", {w(2.5, 3.0, "fine"), w(3.1, 4.0, "thanks")})},
       kAB,
       {{0.1, 1.5, "hello there", "Speaker 1", {"hello", "there"}},
        {2.5, 4.0, "fine thanks", "Speaker 2", {"fine", "thanks"}}}},
      {"a change inside a segment splits it at the nearest word boundary",
       {seg(0.0, 4.0, "a b c d", {w(0.2, 0.9, "a"), w(1.0, 1.9, "b"), w(2.1, 3.0, "c"), w(3.1, 3.9, "d")})},
       kAB,
       {{0.0, 1.9, "a b", "Speaker 1", {"a", "b"}}, {2.1, 4.0, "c d", "Speaker 2", {"c", "d"}}}},
      {"a word across the change goes to the turn it overlaps most",
       {seg(1.0, 3.0, "x y z", {w(1.0, 1.5, "x"), w(1.6, 2.3, "y"), w(2.4, 3.0, "z")})},
       kAB,
       {{1.0, 2.3, "x y", "Speaker 1", {"x", "y"}}, {2.4, 3.0, "z", "Speaker 2", {"z"}}}},
      {"two changes in one segment give three parts",
       {seg(0.0, 6.0, "p q r", {w(0.5, 1.5, "p"), w(2.5, 3.5, "q"), w(4.5, 5.5, "r")})},
       {turn(0, 2, 0, "Anna"), turn(2, 4, 1, "Speaker 1"), turn(4, 6, 0, "Anna")},
       {{0.0, 1.5, "p", "Anna", {"p"}}, {2.5, 3.5, "q", "Speaker 1", {"q"}}, {4.5, 6.0, "r", "Anna", {"r"}}}},
      {"a word in a gap between turns goes to the nearest",
       {seg(0.0, 6.0, "u v", {w(0.5, 1.0, "u"), w(3.6, 3.9, "v")})},
       {turn(0, 1.2, 0, "Speaker 1"), turn(4.0, 6.0, 1, "Speaker 2")},
       {{0.0, 1.0, "u", "Speaker 1", {"u"}}, {3.6, 6.0, "v", "Speaker 2", {"v"}}}},
      {"words after the last turn go to it",
       {seg(6.0, 7.0, "late", {w(6.0, 7.0, "late")})},
       kAB,
       {{6.0, 7.0, "late", "Speaker 2", {"late"}}}},
      {"without word timings: the turn overlapping most, never split",
       {seg(1.0, 4.0, "no words here")},
       kAB,
       {{1.0, 4.0, "no words here", "Speaker 2", {}}}},
      {"without word timings in a gap: the nearest turn",
       {seg(10.0, 11.0, "far")},
       kAB,
       {{10.0, 11.0, "far", "Speaker 2", {}}}},
      {"no turns: unchanged",
       {seg(0.0, 1.0, "same", {w(0, 1, "same")})},
       {},
       {{0.0, 1.0, "same", "<none>", {"same"}}}},
      {"same name in consecutive turns is one speaker: no split",
       {seg(0.0, 4.0, "m n", {w(0.5, 1.5, "m"), w(2.5, 3.5, "n")})},
       {turn(0, 2, 0, "Speaker 1"), turn(2, 4, 0, "Speaker 1")},
       {{0.0, 4.0, "m n", "Speaker 1", {"m", "n"}}}},
  };
  for (const auto& c : cases) {
    auto segs = c.in;
    assign_speakers(segs, c.turns);
    auto got = parts(segs);
    ASSERT_EQ(got.size(), c.want.size()) << c.name;
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE(std::string(c.name) + ", part " + std::to_string(i));
      EXPECT_DOUBLE_EQ(got[i].start_s, c.want[i].start_s);
      EXPECT_DOUBLE_EQ(got[i].end_s, c.want[i].end_s);
      EXPECT_EQ(got[i].text, c.want[i].text);
      EXPECT_EQ(got[i].speaker, c.want[i].speaker);
      EXPECT_EQ(got[i].words, c.want[i].words);
    }
  }
}

// Many words, many turns: the pass stays linear and every word lands in its own turn.
TEST(AssignSpeakers, AlternatingTurnsEveryWordRight) {
  std::vector<Turn> turns;
  SegmentText s = seg(0, 1000, "");
  for (int i = 0; i < 1000; ++i) {
    turns.push_back(turn(i, i + 1, i % 2, i % 2 ? "B" : "A"));
    s.words.push_back(w(i + 0.1, i + 0.9, std::to_string(i)));
  }
  std::vector<SegmentText> segs{s};
  assign_speakers(segs, turns);
  ASSERT_EQ(segs.size(), 1000u);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    EXPECT_EQ(*segs[i].speaker, i % 2 ? "B" : "A");
    EXPECT_EQ(segs[i].text, std::to_string(i));
  }
}

// A test double: records what it was fed, returns the turns it was given.
class FakeDiarizer final : public diarize::Diarizer {
 public:
  struct Log {
    int added = 0, finished = 0, shed = 0, resegmented = 0;
    std::size_t replayed = 0;  // samples the second pass read
    diarize::Params params;
  };
  FakeDiarizer(std::vector<Turn> turns, Log* log) : turns_(std::move(turns)), log_(log) {}
  Result<void> add(const segment::Segment&) override {
    ++log_->added;
    return {};
  }
  Result<std::vector<Turn>> finish() override {
    ++log_->finished;
    return turns_;
  }
  Result<std::vector<Turn>> finish_resegmented(diarize::AudioReplay& input) override {
    ++log_->resegmented;
    std::vector<std::int16_t> buf(4096);
    for (;;) {
      auto n = input.read(buf);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      log_->replayed += *n;
    }
    return turns_;
  }
  void shed() override { ++log_->shed; }

 private:
  std::vector<Turn> turns_;
  Log* log_;
};

struct Rig {
  oomguard::MemoryBudget budget{std::numeric_limits<std::uint64_t>::max()};
  ShedPoint shed;
  FakeDiarizer::Log log;
  DiarizeSetup setup(std::vector<Turn> turns) {
    DiarizeSetup s;
    s.budget = &budget;
    s.shed = &shed;
    s.params.speakers = 2;
    s.make = [this, turns](const diarize::Params& p) -> Result<std::unique_ptr<diarize::Diarizer>> {
      log.params = p;
      return std::make_unique<FakeDiarizer>(turns, &log);
    };
    return s;
  }
};

TEST(DiarizeStage, ReservesFeedsShedsAndAssigns) {
  Rig rig;
  auto stage = make_diarize_stage(rig.setup(kAB), 60);
  ASSERT_TRUE(stage) << stage.error().message;
  EXPECT_EQ(rig.log.params.speakers, 2);
  auto held = rig.budget.list();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].label, kDiarizerLabel);
  EXPECT_EQ(held[0].bytes, diarize::working_bytes(60));

  segment::Segment audio;
  audio.samples.assign(16000, 0);
  std::vector<SegmentText> all = {seg(0.0, 4.0, "a b", {w(0.5, 1.5, "a"), w(2.5, 3.5, "b")})};
  ASSERT_TRUE((*stage)->process(audio, all[0]));
  ASSERT_TRUE((*stage)->process(audio, all[0]));
  EXPECT_EQ(rig.log.added, 2);
  rig.shed.shed();
  EXPECT_EQ(rig.log.shed, 1);
  ASSERT_TRUE((*stage)->finish(all));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(*all[0].speaker, "Speaker 1");
  EXPECT_EQ(*all[1].speaker, "Speaker 2");

  stage->reset();  // the stage gone (the job over): not shed any more, its memory given back
  EXPECT_EQ(rig.shed.size(), 0u);
  EXPECT_EQ(rig.budget.reserved(), 0u);
}

// Each file reserves what its own length needs: a longer file after a shorter one is not held
// to the shorter one's figure.
TEST(DiarizeStage, EachFileReservesItsOwnSize) {
  Rig rig;
  TranscribeOptions opts;
  auto setup = rig.setup(kAB);
  ASSERT_TRUE(add_diarization(SpeakerRequest{.speakers = 2}, setup, opts));
  ASSERT_EQ(opts.stages.size(), 1u);
  ASSERT_TRUE(opts.stage_bytes);
  const double kShort = 60, kLong = 3 * 3600;
  ASSERT_GT(diarize::working_bytes(kLong), diarize::working_bytes(kShort));
  for (double secs : {kShort, kLong, kShort}) {
    SCOPED_TRACE(secs);
    auto stage = opts.stages[0](StageInput{secs, "", {}});
    ASSERT_TRUE(stage) << stage.error().message;
    EXPECT_EQ(rig.budget.reserved(), diarize::working_bytes(secs));
    EXPECT_EQ(opts.stage_bytes(secs), diarize::working_bytes(secs)) << "admission's figure is the same";
    stage->reset();
    EXPECT_EQ(rig.budget.reserved(), 0u) << "given back when the file is done";
  }
}

TEST(DiarizeStage, AddDiarizationRefusesTheRequestsTheDiarizerWould) {
  Rig rig;
  TranscribeOptions opts;
  auto r = add_diarization(SpeakerRequest{.max_speakers = 1, .known = {{"A", "a.ogg"}, {"B", "b.ogg"}}},
                           rig.setup(kAB), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::invalid_request);
  EXPECT_EQ(r.error().message, "2 known speakers are more than max_speakers (1)");
  EXPECT_TRUE(opts.stages.empty());
}

TEST(DiarizeStage, RefusedWhenTheMemoryIsNotThere) {
  oomguard::MemoryBudget small(1024);
  Rig rig;
  auto setup = rig.setup(kAB);
  setup.budget = &small;
  auto stage = make_diarize_stage(setup, 60);
  ASSERT_FALSE(stage);
  EXPECT_EQ(stage.error().code, ENOMEM);
  EXPECT_EQ(rig.log.params.speakers, 0) << "the diarizer is not made without its memory";
}

TEST(DiarizeStage, ItsRefusalOfParamsReachesTheCaller) {
  Rig rig;
  auto setup = rig.setup(kAB);
  setup.make = [](const diarize::Params&) -> Result<std::unique_ptr<diarize::Diarizer>> {
    return fail(FailureKind::invalid_request, "min_speakers is above max_speakers", EINVAL);
  };
  auto stage = make_diarize_stage(setup, 0);
  ASSERT_FALSE(stage);
  EXPECT_EQ(stage.error().kind, FailureKind::invalid_request);
}

// A 16 kHz mono 16-bit WAV of `samples` samples of a quiet tone.
void write_wav(const std::string& path, std::uint32_t samples) {
  std::ofstream f(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  f << "RIFF";
  u32(36 + 2 * samples);
  f << "WAVEfmt ";
  u32(16), u16(1), u16(1), u32(16000), u32(32000), u16(2), u16(16);
  f << "data";
  u32(2 * samples);
  for (std::uint32_t i = 0; i < samples; ++i) u16(static_cast<std::uint16_t>(i % 64 * 100));
}

TEST(DiarizeStage, ReadsARegularFileAgainButNotAFifoOrNothing) {
  char tmpl[] = "/tmp/soroka-speakers-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, wav = dir + "/in.wav", fifo = dir + "/in.fifo";
  write_wav(wav, 16000);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  struct Case {
    std::string path;
    int resegmented, finished;
  };
  for (const auto& c : {Case{wav, 1, 0}, Case{fifo, 0, 1}, Case{"", 0, 1}, Case{dir + "/gone.wav", 0, 1}}) {
    Rig rig;
    auto stage = make_diarize_stage(rig.setup(kAB), 1, c.path);
    ASSERT_TRUE(stage) << stage.error().message;
    std::vector<SegmentText> all = {seg(0.0, 4.0, "a b", {w(0.5, 1.5, "a"), w(2.5, 3.5, "b")})};
    ASSERT_TRUE((*stage)->finish(all)) << c.path;
    EXPECT_EQ(rig.log.resegmented, c.resegmented) << c.path;
    EXPECT_EQ(rig.log.finished, c.finished) << c.path;
    if (c.resegmented) EXPECT_EQ(rig.log.replayed, 16000u) << "the whole input, from its start";
    ASSERT_EQ(all.size(), 2u) << c.path;
    EXPECT_EQ(*all[1].speaker, "Speaker 2");
  }
  // The second reading is bounded as the first was: a limit the input is over stops it.
  Rig rig;
  auto stage = make_diarize_stage(rig.setup(kAB), 1, wav, media::DecodeLimits{.max_duration_s = 0.5});
  ASSERT_TRUE(stage) << stage.error().message;
  std::vector<SegmentText> all = {seg(0.0, 1.0, "a", {w(0.2, 0.8, "a")})};
  ASSERT_TRUE((*stage)->finish(all));
  EXPECT_EQ(rig.log.resegmented, 0);
  EXPECT_EQ(rig.log.finished, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace soroka::pipeline
