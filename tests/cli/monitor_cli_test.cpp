// CLI table tests for `soroka monitor`: arguments -> exit code, stdout, stderr.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/run.h"

namespace soroka {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  std::vector<std::string> args;
  std::vector<std::string> env;
  int exit_code;
  std::string stdout_has;  // substring expected on stdout ("" = don't check)
  std::string stderr_has;  // substring expected on stderr
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class MonitorCli : public ::testing::TestWithParam<Case> {};

TEST_P(MonitorCli, Table) {
  const Case& c = GetParam();
  std::vector<std::string> argv{SOROKA_BINARY};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  // Keep a developer's own config out of the way: HOME and XDG point to nowhere.
  std::vector<std::string> env{"HOME=/nonexistent", "XDG_CONFIG_HOME=/nonexistent"};
  env.insert(env.end(), c.env.begin(), c.env.end());
  auto r = test::run(argv, env, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, c.exit_code) << "stdout: " << r.out << "\nstderr: " << r.err;
  if (!c.stdout_has.empty()) EXPECT_NE(r.out.find(c.stdout_has), std::string::npos) << r.out;
  if (!c.stderr_has.empty()) EXPECT_NE(r.err.find(c.stderr_has), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Arguments, MonitorCli,
    ::testing::Values(
        Case{"no_subcommand", {}, {}, 64, "", "subcommand"},
        Case{"help", {"--help"}, {}, 0, "monitor", ""},
        Case{"monitor_help", {"monitor", "--help"}, {}, 0, "--check-oom", ""},
        Case{"version", {"--version"}, {}, 0, "soroka", ""},
        Case{"unknown_flag", {"monitor", "--bogus"}, {}, 64, "", "--bogus"},
        Case{"once_excludes_interval", {"monitor", "--once", "--interval", "1"}, {}, 64, "",
             "excludes"},
        Case{"interval_must_be_positive", {"monitor", "--interval", "0"}, {}, 64, "", "interval"},
        Case{"pid_must_be_positive", {"monitor", "--once", "--pid", "0"}, {}, 64, "", "pid"},
        Case{"cgroup_excludes_pid", {"monitor", "--once", "--pid", "1", "--cgroup", "/"}, {}, 64,
             "", "excludes"},
        Case{"no_such_process", {"monitor", "--once", "--pid", "999999999"}, {}, 1, "",
             "soroka: no process 999999999"},
        Case{"no_such_cgroup", {"monitor", "--once", "--cgroup", "/soroka-does-not-exist"}, {}, 1,
             "", "no memory cgroup '/soroka-does-not-exist'"},
        Case{"relative_cgroup", {"monitor", "--once", "--cgroup", "system.slice"}, {}, 1, "",
             "must start with '/'"},
        Case{"once_human", {"monitor", "--once"}, {}, 0, "used", ""},
        Case{"once_json", {"monitor", "--once", "--json"}, {}, 0, "\"level\":", ""},
        Case{"bad_env_value", {"monitor", "--once"}, {"SOROKA_MEMORY_WARNING_PERCENT=lots"}, 64,
             "", "SOROKA_MEMORY_WARNING_PERCENT"},
        Case{"env_warning_above_critical", {"monitor", "--once"},
             {"SOROKA_MEMORY_WARNING_PERCENT=97"}, 64, "", "critical_percent"},
        Case{"bad_env_size", {"monitor", "--once"}, {"SOROKA_MEMORY_MIN_AVAILABLE=12 parsecs"},
             64, "", "\"12 parsecs\""},
        Case{"missing_config", {"--config", "/nonexistent/soroka.toml", "monitor", "--once"}, {},
             64, "", "/nonexistent/soroka.toml"},
        // After the subcommand too, as the systemd unit writes `soroka serve --config FILE`.
        Case{"missing_config_after_subcommand",
             {"monitor", "--once", "--config", "/nonexistent/after.toml"}, {}, 64, "",
             "/nonexistent/after.toml"},
        Case{"missing_config_after_serve", {"serve", "--config", "/nonexistent/serve.toml"}, {},
             64, "", "/nonexistent/serve.toml"},
        Case{"missing_config_env", {"monitor", "--once"},
             {"SOROKA_CONFIG=/nonexistent/from-env.toml"}, 64, "", "/nonexistent/from-env.toml"},
        Case{"continuous_count", {"monitor", "--interval", "0.05", "--count", "3"}, {}, 0,
             "used", ""}),
    [](const auto& info) { return info.param.name; });

TEST(MonitorCliOutput, OnceJsonHasEveryDocumentedField) {
  auto r = test::run({SOROKA_BINARY, "monitor", "--once", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"level", "source", "limit_bytes", "used_bytes", "available_bytes",
                        "used_percent", "thresholds", "system", "cgroup", "process", "psi"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_TRUE(j["level"] == "normal" || j["level"] == "warning" || j["level"] == "critical");
  EXPECT_EQ(j["thresholds"]["warning_percent"], 85.0);
  EXPECT_EQ(j["thresholds"]["critical_percent"], 95.0);
  EXPECT_EQ(j["thresholds"]["min_available_bytes"], 200 * 1024 * 1024);
  for (const char* k : {"total_bytes", "available_bytes", "swap_total_bytes", "swap_free_bytes"})
    EXPECT_TRUE(j["system"].contains(k)) << k;
  EXPECT_GT(j["limit_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_LE(j["available_bytes"].get<std::uint64_t>(), j["limit_bytes"].get<std::uint64_t>());
  EXPECT_LE(j["available_bytes"].get<std::uint64_t>(),
            j["system"]["available_bytes"].get<std::uint64_t>());
  ASSERT_TRUE(j["process"].is_object());
  EXPECT_GT(j["process"]["rss_bytes"].get<std::uint64_t>(), 0u);
}

TEST(MonitorCliOutput, ContinuousJsonLinesAreOnePerSample) {
  auto r = test::run({SOROKA_BINARY, "monitor", "--json", "--interval", "0.05", "--count", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int lines = 0;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    auto nl = r.out.find('\n', pos);
    auto j = nlohmann::json::parse(r.out.substr(pos, nl - pos));
    EXPECT_EQ(j["event"], "sample");
    ++lines;
    pos = nl + 1;
  }
  EXPECT_EQ(lines, 4);
}

TEST(MonitorCliOutput, NoColourWhenNotATerminal) {
  auto r = test::run({SOROKA_BINARY, "monitor", "--once"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
}

TEST(MonitorCliOutput, ConfigFileErrorsNameKeyAndValue) {
  auto dir = fs::temp_directory_path() / ("soroka-cli-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  auto unknown = write("unknown.toml", "[memory]\nwarning_percnt = 80\n");
  auto r1 = test::run({SOROKA_BINARY, "--config", unknown, "monitor", "--once"});
  EXPECT_EQ(r1.exit_code, 64);
  EXPECT_NE(r1.err.find("memory.warning_percnt"), std::string::npos) << r1.err;

  auto bad = write("bad.toml", "[memory]\ncritical_percent = 120\n");
  auto r2 = test::run({SOROKA_BINARY, "--config", bad, "monitor", "--once"});
  EXPECT_EQ(r2.exit_code, 64);
  EXPECT_NE(r2.err.find("memory.critical_percent"), std::string::npos) << r2.err;
  EXPECT_NE(r2.err.find("120"), std::string::npos) << r2.err;

  auto good = write("good.toml", "[memory]\nwarning_percent = 70\nmin_available = \"64MiB\"\n");
  auto r3 = test::run({SOROKA_BINARY, "--config", good, "monitor", "--once", "--json"});
  ASSERT_EQ(r3.exit_code, 0) << r3.err;
  auto j = nlohmann::json::parse(r3.out);
  EXPECT_LE(j["thresholds"]["warning_percent"].get<double>(), 70.0);
  EXPECT_EQ(j["thresholds"]["min_available_bytes"], 64 * 1024 * 1024);

  // The environment overrides the file.
  auto r4 = test::run({SOROKA_BINARY, "--config", good, "monitor", "--once", "--json"},
                      {"SOROKA_MEMORY_MIN_AVAILABLE=32MiB"});
  ASSERT_EQ(r4.exit_code, 0) << r4.err;
  EXPECT_EQ(nlohmann::json::parse(r4.out)["thresholds"]["min_available_bytes"], 32 * 1024 * 1024);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace soroka
