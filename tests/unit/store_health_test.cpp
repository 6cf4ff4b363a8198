// StoreHealth and HealthCheckedQueue: storage failures degrade, a commit restores; durable files.
#include "service/store_health.h"

#include <sys/mount.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "util/durable.h"
#include "util/file_reader.h"

namespace soroka {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "soroka-health-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(StoreHealth, StorageErrorsAreTheOnesThatAreNotAboutTheRequest) {
  struct Case {
    int code;
    bool storage;
  };
  for (auto c : {Case{ENOSPC, true}, Case{EIO, true}, Case{EBUSY, true}, Case{EROFS, true},
                 Case{ENOMEM, true}, Case{ENOENT, false}, Case{ESTALE, false}, Case{EINVAL, false}})
    EXPECT_EQ(service::is_storage_error(c.code), c.storage) << std::strerror(c.code);
}

TEST(StoreHealth, DegradedFromTheFirstFailureUntilTheNextCommit) {
  service::StoreHealth h;
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.reason(), "");
  h.record_success("heartbeat");  // healthy stays healthy
  h.record_failure("complete", "JOB1", Error{ENOSPC, "database or disk is full"});
  h.record_failure("heartbeat", "JOB1", Error{ENOSPC, "database or disk is full"});
  EXPECT_FALSE(h.healthy());
  const std::string why = h.reason();
  EXPECT_NE(why.find("2 in a row"), std::string::npos) << why;
  EXPECT_NE(why.find("heartbeat of job JOB1: database or disk is full"), std::string::npos) << why;
  h.record_success("complete");
  EXPECT_TRUE(h.healthy());
  EXPECT_EQ(h.reason(), "");
  EXPECT_EQ(h.failures_total(), 2u);
  h.record_failure("purge", "", Error{EIO, "disk I/O error"});
  EXPECT_NE(h.reason().find("1 in a row"), std::string::npos) << h.reason();
}

// Another connection holds the write lock past our busy timeout: a real storage failure
// (EBUSY) of a real store, without faking the store.
TEST(StoreHealth, CheckedQueueDegradesOnAStorageFailureNotOnAStaleLease) {
  ScratchDir dir;
  auto p = jobs::default_sqlite_params(dir.file("jobs.sqlite"));
  p.busy_timeout = 50ms;
  auto mine = jobs::SqliteJobStore::open(p);
  ASSERT_TRUE(mine) << mine.error().message;
  service::StoreHealth health;
  service::Metrics metrics;
  service::HealthCheckedQueue q(**mine, health, metrics);

  // Not storage: no such job. Health and the counter stay as they are.
  auto hb = q.heartbeat("no-such-job", jobs::Lease{{"n", 1}, 1}, 1min);
  ASSERT_FALSE(hb);
  EXPECT_EQ(hb.error().code, ENOENT);
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(metrics.store_errors.load(), 0u);

  std::promise<void> locked, release;
  auto other_params = jobs::default_sqlite_params(dir.file("jobs.sqlite"));
  other_params.before_commit = [&](std::string_view) {
    locked.set_value();
    release.get_future().wait();
  };
  auto other = jobs::SqliteJobStore::open(other_params);
  ASSERT_TRUE(other) << other.error().message;
  std::thread holder([&] { (void)(*other)->submit(jobs::JobSpec{}); });
  locked.get_future().wait();
  auto r = q.submit(jobs::JobSpec{});
  release.set_value();
  holder.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EBUSY) << r.error().message;
  EXPECT_FALSE(health.healthy());
  EXPECT_NE(health.reason().find("submit"), std::string::npos) << health.reason();
  EXPECT_EQ(metrics.store_errors.load(), 1u);

  // A claim of an empty queue writes nothing and proves nothing; the next commit does.
  ASSERT_TRUE(q.submit(jobs::JobSpec{}));
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(metrics.store_errors.load(), 1u);
}

TEST(Durable, WriteFileReplacesWholeAndLeavesNoPartial) {
  ScratchDir dir;
  const std::string f = dir.file("result.json");
  ASSERT_TRUE(durable::write_file(f, "first"));
  ASSERT_TRUE(durable::write_file(f, "second, longer"));
  auto text = read_file(f);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "second, longer");
  EXPECT_FALSE(fs::exists(f + ".partial"));
  EXPECT_TRUE(durable::sync_file_and_dir(f));
  auto missing = durable::write_file(dir.file("no/such/dir/x"), "x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_FALSE(durable::sync_dir(dir.file("nope")));
}

TEST(Durable, FreeSpaceFloorDecision) {
  constexpr std::uint64_t M = 1 << 20;
  EXPECT_TRUE(durable::fits_above_floor(100 * M, 36 * M, 64 * M));
  EXPECT_FALSE(durable::fits_above_floor(100 * M, 37 * M, 64 * M));
  EXPECT_FALSE(durable::fits_above_floor(10 * M, 0, 64 * M));  // already below the floor
  EXPECT_TRUE(durable::fits_above_floor(10 * M, 10 * M, 0));
  EXPECT_FALSE(durable::fits_above_floor(10 * M, 10 * M + 1, 0));
  EXPECT_TRUE(durable::fits_above_floor(UINT64_MAX, UINT64_MAX - 1, 1));

  ScratchDir dir;
  auto free = durable::free_bytes(dir.path());
  ASSERT_TRUE(free) << free.error().message;
  EXPECT_GT(*free, 0u);
  EXPECT_TRUE(durable::check_room(dir.path(), 0, 0));
  auto refused = durable::check_room(dir.path(), 1, *free);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ENOSPC);
  EXPECT_NE(refused.error().message.find("jobs.min_free_disk"), std::string::npos);
  EXPECT_FALSE(durable::free_bytes(dir.file("nope")));
}

TEST(Durable, AFullFileSystemFailsTheWriteAndGetsItsSpaceBack) {
  ScratchDir dir;
  if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  auto before = durable::free_bytes(dir.path());
  ASSERT_TRUE(before);
  auto r = durable::write_file(dir.file("big"), std::string(128 * 1024, 'x'));
  auto after = durable::free_bytes(dir.path());
  ::umount2(dir.path().c_str(), MNT_DETACH);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOSPC) << r.error().message;
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *before) << "the partial file was removed";
}

}  // namespace
}  // namespace soroka
