// The state-dir sweep in a real `soroka serve`: orphans left by a crash go at start-up, with
// one `event=sweep` line; what a job refers to and what is young stays.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "jobs/job_store.h"
#include "service/serve_instance.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string old_file(const std::string& path, std::size_t bytes, std::chrono::seconds age) {
  std::ofstream(path, std::ios::binary) << std::string(bytes, 's');
  fs::last_write_time(path, fs::file_time_type::clock::now() - age);
  return path;
}

TEST(ServeSweep, StartUpRemovesOrphansOfACrashAndLogsThem) {
  const std::string state = make_temp_dir("soroka-sweep-");
  ASSERT_FALSE(state.empty());
  fs::create_directories(state + "/uploads");
  fs::create_directories(state + "/results");
  // A job that finished before the crash and is still within retention: its result stays.
  std::string kept_result;
  {
    auto store = jobs::SqliteJobStore::open(jobs::default_sqlite_params(state + "/jobs.sqlite"));
    ASSERT_TRUE(store) << store.error().message;
    jobs::JobSpec s;
    s.input_path = state + "/uploads/01KEPT.upload";
    s.original_name = "kept.wav";
    auto id = (*store)->submit(s);
    ASSERT_TRUE(id);
    auto j = (*store)->claim_next({"elsewhere", 1}, 60s);
    ASSERT_TRUE(j && *j);
    kept_result = old_file(state + "/results/" + *id + ".json", 10, 2h);
    ASSERT_TRUE((*store)->complete(*id, (*j)->lease(), {"", kept_result, 0}));
  }
  // Orphans: an upload cut short by the crash, a result and a partial result of purged jobs.
  const std::string o1 = old_file(state + "/uploads/01CUTSHORT.upload", 4096, 1h);
  const std::string o2 = old_file(state + "/results/01PURGED.json", 100, 3h);
  const std::string o3 = old_file(state + "/results/01PURGED.json.partial", 4, 3h);
  const std::string young = old_file(state + "/uploads/01YOUNG.upload", 8, 5s);

  const int port = free_loopback_port();
  Process serve(
      {"/bin/sh", "-c",
       "exec \"$0\" serve --listen 127.0.0.1:" + std::to_string(port) + " --state-dir \"$1\" 2>&1",
       SOROKA_BINARY, state},
      {"SOROKA_LOG_LEVEL=info"});
  std::string sweep_line;
  for (int i = 0; i < 200 && sweep_line.empty(); ++i) {
    auto line = serve.read_line(15s);
    if (!line) break;
    if (line->find("event=sweep ") != std::string::npos) sweep_line = *line;
  }
  EXPECT_NE(sweep_line.find("event=sweep files=3 bytes=4200"), std::string::npos) << sweep_line;
  EXPECT_EQ(serve.stop(SIGTERM, 20s), 0);

  EXPECT_FALSE(fs::exists(o1));
  EXPECT_FALSE(fs::exists(o2));
  EXPECT_FALSE(fs::exists(o3));
  EXPECT_TRUE(fs::exists(kept_result));
  EXPECT_TRUE(fs::exists(young));
  std::error_code ec;
  fs::remove_all(state, ec);
}

}  // namespace
}  // namespace soroka::test
