// Tests for the state-dir sweep: orphaned uploads and results go, everything a job refers to,
// everything young and every upload in flight stays.
#include "service/state_sweep.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace soroka::service {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class StateSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "soroka-sweep-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    state = tmpl;
    uploads = state + "/uploads";
    results = state + "/results";
    fs::create_directories(uploads);
    fs::create_directories(results);
    auto s = jobs::SqliteJobStore::open(jobs::default_sqlite_params(state + "/jobs.sqlite"));
    if (!s) throw std::runtime_error(s.error().message);
    store = std::move(*s);
    params.dirs = {uploads, results};
  }
  void TearDown() override {
    store.reset();
    std::error_code ec;
    fs::remove_all(state, ec);
  }

  // A file of `bytes` bytes last written `age` ago.
  std::string file(const std::string& dir, const std::string& name, std::size_t bytes,
                   std::chrono::seconds age) {
    std::string p = dir + "/" + name;
    std::ofstream(p, std::ios::binary) << std::string(bytes, 'x');
    fs::last_write_time(p, fs::file_time_type::clock::now() - age);
    return p;
  }
  std::string submit(const std::string& input) {
    jobs::JobSpec s;
    s.input_path = input;
    s.original_name = fs::path(input).filename().string();
    auto id = store->submit(s);
    if (!id) throw std::runtime_error(id.error().message);
    return *id;
  }

  std::string state, uploads, results;
  std::unique_ptr<jobs::SqliteJobStore> store;
  SweepParams params;
};

TEST_F(StateSweep, RemovesOldUnreferencedFilesOnlyAndCountsThem) {
  // Referenced, all old: a succeeded job's upload and result, a running job's upload and its
  // result written but not yet recorded (matched by id) with its partial twin, a queued job's
  // upload.
  const std::string done_in = file(uploads, "A.upload", 10, 1h);
  submit(done_in);
  const std::string running_in = file(uploads, "B.upload", 10, 1h);
  submit(running_in);
  const std::string queued_in = file(uploads, "C.upload", 10, 1h);
  submit(queued_in);
  auto done = store->claim_next({"node", 1}, 60s);  // the oldest first: A
  ASSERT_TRUE(done && *done);
  const std::string done_result = file(results, (*done)->id + ".json", 20, 1h);
  ASSERT_TRUE(store->complete((*done)->id, (*done)->lease(), {"", done_result, 0}));
  auto running = store->claim_next({"node", 1}, 60s);
  ASSERT_TRUE(running && *running);
  const std::string unrecorded = file(results, (*running)->id + ".json", 30, 1h);
  const std::string partial = file(results, (*running)->id + ".json.partial", 30, 1h);

  // Orphans: an upload from a crash mid-submit, a result of a purged job, its partial.
  const std::string orphan_up = file(uploads, "01ORPHANUPLOAD.upload", 1000, 11min);
  const std::string orphan_res = file(results, "01PURGEDJOB.json", 300, 2h);
  const std::string orphan_part = file(results, "01PURGEDJOB.json.partial", 7, 2h);
  // Young orphan: inside the grace, it may be a file about to be recorded.
  const std::string young = file(uploads, "01YOUNG.upload", 50, 30s);
  // A directory and a symlink are not ours to remove.
  fs::create_directory(results + "/subdir");
  fs::create_symlink(orphan_up, results + "/link.json");
  fs::last_write_time(results + "/subdir", fs::file_time_type::clock::now() - 1h);

  auto r = sweep_orphans(*store, params);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->files, 3u);
  EXPECT_EQ(r->bytes, 1000u + 300u + 7u);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_FALSE(fs::exists(orphan_up));
  EXPECT_FALSE(fs::exists(orphan_res));
  EXPECT_FALSE(fs::exists(orphan_part));
  for (const auto& kept : {done_in, running_in, queued_in, done_result, unrecorded, partial, young})
    EXPECT_TRUE(fs::exists(kept)) << kept;
  EXPECT_TRUE(fs::is_directory(results + "/subdir"));
  EXPECT_TRUE(fs::is_symlink(results + "/link.json"));

  // A second sweep finds nothing.
  auto again = sweep_orphans(*store, params);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->files, 0u);
  EXPECT_EQ(again->bytes, 0u);
}

TEST_F(StateSweep, KnownVoicesClipsLiveAsLongAsTheirInput) {
  const std::string in = file(uploads, "Q.upload", 10, 1h);
  submit(in);
  const std::string clip0 = file(uploads, "Q.upload.speaker0", 5, 1h);
  const std::string clip9 = file(uploads, "Q.upload.speaker9", 5, 1h);
  // A clip whose upload was refused or purged (its input gone from every job).
  const std::string orphan = file(uploads, "GONE.upload.speaker0", 6, 1h);
  auto r = sweep_orphans(*store, params);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->files, 1u);
  EXPECT_FALSE(fs::exists(orphan));
  for (const auto& kept : {in, clip0, clip9}) EXPECT_TRUE(fs::exists(kept)) << kept;
}

TEST_F(StateSweep, MatchesByFileNameWhateverTheStateDirWasCalled) {
  // Recorded under another spelling of the same directory (relative, doubled slash).
  const std::string in = file(uploads, "C.upload", 10, 1h);
  submit("some/other/prefix//uploads/C.upload");
  auto r = sweep_orphans(*store, params);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->files, 0u);
  EXPECT_TRUE(fs::exists(in));
}

TEST_F(StateSweep, PurgedJobsFilesBecomeOrphans) {
  const std::string in = file(uploads, "D.upload", 64, 1h);
  const std::string id = submit(in);
  ASSERT_TRUE(store->cancel(id));
  // Row gone, files not: the crash between purge() and the caller's removal.
  auto p = store->purge(jobs::now_ms() + 1h);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->jobs, 1);
  auto r = sweep_orphans(*store, params);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->files, 1u);
  EXPECT_EQ(r->bytes, 64u);
  EXPECT_FALSE(fs::exists(in));
}

TEST_F(StateSweep, UploadsInFlightStayHoweverOld) {
  InFlightFiles in_flight;
  params.in_flight = &in_flight;
  const std::string slow = file(uploads, "01SLOWCLIENT.upload", 10, 1h);
  {
    InFlightGuard g(&in_flight, slow);
    auto r = sweep_orphans(*store, params);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->files, 0u);
    EXPECT_TRUE(fs::exists(slow));
  }
  // Let go without a job referring to it (the upload failed after all): an orphan now.
  auto r = sweep_orphans(*store, params);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->files, 1u);
  EXPECT_FALSE(fs::exists(slow));
}

TEST_F(StateSweep, GraceIsAParameterAndMissingDirsAreNoError) {
  params.grace = 0s;
  params.dirs.push_back(state + "/does-not-exist");
  const std::string fresh = file(uploads, "01FRESH.upload", 5, 0s);
  auto r = sweep_orphans(*store, params);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->files, 1u);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_FALSE(fs::exists(fresh));
}

TEST_F(StateSweep, StoreReportsEveryJobsFilesAndIds) {
  const std::string a = submit(uploads + "/E.upload");
  const std::string b = submit(uploads + "/F.upload");
  auto j = store->claim_next({"node", 1}, 60s);
  ASSERT_TRUE(j && *j);
  ASSERT_TRUE(
      store->complete((*j)->id, (*j)->lease(), {"", results + "/" + (*j)->id + ".json", 0}));
  auto refs = store->file_references();
  ASSERT_TRUE(refs) << refs.error().message;
  EXPECT_EQ(refs->ids.size(), 2u);
  EXPECT_NE(std::find(refs->ids.begin(), refs->ids.end(), a), refs->ids.end());
  EXPECT_NE(std::find(refs->ids.begin(), refs->ids.end(), b), refs->ids.end());
  EXPECT_EQ(refs->paths.size(), 3u);  // two inputs, one result; empty result paths are left out
}

}  // namespace
}  // namespace soroka::service
