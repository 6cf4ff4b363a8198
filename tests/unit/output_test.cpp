// Transcript outputs: combined streams, one file written whole or not at all, a file per input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pipeline/output.h"
#include "support/fixture.h"

namespace soroka::pipeline {
namespace {

namespace fs = std::filesystem;

Transcript transcript(const std::string& file, const std::string& text) {
  Transcript t;
  t.file = file;
  t.duration_s = 2;
  t.language = "en";
  t.engine = "test";
  engine::SegmentText seg;
  seg.start_s = 0.5;
  seg.end_s = 1.5;
  seg.text = text;
  t.segments.push_back(seg);
  return t;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "soroka-output-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST(StreamOutput, CombinedJsonIsOneArrayAndTextGetsHeaders) {
  std::ostringstream json;
  auto j = stream_output(json, Format::json, true);
  ASSERT_TRUE(j->add(transcript("a.wav", "one")));
  ASSERT_TRUE(j->add(transcript("b.wav", "two")));
  ASSERT_TRUE(j->close());
  auto parsed = nlohmann::json::parse(json.str(), nullptr, false);
  ASSERT_TRUE(parsed.is_array()) << json.str();
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[1]["text"], "two");

  std::ostringstream none;
  auto empty = stream_output(none, Format::json, true);
  ASSERT_TRUE(empty->close());
  EXPECT_EQ(none.str(), "[]\n");

  std::ostringstream txt;
  auto t = stream_output(txt, Format::txt, true);
  ASSERT_TRUE(t->add(transcript("a.wav", "one")));
  ASSERT_TRUE(t->add(transcript("b.wav", "two")));
  ASSERT_TRUE(t->close());
  EXPECT_EQ(txt.str(), "==> a.wav <==\none\n\n==> b.wav <==\ntwo\n");

  std::ostringstream single;
  auto s = stream_output(single, Format::txt, false);
  ASSERT_TRUE(s->add(transcript("a.wav", "one")));
  ASSERT_TRUE(s->close());
  EXPECT_EQ(single.str(), "one\n");
}

TEST(FileOutput, AppearsWholeAtCloseAndNotAtAllWhenDropped) {
  TempDir dir;
  const fs::path out = dir.path / "all.srt";
  {
    auto f = file_output(out.string(), Format::srt, true);
    ASSERT_TRUE(f->add(transcript("a.wav", "one")));
    EXPECT_FALSE(fs::exists(out)) << "not under its name before close";
    // Dropped without close (the CLI failed): neither the file nor its .partial remain.
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  auto f = file_output(out.string(), Format::srt, true);
  ASSERT_TRUE(f->add(transcript("a.wav", "one")));
  ASSERT_TRUE(f->close());
  EXPECT_NE(slurp(out).find("==> a.wav <==\n1\n00:00:00,500 --> 00:00:01,500\none"), std::string::npos) << slurp(out);
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));

  const fs::path lone = dir.path / "lone.txt";
  auto failed_single = file_output(lone.string(), Format::txt, false);
  ASSERT_TRUE(failed_single->close());
  EXPECT_FALSE(fs::exists(lone)) << "the one input failed: no empty file";
}

TEST(DirOutput, OneFilePerInputAndCollidingStemsKeepTheirExtension) {
  TempDir dir;
  const std::vector<std::string> inputs = {"x/a.mp3", "y/a.wav", "b.ogg"};
  auto d = dir_output(dir.path.string(), {Format::vtt}, inputs);
  for (const auto& in : inputs) ASSERT_TRUE(d->add(transcript(in, "words")));
  ASSERT_TRUE(d->close());
  EXPECT_TRUE(fs::exists(dir.path / "a.mp3.vtt"));
  EXPECT_TRUE(fs::exists(dir.path / "a.wav.vtt"));
  EXPECT_TRUE(fs::exists(dir.path / "b.vtt"));
  EXPECT_EQ(slurp(dir.path / "b.vtt").rfind("WEBVTT", 0), 0u);
  auto again = d->add(transcript("b.ogg", "words"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_FALSE(d->add(transcript("not-an-input.wav", "words")));
}

TEST(DirOutput, SeveralFormatsGiveAFilePerInputAndFormat) {
  TempDir dir;
  auto formats = parse_formats("srt,json,srt,txt");
  ASSERT_TRUE(formats);
  EXPECT_EQ(*formats, (std::vector<Format>{Format::srt, Format::json, Format::txt})) << "in order, each once";
  std::ostringstream sink;
  auto d = open_output(dir.path.string(), *formats, {"a.wav", "b.ogg"}, sink);
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_TRUE((*d)->add(transcript("a.wav", "hello")));
  ASSERT_TRUE((*d)->add(transcript("b.ogg", "world")));
  ASSERT_TRUE((*d)->close());
  for (const char* f : {"a.srt", "a.json", "a.txt", "b.srt", "b.json", "b.txt"})
    EXPECT_TRUE(fs::exists(dir.path / f)) << f;
  EXPECT_NE(slurp(dir.path / "b.txt").find("world"), std::string::npos);
  EXPECT_EQ(slurp(dir.path / "a.srt").rfind("1\n", 0), 0u);
  EXPECT_TRUE(sink.str().empty());
}

TEST(OpenOutput, SeveralFormatsNeedADirectoryAndUnknownNamesAreRefused) {
  TempDir dir;
  std::ostringstream sink;
  for (const std::string& target : std::vector<std::string>{"", "-", (dir.path / "one.txt").string()}) {
    auto o = open_output(target, {Format::txt, Format::srt}, {"a.wav"}, sink);
    ASSERT_FALSE(o) << target;
    EXPECT_EQ(o.error().kind, FailureKind::invalid_request);
    EXPECT_NE(o.error().message.find("-o DIR/"), std::string::npos) << o.error().message;
  }
  for (const char* bad : {"", "txt,", "txt,,srt", "docx", "txt,SRT"}) {
    auto f = parse_formats(bad);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().kind, FailureKind::invalid_request) << bad;
  }
}

TEST(WriteAtomically, AFailedWriteLeavesNothingBehind) {
  TempDir dir;
  const fs::path p = dir.path / "t.json";
  ASSERT_TRUE(write_atomically(p.string(), [](std::ostream& o) { o << "whole"; }));
  EXPECT_EQ(slurp(p), "whole");
  auto r = write_atomically((dir.path / "u.json").string(), [](std::ostream& o) {
    o << "half";
    o.setstate(std::ios::badbit);  // the disk filled up mid-write
  });
  ASSERT_FALSE(r);
  EXPECT_FALSE(fs::exists(dir.path / "u.json"));
  EXPECT_FALSE(fs::exists(dir.path / "u.json.partial"));
  EXPECT_EQ(slurp(p), "whole") << "an earlier file is untouched";
}

TEST(OutputFormat, FlagThenExtensionThenTxt) {
  EXPECT_EQ(output_format(Format::json, "x.srt"), Format::json);
  EXPECT_EQ(output_format(std::nullopt, "x.srt"), Format::srt);
  EXPECT_EQ(output_format(std::nullopt, "x.unknown"), Format::txt);
  EXPECT_EQ(output_format(std::nullopt, "-"), Format::txt);
  EXPECT_EQ(output_format(std::nullopt, "dir/"), Format::txt);
}

}  // namespace
}  // namespace soroka::pipeline
