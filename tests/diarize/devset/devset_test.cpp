// The diarizer on the generated dev set, through the Diarizer interface (decode, segment,
// add(), finish()): a loose DER ceiling and the right speaker count on every dialogue, known
// speakers named, the count bounds honoured.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "diarize/der.h"
#include "support/diarize_run.h"
#include "util/file_reader.h"

namespace soroka::diarize {
namespace {

const std::string kDir = SOROKA_DEVSET_DIR;

struct Dialogue {
  std::string name;
  int speakers = 0;
};

std::vector<Dialogue> dialogues() {
  std::vector<Dialogue> out;
  std::ifstream in(kDir + "/devset.tsv");
  Dialogue d;
  double seconds = 0;
  while (in >> d.name >> d.speakers >> seconds) out.push_back(d);
  return out;
}

int count_speakers(const std::vector<Turn>& turns) {
  std::set<int> s;
  for (const auto& t : turns) s.insert(t.speaker);
  return static_cast<int>(s.size());
}

DerScore score(const std::string& name, const std::vector<Turn>& turns) {
  auto ref_text = read_file(kDir + "/" + name + ".rttm");
  EXPECT_TRUE(ref_text);
  auto ref = parse_rttm(ref_text ? *ref_text : "");
  auto hyp = parse_rttm(test::to_rttm(turns, name));
  EXPECT_TRUE(ref && hyp);
  return score_der(ref ? *ref : std::vector<RttmTurn>{}, hyp ? *hyp : std::vector<RttmTurn>{});
}

// 15 % per dialogue: loose against the 0-12 % measured (docs/diarization.md), tight enough
// that a lost or split speaker (20-60 %) fails. The closest is the method's weak spot, three
// women reading 1-4 s telephone prompts: 11.9 % on this seed.
constexpr double kDerCeiling = 0.15;

TEST(DiarizeDevset, EveryDialogueUnderTheCeilingWithTheRightCount) {
  auto set = dialogues();
  ASSERT_GE(set.size(), 12u) << "dev set missing in " << kDir;
  double errors = 0, scored = 0;
  for (const auto& d : set) {
    auto run = test::diarize_file(kDir + "/" + d.name + ".wav", Params{});
    ASSERT_TRUE(run) << d.name << ": " << run.error().message;
    DerScore s = score(d.name, run->turns);
    EXPECT_LE(s.der(), kDerCeiling) << d.name;
    EXPECT_EQ(count_speakers(run->turns), d.speakers) << d.name;
    errors += s.missed_s + s.false_alarm_s + s.confusion_s;
    scored += s.scored_s;
    std::printf("%-22s DER %5.2f %%  speakers %d/%d\n", d.name.c_str(), 100 * s.der(),
                count_speakers(run->turns), d.speakers);
  }
  std::printf("overall DER %.2f %%\n", 100 * errors / scored);
}

TEST(DiarizeDevset, CountBoundsAreHonoured) {
  auto exact = test::diarize_file(kDir + "/f4_mixed_noise.wav", Params{.speakers = 2});
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(count_speakers(exact->turns), 2);
  auto at_least = test::diarize_file(kDir + "/f1_slt.wav", Params{.min_speakers = 2});
  ASSERT_TRUE(at_least) << at_least.error().message;
  EXPECT_EQ(count_speakers(at_least->turns), 2);
  auto at_most = test::diarize_file(kDir + "/f3_slt_awb_kal16.wav", Params{.max_speakers = 2});
  ASSERT_TRUE(at_most) << at_most.error().message;
  EXPECT_LE(count_speakers(at_most->turns), 2);
}

TEST(DiarizeDevset, KnownSpeakersAreNamedAndOthersNumbered) {
  // slt and kal16 are known; the dialogue is slt and awb: slt gets her name, awb stays
  // "Speaker 1", and kal16, who never speaks, names nobody.
  Params p;
  for (const char* v : {"slt", "kal16"}) {
    auto clip = test::decode_all(kDir + "/known/" + v + ".wav");
    ASSERT_TRUE(clip) << clip.error().message;
    auto known = known_speaker(v == std::string("slt") ? "Anna" : "Boris", *clip, 16000);
    ASSERT_TRUE(known) << known.error().message;
    p.known.push_back(std::move(*known));
  }
  auto run = test::diarize_file(kDir + "/f2_slt_awb.wav", p);
  ASSERT_TRUE(run) << run.error().message;
  std::set<std::string> names;
  for (const auto& t : run->turns) names.insert(t.name);
  EXPECT_EQ(names, (std::set<std::string>{"Anna", "Speaker 1"}));
  // Every turn named Anna lies in slt's reference speech.
  auto ref = parse_rttm(*read_file(kDir + "/f2_slt_awb.rttm"));
  ASSERT_TRUE(ref);
  double anna = 0, anna_on_slt = 0;
  for (const auto& t : run->turns) {
    if (t.name != "Anna") continue;
    anna += t.end_s - t.start_s;
    for (const auto& r : *ref)
      if (r.speaker == "slt")
        anna_on_slt += std::max(0.0, std::min(t.end_s, r.start_s + r.dur_s) -
                                         std::max(t.start_s, r.start_s));
  }
  EXPECT_GT(anna_on_slt, 0.8 * anna);
  EXPECT_LE(score("f2_slt_awb", run->turns).der(), kDerCeiling);
  // The LibriVox reader is the voice nearest to kal16's clip (1.54, over the threshold of 1;
  // known.h): nobody in that dialogue takes the name.
  Params far;
  auto kal16 = test::decode_all(kDir + "/known/kal16.wav");
  ASSERT_TRUE(kal16);
  auto boris = known_speaker("Boris", *kal16, 16000);
  ASSERT_TRUE(boris) << boris.error().message;
  far.known.push_back(std::move(*boris));
  auto other = test::diarize_file(kDir + "/h2_librivox_slt.wav", far);
  ASSERT_TRUE(other) << other.error().message;
  for (const auto& t : other->turns) EXPECT_NE(t.name, "Boris") << t.start_s;
}

}  // namespace
}  // namespace soroka::diarize
