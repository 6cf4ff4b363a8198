// FileReader: whole files in as few preads as proven safe, on regular files and kernel seq_files.
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "util/file_reader.h"
#include "util/parse.h"

namespace soroka {
namespace {

namespace fs = std::filesystem;

class TempFile {
 public:
  TempFile() {
    std::string tmpl = (fs::temp_directory_path() / "soroka-file-reader-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("mkstemp");
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  void write(const std::string& text) const { std::ofstream(path_, std::ios::trunc) << text; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Read syscalls this process has made (/proc/self/io syscr), or -1 without task I/O accounting.
long read_syscalls(FileReader& io) {
  auto text = io.read();
  if (!text) return -1;
  auto v = parse::keyed_u64(*text, "syscr:");
  return v ? static_cast<long>(*v) : -1;
}

TEST(FileReader, ShortAndLongRegularFilesComeWholeAndFresh) {
  TempFile f;
  f.write("12345\n");
  auto r = FileReader::open(f.path());
  ASSERT_TRUE(r) << r.error().message;
  auto a = r->read();
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, "12345\n");
  // Rewritten: the next read sees the new text, shorter or longer than kWholeBelow.
  f.write("7\n");
  EXPECT_EQ(*r->read(), "7\n");
  const std::string longer(FileReader::kBufferSize - 1, 'x');
  f.write(longer);
  auto b = r->read();
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(*b, longer);
  const std::string edge(FileReader::kWholeBelow, 'y');
  f.write(edge);
  EXPECT_EQ(*r->read(), edge);
}

TEST(FileReader, AFileThatFillsTheBufferIsAnError) {
  TempFile f;
  f.write(std::string(FileReader::kBufferSize, 'x'));
  auto r = FileReader::open(f.path());
  ASSERT_TRUE(r);
  auto t = r->read();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, EFBIG);
}

TEST(FileReader, ShortKernelFilesCostOneReadEach) {
  auto io = FileReader::open("/proc/self/io");
  if (!io) GTEST_SKIP() << "no /proc/self/io (CONFIG_TASK_IO_ACCOUNTING): " << io.error().message;
  auto meminfo = FileReader::open("/proc/meminfo");
  auto statm = FileReader::open("/proc/self/statm");
  ASSERT_TRUE(meminfo && statm);
  const long before = read_syscalls(*io);
  ASSERT_GE(before, 0);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(meminfo->read());
    ASSERT_TRUE(statm->read());
  }
  // 200 reads and the second look at /proc/self/io (was 400: a pread returning 0 after each).
  EXPECT_EQ(read_syscalls(*io) - before, 201);
}

// In a child with its own mount namespace (root only): 60 tmpfs mounts make
// /proc/self/mountinfo, a seq_file of one record a mount, ~7 KiB. The kernel hands it out a
// page of records at a time, so the first pread is short and above kWholeBelow: read() must
// go on to the end. Exit codes: 0 whole, 2 set-up failed, 3 not split, 4 not whole.
int mountinfo_child(const std::string& dir) {
  if (::unshare(CLONE_NEWNS) != 0) return 2;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 2;
  for (int i = 0; i < 60; ++i)
    if (::mount("soroka-test", dir.c_str(), "tmpfs", 0, "size=4k") != 0) return 2;
  auto whole = read_file("/proc/self/mountinfo");
  auto r = FileReader::open("/proc/self/mountinfo");
  if (!whole || !r) return 2;
  static char raw[FileReader::kBufferSize];
  const ssize_t first = ::pread(r->fd(), raw, sizeof raw, 0);
  if (first <= static_cast<ssize_t>(FileReader::kWholeBelow) ||
      static_cast<std::size_t>(first) >= whole->size())
    return 3;
  auto text = r->read();
  return text && *text == *whole ? 0 : 4;
}

TEST(FileReader, MultiRecordSeqFileLongerThanAPageComesWhole) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a mount namespace";
  std::string dir = (fs::temp_directory_path() / "soroka-mounts-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(mountinfo_child(dir));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::rmdir(dir.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "no mount namespace here";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace soroka
