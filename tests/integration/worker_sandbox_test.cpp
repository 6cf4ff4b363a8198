// A real `soroka worker` under its sandbox: jobs inside uploads/results run, anything else is
// refused.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/run.h"
#include "worker/sandbox.h"

namespace soroka::test {
namespace {

namespace fs = std::filesystem;

const fs::path kSample =
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) v.push_back(std::move(j));
  }
  return v;
}

const nlohmann::json* find_job(const std::vector<nlohmann::json>& lines, const std::string& id,
                               const char* key) {
  for (const auto& j : lines)
    if (j.value("job", "") == id && j.contains(key)) return &j;
  return nullptr;
}

TEST(WorkerSandbox, JobsRunInsideAndEverythingElseIsRefused) {
  if (!fs::exists(kSample))
    GTEST_SKIP() << "pocketsphinx-testdata is not installed (" << kSample << ")";
  std::string tmpl = (fs::temp_directory_path() / "soroka-wsandbox-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path state = tmpl, uploads = state / "uploads", results = state / "results";
  struct RemoveAtEnd {
    fs::path p;
    ~RemoveAtEnd() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{state};
  fs::create_directories(uploads);
  fs::create_directories(results);
  fs::copy_file(kSample, uploads / "in.wav");
  fs::copy_file(kSample, state / "outside.wav");
  std::ofstream(state / "jobs.sqlite") << "the job store";

  auto job = [](const std::string& id, const fs::path& in, const fs::path& out) {
    return nlohmann::json{{"job", id}, {"input", in.string()}, {"result", out.string()}}.dump() +
           "\n";
  };
  // a: the normal case; b: an input outside uploads/; c: a result over the job store (last:
  // a result it cannot write is the worker's own failure, which ends it).
  std::string input = job("a", uploads / "in.wav", results / "a.json") +
                      job("b", state / "outside.wav", results / "b.json") +
                      job("c", uploads / "in.wav", state / "jobs.sqlite");
  auto r = run({SOROKA_BINARY, "worker", "--model", "pocketsphinx", "--sandbox-input",
                uploads.string(), "--sandbox-results", results.string()},
               {}, std::chrono::seconds(120), input);
  auto lines = json_lines(r.out);
  ASSERT_FALSE(lines.empty()) << r.err;
  const auto& ready = lines.front();
  ASSERT_TRUE(ready.value("ready", false)) << r.out << r.err;
  const auto& sb = ready["sandbox"];
  EXPECT_TRUE(sb.value("applied", false));
  EXPECT_TRUE(sb.value("seccomp", false)) << sb.dump();
  EXPECT_NE(r.err.find("event=worker_sandbox "), std::string::npos) << r.err;

  // a: transcribed and written, as without the sandbox.
  ASSERT_NE(find_job(lines, "a", "done"), nullptr) << r.out << r.err;
  auto result = nlohmann::json::parse(slurp(results / "a.json"), nullptr, false);
  ASSERT_TRUE(result.is_object());
  EXPECT_FALSE(result["segments"].empty());

  if (!sb.value("landlock", false)) {
    // Said in the log, not claimed.
    EXPECT_NE(r.err.find("event=worker_sandbox_incomplete"), std::string::npos) << r.err;
    GTEST_SKIP() << "Landlock not applied on this kernel (" << sb.dump()
                 << "): the file checks need it";
  }
  // b: outside uploads/ the input cannot be opened.
  const auto* b = find_job(lines, "b", "error");
  ASSERT_NE(b, nullptr) << r.out;
  EXPECT_NE((*b)["error"].get<std::string>().find("ermission denied"), std::string::npos)
      << b->dump();
  EXPECT_FALSE(fs::exists(results / "b.json"));
  // c: the job store is neither overwritten nor touched; the worker ends with its failure.
  const auto* c = find_job(lines, "c", "error");
  ASSERT_NE(c, nullptr) << r.out;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(slurp(state / "jobs.sqlite"), "the job store");
  EXPECT_FALSE(fs::exists(state / "jobs.sqlite.partial"));
}

}  // namespace
}  // namespace soroka::test
