// soroka transcribe as a table: arguments -> exit code, stdout, stderr; then its outputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "pipeline/samples.h"
#include "support/format_validators.h"
#include "support/run.h"

namespace soroka::test {
namespace {

// Two short flite recordings and two inputs that must fail, shared by the table.
class TranscribeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    good_ = speak(dir_->path(), "good", "slt", "good morning");
    other_ = encode(speak(dir_->path(), "other-src", "awb", "thank you very much"),
                    dir_->path() + "/other", "mp3");
    std::ofstream(dir_->path() + "/notes.ogg") << "not audio at all\n";
    bad_ = dir_->path() + "/notes.ogg";
    missing_ = dir_->path() + "/missing.wav";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // Replaces {good}, {other}, {bad}, {missing} and {dir} in each argument.
  static std::vector<std::string> expand(const std::vector<std::string>& args) {
    std::vector<std::string> out{SOROKA_BINARY};
    for (std::string a : args) {
      for (const auto& [key, value] : {std::pair<std::string, std::string>{"{good}", good_},
                                       {"{other}", other_},
                                       {"{bad}", bad_},
                                       {"{missing}", missing_},
                                       {"{dir}", dir_->path()}}) {
        for (std::size_t p; (p = a.find(key)) != std::string::npos;) a.replace(p, key.size(), value);
      }
      out.push_back(a);
    }
    return out;
  }

  static RunResult soroka(const std::vector<std::string>& args) {
    // No config file from the developer's machine may change the outcome.
    return run(expand(args), {"SOROKA_CONFIG=", "XDG_CONFIG_HOME=/nonexistent", "HOME=/nonexistent"},
               std::chrono::seconds(120));
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::string good_, other_, bad_, missing_;
};

struct Case {
  std::string name;
  std::vector<std::string> args;
  int exit_code;
  std::vector<std::string> stdout_has;  // substrings ("{good}" etc. expanded)
  std::vector<std::string> stderr_has;
  std::vector<std::string> stderr_lacks;
  bool stderr_empty = false;
};

TEST_F(TranscribeCli, Table) {
  const std::vector<Case> cases = {
      {"failing file then good file: the good one is transcribed, exit 1",
       {"transcribe", "{missing}", "{good}"}, 1,
       {"morning"}, {"soroka: {missing}: file not found\n"}, {}},
      {"not media then good file",
       {"transcribe", "-q", "{bad}", "{other}"}, 1,
       {"thank you"}, {"soroka: {bad}: "}, {"soroka: {other}:"}},
      {"quiet success prints nothing on stderr",
       {"transcribe", "--quiet", "{good}"}, 0, {"morning"}, {}, {}, true},
      {"quiet still reports failures",
       {"transcribe", "-q", "{missing}"}, 1, {}, {"soroka: {missing}: file not found\n"}, {}},
      {"progress on a pipe is plain lines, no carriage returns",
       {"transcribe", "{good}"}, 0, {"morning"}, {"{good}: done, "}, {"\r", "\033["}},
      {"unknown format is a usage error", {"transcribe", "--format", "xml", "{good}"}, 64, {}, {"xml"}, {}},
      {"unsupported language is a usage error",
       {"transcribe", "--language", "fr", "{good}"}, 64, {},
       {"language 'fr' is not supported by pocketsphinx (supported: en)"}, {}},
      {"no files is a usage error", {"transcribe"}, 64, {}, {"files"}, {}},
      {"srt to stdout", {"transcribe", "-q", "-f", "srt", "{good}"}, 0, {"1\n00:00:0", " --> "}, {}, {}, true},
      {"missing model directory", {"transcribe", "-q", "--model-dir", "/nonexistent/model", "{good}"}, 1, {},
       {"soroka: {good}: ", "/nonexistent/model"}, {}},
      {"--model is a name: a directory there points at --model-dir",
       {"transcribe", "-q", "--model", "{dir}", "{good}"}, 64, {},
       {"--model takes an engine name (pocketsphinx", "use --model-dir {dir}"}, {}},
      {"--model is a name: a path there points at --model-dir",
       {"transcribe", "-q", "--model", "/nonexistent/model", "{good}"}, 64, {}, {"--model-dir"}, {}},
      {"unknown model", {"transcribe", "-q", "--model", "nonesuch", "{good}"}, 64, {},
       {"unknown model 'nonesuch' (models: pocketsphinx, whisper-1)"}, {}},
      {"simulations need engine.simulation", {"transcribe", "-q", "--model", "sim-tiny", "{good}"}, 64, {},
       {"engine.simulation"}, {}},
      {"the engine by its name", {"transcribe", "-q", "--model", "pocketsphinx", "{good}"}, 0, {"morning"}, {}, {}, true},
      {"rttm needs --diarize", {"transcribe", "-q", "-f", "rttm", "{good}"}, 64, {}, {"--format rttm needs --diarize"}, {}},
      {"rttm in a list needs --diarize too", {"transcribe", "-q", "-f", "txt,rttm", "-o", "{dir}/", "{good}"}, 64, {},
       {"--format rttm needs --diarize"}, {}},
      {"several formats need a directory", {"transcribe", "-q", "-f", "txt,srt", "{good}"}, 64, {},
       {"several formats need -o DIR/"}, {}},
      {"an unknown format in a list is named", {"transcribe", "-q", "-f", "txt,docx", "-o", "{dir}/", "{good}"}, 64,
       {}, {"'docx' is not a format"}, {}},
      {"rttm by the output's extension needs --diarize too", {"transcribe", "-q", "-o", "{dir}/x.rttm", "{good}"}, 64,
       {}, {"--format rttm needs --diarize"}, {}},
      {"min above max", {"transcribe", "-q", "--min-speakers", "3", "--max-speakers", "2", "{good}"}, 64, {},
       {"min_speakers (3) is above max_speakers (2)"}, {}},
      {"speakers out of range", {"transcribe", "-q", "--diarize", "--speakers", "0", "--max-speakers", "40", "{good}"},
       64, {}, {"max_speakers must be between 1 and 32"}, {}},
      {"--speaker takes NAME=CLIP", {"transcribe", "-q", "--speaker", "Anna", "{good}"}, 64, {},
       {"--speaker takes NAME=CLIP, not 'Anna'"}, {}},
      {"a speaker's clip must be media", {"transcribe", "-q", "--speaker", "Anna={bad}", "{good}"}, 64, {},
       {"the clip of 'Anna': "}, {}},
      {"a speaker's clip must exist", {"transcribe", "-q", "--speaker", "Anna={missing}", "{good}"}, 64, {},
       {"the clip of 'Anna': file not found"}, {}},
      {"a name twice", {"transcribe", "-q", "--speaker", "A={good}", "--speaker", "A={other}", "{good}"}, 64, {},
       {"the speaker name 'A' is given twice"}, {}},
      // The diarizer's own limits, refused before any file is transcribed.
      {"more known speakers than --max-speakers",
       {"transcribe", "-q", "--max-speakers", "1", "--speaker", "A={good}", "--speaker", "B={other}", "{good}"}, 64,
       {}, {"soroka: --diarize: 2 known speakers are more than max_speakers (1)"}, {"{good}:"}},
      {"more known speakers than --speakers",
       {"transcribe", "-q", "--speakers", "1", "--speaker", "A={good}", "--speaker", "B={other}", "{good}"}, 64, {},
       {"soroka: --diarize: 2 known speakers are more than speakers (1)"}, {"{good}:"}},
      {"a speaker's clip shorter than 2 s", {"transcribe", "-q", "--speaker", "Anna={good}", "{good}"}, 64, {},
       {"soroka: --speaker: the clip of 'Anna': shorter than 2 s"}, {"{good}:"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RunResult r = soroka(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << "stderr: " << r.err;
    for (const auto& s : c.stdout_has) EXPECT_NE(r.out.find(expand({s})[1]), std::string::npos) << s << " in: " << r.out;
    for (const auto& s : c.stderr_has) EXPECT_NE(r.err.find(expand({s})[1]), std::string::npos) << s << " in: " << r.err;
    for (const auto& s : c.stderr_lacks) EXPECT_EQ(r.err.find(expand({s})[1]), std::string::npos) << s << " in: " << r.err;
    if (c.stderr_empty) EXPECT_EQ(r.err, "");
  }
}

// soroka probe (what the service's probe child runs): one JSON line, the failure's kind in it.
TEST_F(TranscribeCli, ProbeSaysWhatTheFileIsOrWhatKindOfFailure) {
  RunResult good = soroka({"probe", "{good}"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  auto g = nlohmann::json::parse(good.out, nullptr, false);
  EXPECT_TRUE(g.value("ok", false)) << good.out;
  EXPECT_GT(g.value("duration_s", 0.0), 0.5);
  for (const auto& [file, kind] : {std::pair<std::string, std::string>{"{bad}", "unsupported_media"},
                                   {"{missing}", "invalid_input"}}) {
    RunResult r = soroka({"probe", file});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.value("ok", true)) << r.out;
    EXPECT_EQ(j.value("kind", ""), kind) << r.out;
  }
}

// Without a terminal, progress is whole lines: percentages that grow, then "done".
TEST_F(TranscribeCli, PlainProgressLines) {
  RunResult r = soroka({"transcribe", "{good}", "{other}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::regex line_re(R"(^(.+): +(\d+)% \([0-9.]+ of [0-9.]+ s\)$|^(.+): done, [0-9.]+ s of audio in [0-9.]+ s$)");
  std::istringstream lines(r.err);
  std::map<std::string, int> last_pct, done;
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, line_re)) << "unexpected stderr line: " << line;
    if (m[1].matched) {
      int pct = std::stoi(m[2]);
      EXPECT_GT(pct, last_pct[m[1]]) << line;
      EXPECT_LT(pct, 100) << line;
      last_pct[m[1]] = pct;
      EXPECT_EQ(done[m[1]], 0) << "progress after done: " << line;
    } else {
      ++done[m[3]];
    }
  }
  EXPECT_GE(n, 2u);
  EXPECT_EQ(done[good_], 1);
  EXPECT_EQ(done[other_], 1);
}

TEST_F(TranscribeCli, OutputDirectoryGetsOneFilePerInput) {
  std::string out = dir_->path() + "/subs/";
  RunResult r = soroka({"transcribe", "-q", "-f", "srt", "-o", out, "{good}", "{other}", "{missing}"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("soroka: " + missing_ + ": file not found"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  for (const auto& name : {"good.srt", "other.srt"}) {
    std::ifstream in(out + name);
    ASSERT_TRUE(in) << name;
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(validate_srt(text, -1), std::vector<std::string>{}) << text;
    EXPECT_FALSE(text.empty()) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(out + "missing.srt"));
  for (const auto& e : std::filesystem::directory_iterator(out))
    EXPECT_EQ(e.path().extension(), ".srt") << "leftover " << e.path();
}

TEST_F(TranscribeCli, OutputFileFormatFollowsItsExtension) {
  std::string out = dir_->path() + "/one.json";
  RunResult r = soroka({"transcribe", "-q", "-o", out, "{good}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(validate_json(text, -1), std::vector<std::string>{}) << text;
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["file"], good_);
  EXPECT_NE(j["text"].get<std::string>().find("morning"), std::string::npos) << text;

  // A lone input that fails leaves no output file behind.
  std::string none = dir_->path() + "/none.vtt";
  r = soroka({"transcribe", "-q", "-o", none, "{missing}"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(none));
  EXPECT_FALSE(std::filesystem::exists(none + ".partial"));
}

TEST_F(TranscribeCli, SeveralInputsAsJsonMakeAnArray) {
  RunResult r = soroka({"transcribe", "-q", "-f", "json", "{good}", "{missing}", "{other}"});
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array()) << r.out;
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["file"], good_);
  EXPECT_EQ(j[1]["file"], other_);
  for (const auto& doc : j) EXPECT_EQ(validate_json(doc.dump(), -1), std::vector<std::string>{});
}

}  // namespace
}  // namespace soroka::test
