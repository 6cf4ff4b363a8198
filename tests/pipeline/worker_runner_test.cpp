// The worker's loop in process (worker/runner.h): its lines, its choices after each kind of
// failure, one open per job, and the progress throttle's table.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "diarize/gauss.h"
#include "media/decoder.h"
#include "pipeline/samples.h"
#include "worker/protocol.h"
#include "worker/runner.h"

namespace soroka::worker {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

struct Ran {
  int exit_code = -1;
  std::vector<nlohmann::json> lines;
  // The first line about `job` that has `field`.
  const nlohmann::json* find(const std::string& job, const char* field) const {
    for (const auto& l : lines)
      if (l.value("job", "") == job && l.contains(field)) return &l;
    return nullptr;
  }
};

// Runs the worker with `input` as its stdin (then end of input), its stdout into a file.
Ran run(RunnerParams p, const TempDir& dir, const std::string& input) {
  const std::string in = dir / "stdin", out = dir / "stdout";
  std::ofstream(in) << input;
  p.in_fd = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
  p.out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Ran r;
  r.exit_code = run_worker(p);
  ::close(p.in_fd);
  ::close(p.out_fd);
  std::ifstream lines(out);
  for (std::string l; std::getline(lines, l);) r.lines.push_back(nlohmann::json::parse(l, nullptr, false));
  return r;
}

RunnerParams sim_params(const std::string& model = "sim-tiny") {
  RunnerParams p;
  p.model = model;
  p.settings.engine.simulation = true;
  p.settings.log_level = "warn";
  return p;
}

std::string job_line(const std::string& id, const std::string& input, const std::string& result,
                     double duration_s = 0) {
  JobRequest r{.id = id, .input = input, .result = result};
  r.duration_s = duration_s;
  r.heartbeat = 200ms;
  return encode(r) + "\n";
}

TEST(WorkerRunner, RunsJobsReportsKindsAndTakesTheNextAfterAUserError) {
  TempDir dir;
  const std::string speech = test::speak(dir.path(), "s", "slt", "good morning");
  std::ofstream(dir / "notes.mp3") << "not audio\n";
  const std::string input = job_line("a", speech, dir / "a.json", 1.5) + std::string(kShedLine) + "\n" +
                            job_line("b", dir / "notes.mp3", dir / "b.json") +
                            job_line("c", speech, dir / "c.json", 1.5);
  const std::uint64_t opens = media::opened_count();
  Ran r = run(sim_params(), dir, input);
  EXPECT_EQ(r.exit_code, kExitOk);
  ASSERT_FALSE(r.lines.empty());
  EXPECT_TRUE(r.lines.front().value("ready", false)) << r.lines.front().dump();
  EXPECT_FALSE(r.lines.front()["sandbox"].value("applied", true));
  ASSERT_NE(r.find("a", "done"), nullptr);
  ASSERT_NE(r.find("a", "progress"), nullptr) << "progress lines while it works";
  std::ifstream a(dir / "a.json");
  auto result = nlohmann::json::parse(a, nullptr, false);
  EXPECT_NE(result.value("text", "").find("simulated"), std::string::npos) << result.dump();
  EXPECT_EQ(result.value("file", ""), "s.wav");
  const auto* b = r.find("b", "error");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->value("kind", ""), "unsupported_media");
  EXPECT_NE(r.find("c", "done"), nullptr) << "a user error does not end the worker";
  // a and c carried their duration, b had none: one open each, no second probe.
  EXPECT_EQ(media::opened_count() - opens, 3u);
}

TEST(WorkerRunner, ItsOwnFailureEndsItAndAModelNoWorkerCanLoadIsAnInputError) {
  TempDir dir;
  const std::string speech = test::speak(dir.path(), "s", "slt", "good night");
  Ran own = run(sim_params(), dir, job_line("a", speech, dir / "no-such-dir/a.json") + job_line("b", speech, dir / "b.json"));
  EXPECT_EQ(own.exit_code, kExitFailure);
  const auto* a = own.find("a", "error");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->value("kind", ""), "storage");
  EXPECT_EQ(own.find("b", "done"), nullptr) << "ended before the next job";

  RunnerParams off = sim_params();
  off.settings.engine.simulation = false;
  for (const auto& p : {off, sim_params("nonesuch")}) {
    Ran r = run(p, dir, job_line("x", speech, dir / "x.json"));
    EXPECT_EQ(r.exit_code, kExitInputError);
    ASSERT_EQ(r.lines.size(), 1u);
    EXPECT_EQ(r.lines[0].value("kind", ""), "invalid_request") << r.lines[0].dump();
  }
}

// A remote engine the worker knows only from its first stdin line; port 9 (discard) on
// loopback refuses at once, and 100 ms of waiting for it ends a job quickly.
RemoteEngineSettings nowhere_engine() {
  RemoteEngineSettings e;
  e.name = "w";
  e.urls = {"http://127.0.0.1:9/v1"};
  e.api_key = "sk-line";
  e.unreachable_wait = 100ms;
  return e;
}

TEST(WorkerRunner, ARemoteEngineComesAsTheFirstLineAndTheJobAfterItIsKept) {
  TempDir dir;
  const std::string speech = test::speak(dir.path(), "s", "slt", "good evening");
  RunnerParams p;
  p.model = "w";
  p.settings.log_level = "warn";
  Ran unknown = run(p, dir, "");
  EXPECT_EQ(unknown.exit_code, kExitInputError) << "without the line there is no engine w";

  p.engine_on_input = true;
  // All in one write: the lines after the engine line (a shed request, a job) must not be lost
  // to the engine line's read.
  Ran r = run(p, dir,
              encode_engine(nowhere_engine()) + "\nshed\n" + job_line("x", speech, dir / "x.json", 1.5));
  ASSERT_FALSE(r.lines.empty());
  EXPECT_TRUE(r.lines.front().value("ready", false)) << r.lines.front().dump();
  const auto* x = r.find("x", "error");
  ASSERT_NE(x, nullptr) << "the job line after the engine line was read";
  EXPECT_NE(x->value("error", "").find("127.0.0.1:9"), std::string::npos) << x->dump();

  // Over 64 KiB without a newline: refused when the bound is passed, not read to the end.
  const std::string endless(200u << 10, 'x');
  for (const std::string bad : {std::string("{\"engine\":{\"name\":\"w\",\"urls\":[\"ftp://x\"]}}\n"), std::string("\n"),
                                std::string(), endless + "\n"}) {
    Ran b = run(p, dir, bad + job_line("y", speech, dir / "y.json", 1.5));
    EXPECT_EQ(b.exit_code, kExitFailure) << bad.substr(0, 80);
    ASSERT_EQ(b.lines.size(), 1u) << bad.substr(0, 80);
    EXPECT_TRUE(b.lines[0].contains("error")) << b.lines[0].dump();
    if (bad.size() > 1000)
      EXPECT_NE(b.lines[0].value("error", "").find("too long"), std::string::npos) << b.lines[0].dump();
    EXPECT_EQ(b.find("y", "error"), nullptr) << "no job after a bad engine line";
  }
}

// A fake diarizer: the turns it is given; on its first add() it writes "shed" into the
// worker's stdin (the service's request arriving mid-job), and counts the sheds it gets.
struct FakeLog {
  int added = 0, shed = 0;
  diarize::Params params;
};
class FakeDiarizer final : public diarize::Diarizer {
 public:
  FakeDiarizer(std::vector<diarize::Turn> turns, FakeLog* log, int shed_fd)
      : turns_(std::move(turns)), log_(log), shed_fd_(shed_fd) {}
  Result<void> add(const segment::Segment&) override {
    if (log_->added++ == 0 && shed_fd_ >= 0) (void)!::write(shed_fd_, "shed\n", 5);
    return {};
  }
  Result<std::vector<diarize::Turn>> finish() override { return turns_; }
  void shed() override { ++log_->shed; }

 private:
  std::vector<diarize::Turn> turns_;
  FakeLog* log_;
  int shed_fd_;
};

TEST(WorkerRunner, DiarizesWithTheStageItBuildsAndShedsItsDiarizer) {
  TempDir dir;
  const std::string a = test::speak(dir.path(), "a", "slt", "good morning my friend");
  const std::string b = test::speak(dir.path(), "b", "awb", "hello there how are you");
  const std::string both = dir / "both.wav";
  // a, 1 s of silence, b: one file, two voices.
  test::sh("sox -n -r 16000 -c 1 -b 16 '" + dir / "gap.wav" + "' trim 0 1.0");
  test::sh("sox '" + a + "' '" + dir / "gap.wav" + "' '" + b + "' -r 16000 -c 1 '" + both + "'");
  const double a_end = media::probe_media(a)->duration_s;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  FakeLog log;
  RunnerParams p;
  p.model = "pocketsphinx";
  p.settings.log_level = "warn";
  p.make_diarizer = [&](const diarize::Params& params) -> Result<std::unique_ptr<diarize::Diarizer>> {
    log.params = params;
    return std::make_unique<FakeDiarizer>(
        std::vector<diarize::Turn>{{0, a_end + 0.5, 0, "Speaker 1"}, {a_end + 0.5, 100, 1, "Anna"}}, &log, fds[1]);
  };
  JobRequest ok{.id = "d", .input = both, .result = dir / "d.json"};
  // Anna's clip: awb again, long enough to be a voice (at least diarize::kMinClipS).
  const std::string anna = test::speak(dir.path(), "anna", "awb", "hello there how are you today my good friend");
  ASSERT_GE(media::probe_media(anna)->duration_s, 2.0);
  ok.diarize = pipeline::SpeakerRequest{.speakers = 2, .known = {{"Anna", anna}}};
  JobRequest bad_clip{.id = "e", .input = both, .result = dir / "e.json"};
  bad_clip.diarize = pipeline::SpeakerRequest{.known = {{"Anna", dir / "missing.ogg"}}};
  JobRequest bad_counts{.id = "f", .input = both, .result = dir / "f.json"};
  bad_counts.diarize = pipeline::SpeakerRequest{.min_speakers = 3, .max_speakers = 2};
  const std::string lines = encode(ok) + "\n" + encode(bad_clip) + "\n" + encode(bad_counts) + "\n";
  ASSERT_EQ(::write(fds[1], lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  const std::string out = dir / "stdout";
  p.in_fd = fds[0];
  p.out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::thread closer([&] {  // end of input once the three jobs have answered
    for (int i = 0; i < 600; ++i) {
      std::ifstream f(out);
      std::string all((std::istreambuf_iterator<char>(f)), {});
      if (all.find("\"job\":\"f\"") != std::string::npos) break;
      std::this_thread::sleep_for(100ms);
    }
    ::close(fds[1]);
  });
  const int code = run_worker(p);
  closer.join();
  ::close(fds[0]);
  ::close(p.out_fd);
  EXPECT_EQ(code, kExitOk);
  EXPECT_EQ(log.params.speakers, 2);
  ASSERT_EQ(log.params.known.size(), 1u);
  EXPECT_EQ(log.params.known[0].name, "Anna");
  ASSERT_TRUE(log.params.known[0].voice) << "the clip decoded and analysed in the worker";
  EXPECT_GE(log.params.known[0].voice->n, 100.0) << "its voiced frames, in the statistics";
  EXPECT_GE(log.added, 2) << "both utterances fed";
  EXPECT_GE(log.shed, 1) << "a shed mid-job reaches the running diarizer";

  std::ifstream rf(dir / "d.json");
  auto result = nlohmann::json::parse(rf, nullptr, false);
  std::set<std::string> speakers;
  std::size_t words = 0;
  for (const auto& s : result["segments"]) {
    speakers.insert(s.value("speaker", "<none>"));
    words += s.value("words", nlohmann::json::array()).size();
    for (const auto& w : s["words"]) EXPECT_EQ(w["speaker"], s["speaker"]);
  }
  EXPECT_EQ(speakers, (std::set<std::string>{"Speaker 1", "Anna"})) << result.dump();
  EXPECT_GE(words, 6u) << "pocketsphinx gives word timings (Capabilities::word_timings): words are assigned";
  std::ifstream lf(out);
  std::vector<nlohmann::json> said;
  for (std::string l; std::getline(lf, l);) said.push_back(nlohmann::json::parse(l, nullptr, false));
  auto about = [&](const char* job) {
    for (const auto& l : said)
      if (l.value("job", "") == job && (l.contains("error") || l.contains("done"))) return l;
    return nlohmann::json();
  };
  EXPECT_TRUE(about("d").value("done", false)) << about("d").dump();
  EXPECT_EQ(about("e").value("kind", ""), "invalid_request") << about("e").dump();
  EXPECT_NE(about("e").value("error", "").find("the clip of 'Anna'"), std::string::npos);
  EXPECT_EQ(about("f").value("kind", ""), "invalid_request") << about("f").dump();
}

TEST(ProgressDue, Table) {
  struct Case {
    double last, frac;
    std::chrono::milliseconds since;
    bool due;
  };
  const Case cases[] = {
      {-1.0, 0.0, 0ms, true},      // the first line
      {0.10, 0.11, 0ms, false},    // under 2 % more
      {0.10, 0.12, 0ms, true},     // 2 % more
      {0.99, 1.0, 0ms, true},      // the end
      {1.0, 1.0, 0ms, false},      // the end, said already
      {0.5, 0.5, 999ms, false},    // no news, not yet a heartbeat
      {0.5, 0.5, 1000ms, true},    // a heartbeat: the same fraction again
  };
  for (const auto& c : cases)
    EXPECT_EQ(progress_due(c.last, c.frac, c.since, 1000ms), c.due) << c.last << " -> " << c.frac << " after " << c.since.count();
}

}  // namespace
}  // namespace soroka::worker
