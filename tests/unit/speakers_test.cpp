// Speakers in transcripts: assign_speakers by table, the diarization stage with a fake
// Diarizer (memory reserved, shed reached, turns assigned), and every format with speakers.
#include "pipeline/speakers.h"

#include <gtest/gtest.h>

#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pipeline/formats.h"
#include "support/format_validators.h"

namespace soroka::pipeline {
namespace {

using diarize::Turn;
using engine::SegmentText;
using engine::Word;

Word w(double a, double b, std::string t) { return Word{a, b, std::move(t), std::nullopt}; }

SegmentText seg(double a, double b, std::string text, std::vector<Word> words = {}) {
  SegmentText s;
  s.start_s = a;
  s.end_s = b;
  s.text = std::move(text);
  s.words = std::move(words);
  return s;
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
    int added = 0, finished = 0, shed = 0;
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
  void shed() override { ++log_->shed; }

 private:
  std::vector<Turn> turns_;
  Log* log_;
};

struct Rig {
  oomguard::MemoryBudget budget{std::numeric_limits<std::uint64_t>::max()};
  oomguard::ModelRegistry registry{budget, {}};
  ShedPoint shed;
  FakeDiarizer::Log log;
  DiarizeSetup setup(std::vector<Turn> turns) {
    DiarizeSetup s;
    s.registry = &registry;
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
  auto models = rig.registry.list();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, kDiarizerModel);
  EXPECT_EQ(models[0].bytes, diarize::working_bytes(60));
  EXPECT_EQ(models[0].users, 1u);

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

  stage->reset();  // the stage gone: not shed any more, its memory idle (sheddable)
  EXPECT_EQ(rig.shed.size(), 0u);
  EXPECT_EQ(rig.registry.list()[0].users, 0u);
  EXPECT_EQ(rig.registry.unload_idle(), diarize::working_bytes(60));
}

TEST(DiarizeStage, RefusedWhenTheMemoryIsNotThere) {
  oomguard::MemoryBudget small(1024);
  oomguard::ModelRegistry registry(small, {});
  Rig rig;
  auto setup = rig.setup(kAB);
  setup.registry = &registry;
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

// The formats with speakers: a dialogue where the second segment changes speaker midway.
Transcript dialogue() {
  Transcript t;
  t.file = "/tmp/my talk.ogg";
  t.duration_s = 9;
  t.language = "en";
  t.engine = "pocketsphinx";
  t.segments = {seg(0.5, 1.75, "hello world", {w(0.5, 1.0, "hello"), w(1.05, 1.75, "world")}),
                seg(2.0, 5.0, "fine thanks and you",
                    {w(2.0, 2.5, "fine"), w(2.6, 3.0, "thanks"), w(3.9, 4.2, "and"), w(4.3, 5.0, "you")}),
                seg(7.0, 8.0, "good", {w(7.0, 8.0, "good")})};
  assign_speakers(t.segments, {turn(0, 1.9, 0, "Speaker 1"), turn(1.9, 3.5, 1, "Anna <A&B>"),
                               turn(3.5, 6, 0, "Speaker 1"), turn(6.5, 9, 0, "Speaker 1")});
  return t;
}

std::string render(const Transcript& t, Format f) {
  std::ostringstream out;
  write(out, t, f);
  return out.str();
}

TEST(SpeakerFormats, Txt) {
  EXPECT_EQ(render(dialogue(), Format::txt),
            "Speaker 1: hello world\nAnna <A&B>: fine thanks\nSpeaker 1: and you good\n");
}

TEST(SpeakerFormats, Srt) {
  const std::string srt = render(dialogue(), Format::srt);
  EXPECT_EQ(srt,
            "1\n00:00:00,500 --> 00:00:01,750\n[Speaker 1] hello world\n\n"
            "2\n00:00:02,000 --> 00:00:03,000\n[Anna <A&B>] fine thanks\n\n"
            "3\n00:00:03,900 --> 00:00:05,000\n[Speaker 1] and you\n\n"
            "4\n00:00:07,000 --> 00:00:08,000\n[Speaker 1] good\n");
  EXPECT_EQ(test::validate_srt(srt, 9), std::vector<std::string>{});
}

TEST(SpeakerFormats, VttVoiceSpansEscaped) {
  const std::string vtt = render(dialogue(), Format::vtt);
  EXPECT_EQ(vtt,
            "WEBVTT\n"
            "\n00:00:00.500 --> 00:00:01.750\n<v Speaker 1>hello world\n"
            "\n00:00:02.000 --> 00:00:03.000\n<v Anna &lt;A&amp;B&gt;>fine thanks\n"
            "\n00:00:03.900 --> 00:00:05.000\n<v Speaker 1>and you\n"
            "\n00:00:07.000 --> 00:00:08.000\n<v Speaker 1>good\n");
  EXPECT_EQ(test::validate_vtt(vtt, 9), std::vector<std::string>{});
}

TEST(SpeakerFormats, JsonSpeakerOnSegmentsAndWords) {
  const std::string text = render(dialogue(), Format::json);
  EXPECT_EQ(test::validate_json(text, 9), std::vector<std::string>{});
  auto j = nlohmann::json::parse(text);
  ASSERT_EQ(j["segments"].size(), 4u);
  EXPECT_EQ(j["segments"][1]["speaker"], "Anna <A&B>");
  EXPECT_EQ(j["segments"][1]["text"], "fine thanks");
  for (const auto& s : j["segments"])
    for (const auto& word : s["words"]) EXPECT_EQ(word["speaker"], s["speaker"]);
}

TEST(SpeakerFormats, RttmOneLinePerTurn) {
  const std::string rttm = render(dialogue(), Format::rttm);
  // "and you" (to 5.0) and "good" (from 7.0) are one speaker, but 2 s apart: two lines.
  EXPECT_EQ(rttm,
            "SPEAKER my_talk 1 0.500 1.250 <NA> <NA> Speaker_1 <NA> <NA>\n"
            "SPEAKER my_talk 1 2.000 1.000 <NA> <NA> Anna_<A&B> <NA> <NA>\n"
            "SPEAKER my_talk 1 3.900 1.100 <NA> <NA> Speaker_1 <NA> <NA>\n"
            "SPEAKER my_talk 1 7.000 1.000 <NA> <NA> Speaker_1 <NA> <NA>\n");
  EXPECT_EQ(test::validate_rttm(rttm, 9), std::vector<std::string>{});
}

TEST(SpeakerFormats, RttmTokens) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"Speaker 1", "Speaker_1"}, {"Anna", "Anna"}, {"", "<NA>"}, {"a\tb\nc", "a_b_c"}, {"Ёлка 2", "Ёлка_2"}};
  for (const auto& [in, want] : table) EXPECT_EQ(rttm_token(in), want) << in;
}

TEST(SpeakerFormats, WithoutSpeakersNothingChanges) {
  Transcript t = dialogue();
  for (auto& s : t.segments) s.speaker.reset();
  EXPECT_EQ(render(t, Format::txt), "hello world\nfine thanks\nand you\ngood\n");
  EXPECT_EQ(render(t, Format::srt).find('['), std::string::npos);
  EXPECT_EQ(render(t, Format::vtt).find("<v"), std::string::npos);
  EXPECT_EQ(render(t, Format::json).find("speaker"), std::string::npos);
  EXPECT_EQ(render(t, Format::rttm), "");
}

TEST(SpeakerFormats, RttmValidatorCatchesBrokenLines) {
  EXPECT_FALSE(test::validate_rttm("SPEAKER f 1 0.0 1.0 <NA> <NA> A <NA>\n", 9).empty());
  EXPECT_FALSE(test::validate_rttm("SPEAKER f 1 5.0 6.0 <NA> <NA> A <NA> <NA>\n", 9).empty());
  EXPECT_FALSE(test::validate_rttm("SPEAKER f 1 2.0 1.0 <NA> <NA> A <NA> <NA>\n"
                                   "SPEAKER f 1 1.0 1.0 <NA> <NA> B <NA> <NA>\n", 9).empty());
  EXPECT_FALSE(test::validate_rttm("SPEAKER f 1 0.0 1.0 <NA> <NA> A <NA> <NA>", 9).empty());
}

}  // namespace
}  // namespace soroka::pipeline
