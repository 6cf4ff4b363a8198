// Regression tests for what the fuzz targets (fuzz/) found: each input, trimmed to its point.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "config/settings.h"
#include "util/units.h"
#include "oomguard/probe/cgroup_locate.h"
#include "oomguard/probe/meminfo.h"
#include "oomguard/probe/process.h"
#include "oomguard/probe/psi.h"
#include "service/job_params.h"

namespace soroka {
namespace {

using namespace oomguard;

// meminfo_fuzz: "MemFree: 71322631598738999 kB" wrapped to a small byte count (x1024 mod 2^64)
// instead of being refused.
TEST(FuzzFindings, MeminfoKbOverflowIsMalformed) {
  auto m = parse_meminfo("MemTotal: 2048000 kB\nMemFree: 71322631598738999 kB\n");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, EINVAL);
  // The largest count that fits still parses.
  auto edge = parse_meminfo("MemTotal: 18014398509481983 kB\nMemFree: 1 kB\n");
  ASSERT_TRUE(edge);
  EXPECT_EQ(edge->total_bytes, 18014398509481983ull * 1024);
}

// process_fuzz: statm resident pages x page size, and status/smaps_rollup kB lines, wrapped.
TEST(FuzzFindings, ProcessCountsThatOverflowAreMalformed) {
  EXPECT_FALSE(parse_statm_rss("1 444444444444444 0 0 0 0 0\n", 65536));
  auto ok = parse_statm_rss("1 281474976710655 0 0 0 0 0\n", 65536);  // 2^48 - 1 pages
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 281474976710655ull * 65536);
  EXPECT_FALSE(parse_proc_status("VmRSS:\t44444444444444444 kB\n"));
  EXPECT_FALSE(parse_smaps_rollup("Rss:  44444444444444444 kB\n"));
}

// psi_fuzz: "some avg10=1.27 avg60=0.5075 avg60=0.25 a<g60=00.75 avg60=65432" was accepted:
// avg60 three times (standing in for the missing avg300) and 65432 %.
TEST(FuzzFindings, PsiAveragesArePercentagesGivenOnce) {
  EXPECT_FALSE(parse_psi("some avg10=1.27 avg60=0.50 avg60=0.25 avg60=65432 total=1\n"));
  EXPECT_FALSE(parse_psi("some avg10=1.27 avg60=0.50 avg60=0.25 total=1\n"));  // no avg300
  EXPECT_FALSE(parse_psi("some avg10=100.01 avg60=0 avg300=0 total=1\n"));
  EXPECT_FALSE(parse_psi("some avg10=-0.5 avg60=0 avg300=0 total=1\n"));
  EXPECT_FALSE(parse_psi("some avg10=nan avg60=0 avg300=0 total=1\n"));
  EXPECT_FALSE(parse_psi("some avg10=inf avg60=0 avg300=0 total=1\n"));
  EXPECT_FALSE(parse_psi("some avg10=0 avg60=0 avg300=0 total=1 total=2\n"));
  auto full = parse_psi("some avg10=100.00 avg60=0 avg300=0 total=1\n");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->some.avg10, 100.0);
  // A field a later kernel might add is still skipped.
  EXPECT_TRUE(parse_psi("some avg10=0 avg60=0 avg300=0 avg900=0.5 total=1\n"));
}

// proc_cgroup_fuzz: "-6:freezer:/" was accepted; an id beyond int could wrap to 0 and make a
// v1 line ("4294967296::/x") pass for the v2 one.
TEST(FuzzFindings, CgroupHierarchyIdsAreNonNegativeInts) {
  EXPECT_FALSE(parse_proc_cgroup("-6:freezer:/\n"));
  EXPECT_FALSE(parse_proc_cgroup("4294967296::/x\n"));
  auto ok = parse_proc_cgroup("2147483647:memory:/a\n0::/b\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].hierarchy_id, 2147483647);
}

// units_fuzz: "1233TB" is 1.1 PiB, which format_size printed and parse_size could not read;
// fractional sizes past 2^63 went through llround (long long) and came out as 2^63.
TEST(FuzzFindings, EveryPrintedSizeReadsBack) {
  for (std::uint64_t v : {1233000000000000ull, 1ull << 50, 3ull << 60, 18000000000000000000ull}) {
    auto back = parse_size(format_size(v));
    ASSERT_TRUE(back) << format_size(v);
    EXPECT_NEAR(static_cast<double>(*back), static_cast<double>(v), static_cast<double>(v) * 0.05);
  }
  EXPECT_EQ(parse_size("1PiB"), 1ull << 50);
  EXPECT_EQ(parse_size("2 EiB"), 2ull << 60);
  EXPECT_EQ(parse_size("3PB"), 3000000000000000ull);
  EXPECT_EQ(parse_size("9300000000000000000.0"), 9300000000000000000ull);
  EXPECT_EQ(parse_size("16 E"), std::nullopt);  // 2^64: out of range
}

// settings_env_fuzz: SOROKA_MONITOR_POLL_INTERVAL_MS=9991019999999101 (and anything up to
// 2^64 - 1, which wrapped negative in std::chrono::milliseconds) was accepted; steady_clock
// arithmetic on it overflows int64 nanoseconds, undefined behaviour.
TEST(FuzzFindings, DurationsAreBoundedSoClockArithmeticCannotOverflow) {
  Settings s;
  auto env = apply_env(s, {{"SOROKA_MONITOR_POLL_INTERVAL_MS", "9991019999999101"}});
  ASSERT_FALSE(env);
  EXPECT_NE(env.error().message.find("100 years"), std::string::npos) << env.error().message;
  EXPECT_FALSE(apply_env(s, {{"SOROKA_JOBS_RETENTION_MS", "18446744073709551615"}}));
  EXPECT_FALSE(apply_toml(s, "[monitor]\npsi_window_us = 9223372036854775807\n", "t.toml"));
  // 100 years is the limit, inclusive.
  Settings t;
  EXPECT_TRUE(apply_toml(t, "[jobs]\nretention_ms = 3153600000000\n", "t.toml"));
  EXPECT_FALSE(apply_toml(t, "[jobs]\nretention_ms = 3153600000001\n", "t.toml"));
}

// job_params_fuzz: {"language":11.5} made nlohmann's value() throw type_error out of
// parse_job_params (the scheduler's dispatch thread: the service would have ended).
TEST(FuzzFindings, JobParamsOfTheWrongTypeAreAnError) {
  auto p = service::parse_job_params(R"({"model":"pocketsphinx","language":11.5})");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, EINVAL);
  EXPECT_FALSE(service::parse_job_params(R"({"duration_s":"12"})"));
  EXPECT_FALSE(service::parse_job_params(R"({"model":null})"));
  // A duration the memory estimate cannot convert (x 8 KiB/s to an integer) is refused.
  EXPECT_FALSE(service::parse_job_params(R"({"duration_s":1e300})"));
  EXPECT_FALSE(service::parse_job_params(R"({"duration_s":-1})"));
  auto ok = service::parse_job_params(R"({"language":"ru","duration_s":12.5})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->language, "ru");
  EXPECT_EQ(ok->model, "pocketsphinx");  // absent: the default
  EXPECT_EQ(ok->duration_s, 12.5);
}

// transcript_fuzz: a word {"end":"hello"} (and any field of the wrong type, or a segment
// that is not an object) threw type_error out of read_transcript_file.
TEST(FuzzFindings, ResultFileOfTheWrongShapeIsAnError) {
  auto t = service::parse_transcript(
      R"({"segments":[{"start":0.1,"end":1.9,"text":"hi","words":[{"start":0.1,"end":"hello"}]}]})",
      "r.json");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, EPROTO);
  EXPECT_FALSE(service::parse_transcript(R"({"segments":[1]})", "r.json"));
  EXPECT_FALSE(service::parse_transcript(R"({"duration_s":"4.2"})", "r.json"));
  auto ok = service::parse_transcript(
      R"({"duration_s":4.2,"segments":[{"start":0.1,"end":1.9,"text":"hi",)"
      R"("words":[{"start":0.1,"end":0.8,"word":"hi"}]}]})",
      "r.json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->segments.size(), 1u);
  ASSERT_EQ(ok->segments[0].words.size(), 1u);
  EXPECT_EQ(ok->segments[0].words[0].text, "hi");
  EXPECT_EQ(ok->duration_s, 4.2);
}

}  // namespace
}  // namespace soroka
