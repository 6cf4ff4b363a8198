// Transcript writers (txt, srt, vtt, json, rttm; with and without speakers) checked against the format rules, and the
// validators themselves checked against broken documents.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/pocketsphinx_engine.h"
#include "pipeline/formats.h"
#include "pipeline/speakers.h"
#include "support/format_validators.h"

namespace soroka::pipeline {
namespace {

using engine::SegmentText;
using engine::Word;
using test::validate_json;
using test::validate_srt;
using test::validate_rttm;
using test::validate_vtt;

std::string render(const Transcript& t, Format f) {
  std::ostringstream out;
  write(out, t, f);
  return out.str();
}

SegmentText seg(double a, double b, std::string text, std::vector<Word> words = {}) {
  SegmentText s;
  s.start_s = a;
  s.end_s = b;
  s.text = std::move(text);
  s.words = std::move(words);
  return s;
}

// Two short segments with word timings, as pocketsphinx gives them.
Transcript small() {
  Transcript t;
  t.file = "talk.ogg";
  t.duration_s = 6.5;
  t.language = "en";
  t.engine = "pocketsphinx";
  t.segments.push_back(seg(0.5, 1.75, "hello world",
                           {{0.5, 1.0, "hello", 0.9}, {1.05, 1.75, "world", std::nullopt}}));
  t.segments.push_back(seg(3.0, 4.25, "go forward", {{3.0, 3.4, "go", 1.0}, {3.5, 4.25, "forward", 0.5}}));
  return t;
}

// A long segment: 40 words over 20 s, 0.5 s each.
Transcript long_segment() {
  Transcript t;
  t.file = "long.wav";
  t.duration_s = 21;
  t.language = "en";
  t.engine = "pocketsphinx";
  SegmentText s;
  s.start_s = 0.5;
  for (int i = 0; i < 40; ++i) {
    Word w;
    w.start_s = 0.5 + i * 0.5;
    w.end_s = w.start_s + 0.45;
    w.text = "word" + std::to_string(i);
    if (!s.text.empty()) s.text += ' ';
    s.text += w.text;
    s.words.push_back(w);
  }
  s.end_s = s.words.back().end_s;
  t.segments.push_back(s);
  return t;
}

TEST(Timestamp, SyntaxAndRollover) {
  EXPECT_EQ(format_timestamp(0, ','), "00:00:00,000");
  EXPECT_EQ(format_timestamp(3'723'004, ','), "01:02:03,004");
  EXPECT_EQ(format_timestamp(3'723'004, '.'), "01:02:03.004");
  EXPECT_EQ(format_timestamp(59'999, '.'), "00:00:59.999");
  EXPECT_EQ(format_timestamp(360'000'000, ','), "100:00:00,000");  // hours do not wrap
  EXPECT_EQ(format_timestamp(-5, ','), "00:00:00,000");
  EXPECT_EQ(test::parse_timestamp("01:02:03,004", ','), 3'723'004);
  EXPECT_EQ(test::parse_timestamp("02:03.004", '.', true), 123'004);
  EXPECT_FALSE(test::parse_timestamp("02:03.004", '.', false));
  EXPECT_FALSE(test::parse_timestamp("1:02:03,004", ','));
  EXPECT_FALSE(test::parse_timestamp("01:02:03.004", ','));
  EXPECT_FALSE(test::parse_timestamp("01:60:03,004", ','));
}

TEST(Formats, ParseAndName) {
  for (Format f : {Format::txt, Format::srt, Format::vtt, Format::json, Format::rttm})
    EXPECT_EQ(parse_format(to_string(f)), f);
  EXPECT_FALSE(parse_format("SRT"));
  EXPECT_FALSE(parse_format("doc"));
}

TEST(Formats, TxtIsOneLinePerSegment) {
  EXPECT_EQ(render(small(), Format::txt), "hello world\ngo forward\n");
  EXPECT_EQ(small().text(), "hello world go forward");
}

TEST(Formats, SrtExactAndValid) {
  const std::string srt = render(small(), Format::srt);
  EXPECT_EQ(srt,
            "1\n00:00:00,500 --> 00:00:01,750\nhello world\n"
            "\n"
            "2\n00:00:03,000 --> 00:00:04,250\ngo forward\n");
  EXPECT_EQ(validate_srt(srt, 6.5), std::vector<std::string>{});
}

TEST(Formats, VttExactAndValid) {
  const std::string vtt = render(small(), Format::vtt);
  EXPECT_EQ(vtt,
            "WEBVTT\n"
            "\n00:00:00.500 --> 00:00:01.750\nhello world\n"
            "\n00:00:03.000 --> 00:00:04.250\ngo forward\n");
  EXPECT_EQ(validate_vtt(vtt, 6.5), std::vector<std::string>{});
}

TEST(Formats, JsonFieldsAndValid) {
  Transcript t = small();
  t.segments[1].speaker = "S1";
  const std::string text = render(t, Format::json);
  EXPECT_EQ(validate_json(text, 6.5), std::vector<std::string>{});
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["file"], "talk.ogg");
  EXPECT_EQ(j["duration_s"], 6.5);
  EXPECT_EQ(j["language"], "en");
  EXPECT_EQ(j["engine"], "pocketsphinx");
  EXPECT_EQ(j["text"], "hello world go forward");
  ASSERT_EQ(j["segments"].size(), 2u);
  EXPECT_EQ(j["segments"][0]["start"], 0.5);
  EXPECT_EQ(j["segments"][0]["end"], 1.75);
  EXPECT_EQ(j["segments"][0]["words"][1]["word"], "world");
  EXPECT_EQ(j["segments"][0]["words"][0]["confidence"], 0.9);
  EXPECT_FALSE(j["segments"][0]["words"][1].contains("confidence"));
  EXPECT_FALSE(j["segments"][0].contains("speaker"));
  EXPECT_EQ(j["segments"][1]["speaker"], "S1");
  // The documented key order.
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  auto ordered = nlohmann::ordered_json::parse(text);
  keys.clear();
  for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"file", "duration_s", "language", "engine", "text",
                                            "segments"}));
}

TEST(Formats, JsonWithoutWordTimingsOmitsWords) {
  Transcript t = small();
  for (auto& s : t.segments) s.words.clear();
  auto j = nlohmann::json::parse(render(t, Format::json));
  EXPECT_FALSE(j["segments"][0].contains("words"));
  EXPECT_EQ(validate_json(j.dump(), 6.5), std::vector<std::string>{});
}

TEST(Formats, EmptyTranscriptIsValidEverywhere) {
  Transcript t;
  t.file = "silence.wav";
  t.duration_s = 60;
  EXPECT_EQ(render(t, Format::txt), "");
  EXPECT_EQ(render(t, Format::srt), "");
  EXPECT_EQ(render(t, Format::vtt), "WEBVTT\n");
  EXPECT_EQ(validate_srt(render(t, Format::srt), 60), std::vector<std::string>{});
  EXPECT_EQ(validate_vtt(render(t, Format::vtt), 60), std::vector<std::string>{});
  EXPECT_EQ(validate_json(render(t, Format::json), 60), std::vector<std::string>{});
}

TEST(Cues, LongSegmentsAreCutAtWordsIntoReadableCues) {
  Transcript t = long_segment();
  CueParams p;
  auto cues = make_cues(t, p);
  ASSERT_GT(cues.size(), 3u);
  std::string rejoined;
  for (const auto& c : cues) {
    EXPECT_LE(c.end_ms - c.start_ms, 7000) << c.text;
    std::size_t lines = 1, line_len = 0;
    for (char ch : c.text) {
      if (ch == '\n') {
        ++lines;
        line_len = 0;
      } else {
        EXPECT_LE(++line_len, p.max_line_chars) << c.text;
      }
    }
    EXPECT_LE(lines, p.max_lines) << c.text;
    std::string flat = c.text;
    std::replace(flat.begin(), flat.end(), '\n', ' ');
    rejoined += (rejoined.empty() ? "" : " ") + flat;
  }
  EXPECT_EQ(rejoined, t.segments[0].text);  // every word once, in order
  std::vector<test::ParsedCue> parsed;
  EXPECT_EQ(validate_srt(render(t, Format::srt), t.duration_s, &parsed), std::vector<std::string>{});
  EXPECT_EQ(parsed.size(), cues.size());
  EXPECT_EQ(validate_vtt(render(t, Format::vtt), t.duration_s), std::vector<std::string>{});
}

TEST(Cues, SegmentsWithoutWordTimingsAreSplitInProportion) {
  Transcript t = long_segment();
  t.segments[0].words.clear();
  auto cues = make_cues(t);
  ASSERT_GT(cues.size(), 3u);
  EXPECT_EQ(cues.front().start_ms, 500);
  EXPECT_EQ(cues.back().end_ms, 20450);
  EXPECT_EQ(validate_srt(render(t, Format::srt), t.duration_s), std::vector<std::string>{});
}

TEST(Cues, BadTimesAreRepairedNotWritten) {
  Transcript t;
  t.file = "odd.wav";
  t.duration_s = 5;
  t.segments.push_back(seg(2.0, 2.0, "zero length"));        // start == end
  t.segments.push_back(seg(1.0, 1.5, "earlier than before"));  // goes back in time
  t.segments.push_back(seg(4.8, 9.0, "past the end"));         // beyond the duration
  t.segments.push_back(seg(7.0, 8.0, "wholly after"));         // starts after the end
  t.segments.push_back(seg(-1.0, 0.5, "negative"));
  for (Format f : {Format::srt, Format::vtt}) {
    std::string out = render(t, f);
    auto errors = f == Format::srt ? validate_srt(out, 5) : validate_vtt(out, 5);
    EXPECT_EQ(errors, std::vector<std::string>{}) << out;
  }
}

TEST(Cues, TextCannotBreakTheCueSyntax) {
  Transcript t;
  t.file = "x.wav";
  t.duration_s = 3;
  t.segments.push_back(seg(0.0, 1.0, "a --> b\n\nc & <d>"));
  std::string srt = render(t, Format::srt);
  EXPECT_EQ(validate_srt(srt, 3), std::vector<std::string>{}) << srt;
  std::string vtt = render(t, Format::vtt);
  EXPECT_EQ(validate_vtt(vtt, 3), std::vector<std::string>{}) << vtt;
  EXPECT_NE(vtt.find("c &amp; &lt;d&gt;"), std::string::npos) << vtt;
  EXPECT_EQ(validate_json(render(t, Format::json), 3), std::vector<std::string>{});
}

// The validators must catch what they claim to: each broken document yields an error.
diarize::Turn turn(double a, double b, int id, std::string name) { return {a, b, id, std::move(name)}; }
Word w(double a, double b, std::string t) { return Word{a, b, std::move(t), std::nullopt}; }

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
  EXPECT_EQ(validate_srt(srt, 9), std::vector<std::string>{});
}

TEST(SpeakerFormats, VttVoiceSpansEscaped) {
  const std::string vtt = render(dialogue(), Format::vtt);
  EXPECT_EQ(vtt,
            "WEBVTT\n"
            "\n00:00:00.500 --> 00:00:01.750\n<v Speaker 1>hello world\n"
            "\n00:00:02.000 --> 00:00:03.000\n<v Anna &lt;A&amp;B&gt;>fine thanks\n"
            "\n00:00:03.900 --> 00:00:05.000\n<v Speaker 1>and you\n"
            "\n00:00:07.000 --> 00:00:08.000\n<v Speaker 1>good\n");
  EXPECT_EQ(validate_vtt(vtt, 9), std::vector<std::string>{});
}

TEST(SpeakerFormats, JsonSpeakerOnSegmentsAndWords) {
  const std::string text = render(dialogue(), Format::json);
  EXPECT_EQ(validate_json(text, 9), std::vector<std::string>{});
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
  EXPECT_EQ(validate_rttm(rttm, 9), std::vector<std::string>{});
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
  EXPECT_FALSE(validate_rttm("SPEAKER f 1 0.0 1.0 <NA> <NA> A <NA>\n", 9).empty());
  EXPECT_FALSE(validate_rttm("SPEAKER f 1 5.0 6.0 <NA> <NA> A <NA> <NA>\n", 9).empty());
  EXPECT_FALSE(validate_rttm("SPEAKER f 1 2.0 1.0 <NA> <NA> A <NA> <NA>\n"
                                   "SPEAKER f 1 1.0 1.0 <NA> <NA> B <NA> <NA>\n", 9).empty());
  EXPECT_FALSE(validate_rttm("SPEAKER f 1 0.0 1.0 <NA> <NA> A <NA> <NA>", 9).empty());
}

TEST(Validators, RejectBrokenSrt) {
  const std::string good = "1\n00:00:00,500 --> 00:00:01,000\nhi\n\n2\n00:00:02,000 --> 00:00:03,000\nyo\n";
  EXPECT_TRUE(validate_srt(good, 5).empty());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"numbering from 0", "0\n00:00:00,500 --> 00:00:01,000\nhi\n"},
      {"gap in numbering", "1\n00:00:00,500 --> 00:00:01,000\nhi\n\n3\n00:00:02,000 --> 00:00:03,000\nyo\n"},
      {"vtt-style timestamp", "1\n00:00:00.500 --> 00:00:01.000\nhi\n"},
      {"start == end", "1\n00:00:01,000 --> 00:00:01,000\nhi\n"},
      {"start > end", "1\n00:00:02,000 --> 00:00:01,000\nhi\n"},
      {"not monotonic", "1\n00:00:02,000 --> 00:00:03,000\nhi\n\n2\n00:00:01,000 --> 00:00:01,500\nyo\n"},
      {"beyond duration", "1\n00:00:04,000 --> 00:00:06,000\nhi\n"},
      {"no blank line", "1\n00:00:00,500 --> 00:00:01,000\nhi\n2\n00:00:02,000 --> 00:00:03,000\nyo\n"},
      {"two blank lines", "1\n00:00:00,500 --> 00:00:01,000\nhi\n\n\n2\n00:00:02,000 --> 00:00:03,000\nyo\n"},
      {"no text", "1\n00:00:00,500 --> 00:00:01,000\n"},
      {"no final newline", "1\n00:00:00,500 --> 00:00:01,000\nhi"},
      {"trailing blank", "1\n00:00:00,500 --> 00:00:01,000\nhi\n\n"},
  };
  for (const auto& [why, doc] : bad) EXPECT_FALSE(validate_srt(doc, 5).empty()) << why;
}

TEST(Validators, RejectBrokenVtt) {
  const std::string good = "WEBVTT\n\n00:00:00.500 --> 00:00:01.000\nhi\n\nid\n01:00.000 --> 01:01.000 align:start\nyo\n";
  EXPECT_EQ(validate_vtt(good, 100), std::vector<std::string>{});
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"no header", "\n00:00:00.500 --> 00:00:01.000\nhi\n"},
      {"srt-style timestamp", "WEBVTT\n\n00:00:00,500 --> 00:00:01,000\nhi\n"},
      {"no blank after header", "WEBVTT\n00:00:00.500 --> 00:00:01.000\nhi\n"},
      {"start > end", "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nhi\n"},
      {"not monotonic", "WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nhi\n\n00:00:01.000 --> 00:00:01.500\nyo\n"},
      {"beyond duration", "WEBVTT\n\n00:00:04.000 --> 00:00:06.000\nhi\n"},
      {"arrow in text", "WEBVTT\n\n00:00:00.500 --> 00:00:01.000\na --> b\n"},
  };
  for (const auto& [why, doc] : bad) EXPECT_FALSE(validate_vtt(doc, 5).empty()) << why;
}

TEST(Validators, RejectBrokenJson) {
  const std::string good = render(small(), Format::json);
  ASSERT_TRUE(validate_json(good, 6.5).empty());
  auto broken = [&](auto edit) {
    auto j = nlohmann::json::parse(good);
    edit(j);
    return validate_json(j.dump(), 6.5);
  };
  EXPECT_FALSE(validate_json("{", 1).empty());
  EXPECT_FALSE(broken([](auto& j) { j.erase("engine"); }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["duration_s"] = "6.5"; }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["segments"][0]["end"] = 0.1; }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["segments"][1]["start"] = 0.1; }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["segments"][1]["end"] = 7.0; }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["segments"][0]["text"] = ""; }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["segments"][0]["words"][0]["start"] = 0.1; }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["segments"][0]["words"][1].erase("word"); }).empty());
  EXPECT_FALSE(broken([](auto& j) { j["text"] = "something else"; }).empty());
}

TEST(WordMetrics, WerAndOverlap) {
  EXPECT_DOUBLE_EQ(test::word_error_rate("the cat sat", "the cat sat"), 0.0);
  EXPECT_DOUBLE_EQ(test::word_error_rate("the cat sat", "the bat sat"), 1.0 / 3);
  EXPECT_DOUBLE_EQ(test::word_error_rate("the cat sat", "the cat"), 1.0 / 3);
  EXPECT_DOUBLE_EQ(test::word_error_rate("the cat sat", "the cat sat down here"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(test::word_error_rate("The Cat, sat.", "the cat sat"), 0.0);
  EXPECT_DOUBLE_EQ(test::word_overlap("go forward ten meters", "go forward to meters"), 0.75);
}

// pocketsphinx's segment-iterator words: fillers, sentence markers and silences are not
// words; alternate pronunciations lose their marker.
TEST(PocketsphinxWords, CleanWord) {
  using engine::clean_word;
  EXPECT_EQ(clean_word("hello"), "hello");
  EXPECT_EQ(clean_word("was(2)"), "was");
  EXPECT_EQ(clean_word("read(10)"), "read");
  EXPECT_EQ(clean_word("don't"), "don't");
  for (const char* w : {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "++UH++", ""})
    EXPECT_FALSE(clean_word(w)) << w;
}

}  // namespace
}  // namespace soroka::pipeline
