// Diarization's requests and answers without a server: speaker_params and the form fields by
// table, the data URL decoder against hostile input, job params through the store's JSON, and
// diarized_json / verbose_json in OpenAI's shape.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/data_url.h"
#include "api/form_fields.h"
#include "pipeline/speaker_options.h"
#include "service/job_params.h"

namespace soroka {
namespace {

using nlohmann::json;

TEST(SpeakerParams, Table) {
  struct Case {
    pipeline::SpeakerRequest r;
    int speakers, min, max;  // expected when ok
    const char* error;       // a prefix of the message when not
  };
  const std::vector<pipeline::KnownClip> two = {{"Anna", "a"}, {"Boris", "b"}};
  const std::vector<pipeline::KnownClip> three = {{"Anna", "a"}, {"Boris", "b"}, {"Vera", "c"}};
  const Case cases[] = {
      {{}, 0, 1, 8, nullptr},
      {{3, 0, 0, {}}, 3, 1, 8, nullptr},
      {{12, 0, 0, {}}, 12, 1, 12, nullptr},  // max raised to the count given
      {{0, 10, 0, {}}, 0, 10, 10, nullptr},
      {{0, 2, 4, two}, 0, 2, 4, nullptr},
      {{0, 0, 0, three}, 0, 1, 8, nullptr},
      {{3, 0, 0, three}, 3, 1, 8, nullptr},
      {{0, 0, 2, three}, 0, 0, 0, "3 known speakers are more than max_speakers (2)"},
      {{2, 0, 0, three}, 0, 0, 0, "3 known speakers are more than speakers (2)"},
      {{2, 1, 4, three}, 0, 0, 0, "3 known speakers are more than speakers (2)"},
      {{0, 3, 2, {}}, 0, 0, 0, "min_speakers (3) is above max_speakers (2)"},
      {{5, 0, 4, {}}, 0, 0, 0, "speakers (5) is outside"},
      {{2, 3, 0, {}}, 0, 0, 0, "speakers (2) is outside"},
      {{-1, 0, 0, {}}, 0, 0, 0, "speakers must be between 1 and 32"},
      {{33, 0, 0, {}}, 0, 0, 0, "speakers must be between 1 and 32"},
      {{0, 0, 99, {}}, 0, 0, 0, "max_speakers must be between"},
      {{0, 0, 0, {{"", "a"}}}, 0, 0, 0, "a known speaker's name is empty"},
      {{0, 0, 0, {{"Anna", ""}}}, 0, 0, 0, "the speaker 'Anna' has no reference clip"},
      {{0, 0, 0, {{"Anna", "a"}, {"Anna", "b"}}}, 0, 0, 0, "the speaker name 'Anna' is given twice"},
      {{0, 0, 0, {{"A\nB", "a"}}}, 0, 0, 0, "the speaker name"},
      {{0, 0, 0, {{std::string(65, 'x'), "a"}}}, 0, 0, 0, "the speaker name"},
  };
  for (const auto& c : cases) {
    auto p = pipeline::speaker_params(c.r);
    if (c.error) {
      ASSERT_FALSE(p) << c.error;
      EXPECT_TRUE(p.error().starts_with(c.error)) << p.error();
      continue;
    }
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->speakers, c.speakers);
    EXPECT_EQ(p->min_speakers, c.min);
    EXPECT_EQ(p->max_speakers, c.max);
  }
  pipeline::SpeakerRequest many;
  for (int i = 0; i <= static_cast<int>(pipeline::kMaxKnownSpeakers); ++i)
    many.known.push_back({"n" + std::to_string(i), "c"});
  ASSERT_FALSE(pipeline::speaker_params(many));
  EXPECT_TRUE(pipeline::speaker_params(many).error().starts_with("at most 10 known speakers"));
}

TEST(SpeakerParams, SpeakerArg) {
  auto a = pipeline::parse_speaker_arg("Anna Petrovna=clips/a=1.ogg");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "Anna Petrovna");
  EXPECT_EQ(a->path, "clips/a=1.ogg");
  for (const char* bad : {"Anna", "=a.ogg", "Anna=", ""}) EXPECT_FALSE(pipeline::parse_speaker_arg(bad)) << bad;
}

EngineSettings engine() { return {}; }

TEST(DiarizeForm, WhatTurnsItOn) {
  struct Case {
    std::map<std::string, std::string> fields;
    bool on;
  };
  const Case cases[] = {
      {{}, false},
      {{{"diarize", "false"}}, false},
      {{{"diarize", "true"}}, true},
      {{{"diarize", "1"}}, true},
      {{{"response_format", "diarized_json"}}, true},
      {{{"model", "gpt-4o-transcribe-diarize"}}, true},
      {{{"speakers", "2"}}, true},
      {{{"max_speakers", "3"}}, true},
  };
  for (const auto& c : cases) {
    auto r = api::read_form(c.fields, engine());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->params.diarize.has_value(), c.on) << json(c.fields).dump();
    EXPECT_EQ(r->params.model, "pocketsphinx");
  }
  auto full = api::read_form({{"diarize", "true"}, {"speakers", "2"}, {"min_speakers", "1"}, {"max_speakers", "4"}},
                             engine(), {{"Anna", "Boris"}, {"/u/x.upload.speaker0", "/u/x.upload.speaker1"}});
  ASSERT_TRUE(full) << full.error().message;
  const pipeline::SpeakerRequest want{2, 1, 4, {{"Anna", "/u/x.upload.speaker0"}, {"Boris", "/u/x.upload.speaker1"}}};
  EXPECT_EQ(*full->params.diarize, want);
}

TEST(DiarizeForm, RefusalsNameTheField) {
  struct Case {
    std::map<std::string, std::string> fields;
    api::FormSpeakers speakers;
    const char* param;
  };
  const Case cases[] = {
      {{{"diarize", "yes"}}, {}, "diarize"},
      {{{"speakers", "two"}}, {}, "speakers"},
      {{{"speakers", "2x"}}, {}, "speakers"},
      {{{"max_speakers", "4294967298"}}, {}, "max_speakers"},  // 2 if cut to 32 bits
      {{{"min_speakers", "5"}, {"max_speakers", "2"}}, {}, "min_speakers"},
      {{{"speakers", "40"}}, {}, "speakers"},
      {{{"diarize", "false"}, {"speakers", "2"}}, {}, "diarize"},
      {{{"diarize", "false"}, {"response_format", "diarized_json"}}, {}, "diarize"},
      {{}, {{"Anna"}, {}}, "known_speaker_references[]"},   // a name without a clip
      {{}, {{}, {"/u/c0"}}, "known_speaker_names[]"},       // a clip without a name
      {{}, {{"Anna", "Anna"}, {"/u/c0", "/u/c1"}}, "known_speaker_names[]"},
      {{{"max_speakers", "1"}}, {{"Anna", "Boris"}, {"/u/c0", "/u/c1"}}, "known_speaker_names[]"},
      {{{"speakers", "1"}}, {{"Anna", "Boris"}, {"/u/c0", "/u/c1"}}, "known_speaker_names[]"},
  };
  for (const auto& c : cases) {
    auto r = api::read_form(c.fields, engine(), c.speakers);
    ASSERT_FALSE(r) << json(c.fields).dump();
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().param, c.param) << r.error().message;
  }
  auto big = api::read_form({{"speakers", "99999999999"}}, engine());
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, "speakers must be an integer, not '99999999999'");
}

std::string decode(std::string_view url, std::size_t max, std::optional<std::string>* err,
                   std::size_t chunk = 1) {
  api::DataUrlDecoder d(max);
  std::string out;
  for (std::size_t i = 0; i < url.size(); i += chunk) {
    if (auto e = d.feed(url.substr(i, chunk), out)) {
      *err = e;
      return out;
    }
  }
  *err = d.finish();
  return out;
}

TEST(DataUrl, DecodesInAnyChunkingAndRefusesTheHostile) {
  std::optional<std::string> err;
  for (std::size_t chunk : {1u, 3u, 7u, 1000u}) {
    EXPECT_EQ(decode("data:audio/wav;base64,aGVsbG8=", 100, &err, chunk), "hello");
    EXPECT_FALSE(err) << *err;
    EXPECT_EQ(decode("data:audio/ogg;codecs=opus;base64,aGVs\r\nbG8h", 100, &err, chunk), "hello!");
    EXPECT_FALSE(err);
    EXPECT_EQ(decode("data:;base64,aGk=", 100, &err, chunk), "hi");
    EXPECT_FALSE(err);
  }
  const std::pair<std::string, const char*> bad[] = {
      {"http://example.com/a.wav", "is not a base64 data URL"},
      {"data:audio/wav,hello", "is not a base64 data URL"},
      {"data:audio/wav;base64,aGVsbG8", "is cut off"},
      {"data:audio/wav;base64,aGVsbG8=x", "has data after base64 padding"},
      {"data:audio/wav;base64,aGVsbG8==", "has too much base64 padding"},
      {"data:audio/wav;base64,a===", "has misplaced base64 padding"},
      {"data:audio/wav;base64,aGV$bG8=", "holds a character outside base64"},
      {"data:audio/wav;base64,", "holds no data"},
      {"data:audio/wav;base64,aGVsbG8gd29ybGQ=", "decodes to more than 8 bytes"},
      {"data:" + std::string(300, 'a'), "is not a data URL"},
  };
  for (const auto& [url, why] : bad) {
    decode(url, 8, &err);
    ASSERT_TRUE(err) << url;
    EXPECT_TRUE(err->starts_with(why)) << url << ": " << *err;
  }
}

// The worst case: an endless base64 body stops at the bound, having produced only that much.
TEST(DataUrl, AnEndlessClipStopsAtTheBound) {
  api::DataUrlDecoder d(1 << 20);
  std::string out, total;
  ASSERT_FALSE(d.feed("data:audio/wav;base64,", out));
  const std::string block(4096, 'A');
  std::optional<std::string> e;
  std::size_t fed = 0;
  while (!(e = d.feed(block, out)) && fed < (64u << 20)) {
    fed += block.size();
    total += out;
    out.clear();
  }
  ASSERT_TRUE(e);
  EXPECT_LE(total.size() + out.size(), std::size_t{1} << 20);
  EXPECT_LT(fed, std::size_t{2} << 20);
}

TEST(DiarizeJobParams, StoredAndReadBack) {
  service::JobParams p;
  p.diarize = pipeline::SpeakerRequest{0, 2, 3, {{"Anna", "/u/a.upload.speaker0"}}};
  auto back = service::parse_job_params(service::to_json(p));
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->diarize);
  EXPECT_EQ(*back->diarize, *p.diarize);
  EXPECT_FALSE(service::parse_job_params(service::to_json(service::JobParams{}))->diarize);
  EXPECT_FALSE(service::parse_job_params(R"({"diarize":{"speakers":"x"}})"));
  EXPECT_EQ(service::clip_path("/u/a.upload", 3), "/u/a.upload.speaker3");
}

pipeline::Transcript diarized() {
  pipeline::Transcript t;
  t.duration_s = 4.2;
  t.language = "en";
  engine::SegmentText a{0.5, 1.5, "hello", {}, "Speaker 1"}, b{2.0, 4.0, "hi there", {}, "Anna"};
  t.segments = {a, b};
  return t;
}

TEST(DiarizedJson, OpenAIsShape) {
  auto r = service::render(diarized(), service::ResponseFormat::diarized_json);
  EXPECT_EQ(r.content_type, "application/json");
  auto j = json::parse(r.body);
  EXPECT_EQ(j["task"], "transcribe");
  EXPECT_DOUBLE_EQ(j["duration"].get<double>(), 4.2);
  EXPECT_EQ(j["text"], "hello hi there");
  EXPECT_EQ(j["usage"], json({{"type", "duration"}, {"seconds", 5}}));
  ASSERT_EQ(j["segments"].size(), 2u);
  const auto& s = j["segments"][1];
  EXPECT_EQ(s["type"], "transcript.text.segment");
  EXPECT_EQ(s["id"], "seg_1");
  EXPECT_DOUBLE_EQ(s["start"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(s["end"].get<double>(), 4.0);
  EXPECT_EQ(s["text"], "hi there");
  EXPECT_EQ(s["speaker"], "Anna");
}

TEST(DiarizedJson, VerboseJsonCarriesSpeakersOnlyWhenDiarized) {
  auto v = json::parse(service::render(diarized(), service::ResponseFormat::verbose_json).body);
  EXPECT_EQ(v["segments"][0]["speaker"], "Speaker 1");
  auto plain = diarized();
  for (auto& s : plain.segments) s.speaker.reset();
  auto p = json::parse(service::render(plain, service::ResponseFormat::verbose_json).body);
  EXPECT_FALSE(p["segments"][0].contains("speaker"));
}

TEST(DiarizedJson, TheWorkersResultKeepsSpeakers) {
  auto t = service::parse_transcript(
      R"({"duration_s":3,"segments":[{"start":0,"end":1,"text":"a","speaker":"Anna"},{"start":1,"end":2,"text":"b"}]})",
      "test");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->segments[0].speaker, "Anna");
  EXPECT_FALSE(t->segments[1].speaker);
  EXPECT_FALSE(service::parse_transcript(R"({"segments":[{"start":0,"end":1,"text":"a","speaker":7}]})", "test"));
}

}  // namespace
}  // namespace soroka
