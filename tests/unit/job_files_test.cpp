// A job's files in the state dir: exactly those its row and params name are removed, once or
// again after a purge, and no other job's.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "service/job_params.h"

namespace soroka {
namespace {

namespace fs = std::filesystem;

class JobFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "soroka-job-files-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string touch(const std::string& name) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << "x";
    return p;
  }
  // Params of a job with `known` voices, as the API stores them.
  static std::string params_with(std::size_t known) {
    service::JobParams p;
    p.diarize = pipeline::SpeakerRequest{};
    for (std::size_t i = 0; i < known; ++i) p.diarize->known.push_back({"v" + std::to_string(i), "clip"});
    return service::to_json(p);
  }
  std::string dir_;
};

TEST_F(JobFiles, InputFilesAreTheInputAndTheClipsItsParamsName) {
  const std::string in = dir_ + "/a.upload";
  EXPECT_EQ(service::input_files(in, params_with(2)),
            (std::vector<std::string>{in, in + ".speaker0", in + ".speaker1"}));
  EXPECT_EQ(service::input_files(in, "{}"), std::vector<std::string>{in});
  EXPECT_EQ(service::input_files(in, "not json"), std::vector<std::string>{in});  // only what is known
  EXPECT_TRUE(service::input_files("", params_with(1)).empty());
}

TEST_F(JobFiles, APurgedJobsRemovalNeitherErrsNorTouchesOtherJobs) {
  // Job A: an input, two clips, a result. Job B: files whose names start like A's.
  const std::string a_in = touch("a.upload");
  touch("a.upload.speaker0");
  touch("a.upload.speaker1");
  const std::string a_out = touch("a.json");
  const std::string b_in = touch("a.upload2");
  const std::string b_clip = touch("a.upload2.speaker0");
  const std::string b_out = touch("a.json.speaker0");  // were A's result taken for an input
  const std::string stray = touch("a.upload.speaker5");  // no job's clip: the sweep's to judge
  const jobs::PurgedJob a{a_in, a_out, params_with(2)};

  ASSERT_TRUE(service::remove_purged(a));
  for (const auto& gone : service::input_files(a_in, a.params)) EXPECT_FALSE(fs::exists(gone)) << gone;
  EXPECT_FALSE(fs::exists(a_out));
  for (const auto& kept : {b_in, b_clip, b_out, stray}) EXPECT_TRUE(fs::exists(kept)) << kept;

  // Its input went when it ended; the purge later finds nothing left: not an error.
  auto again = service::remove_purged(a);
  EXPECT_TRUE(again) << again.error().message;
  auto input_again = service::remove_input(a_in, a.params);
  EXPECT_TRUE(input_again) << input_again.error().message;
  for (const auto& kept : {b_in, b_clip, b_out, stray}) EXPECT_TRUE(fs::exists(kept)) << kept;
}

TEST_F(JobFiles, AFileThatCannotBeRemovedIsAnError) {
  const std::string sub = dir_ + "/ro";
  fs::create_directory(sub);
  std::ofstream(sub + "/c.upload") << "x";
  ::chmod(sub.c_str(), 0555);
  auto r = service::remove_input(sub + "/c.upload", "{}");
  ::chmod(sub.c_str(), 0755);
  if (::geteuid() == 0) GTEST_SKIP() << "root removes it anyway";
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("c.upload"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace soroka
