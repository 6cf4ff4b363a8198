// Unit tests of configuration: TOML keys, sizes, SOROKA_* overrides, precedence, error messages.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/settings.h"
#include "util/units.h"
#include "support/fixture.h"

namespace soroka {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
using Env = std::map<std::string, std::string>;

// Asserts that `r` failed and that its message contains every fragment.
template <class R>
void expect_error_mentions(const R& r, std::initializer_list<std::string_view> fragments) {
  ASSERT_FALSE(r) << "expected an error";
  for (auto f : fragments)
    EXPECT_NE(r.error().message.find(f), std::string::npos)
        << "'" << f << "' missing from: " << r.error().message;
}

// ---------------------------------------------------------------- sizes

TEST(ParseSize, UnitsAsSystemdAndSi) {
  struct Case {
    const char* text;
    std::uint64_t bytes;
  };
  const Case cases[] = {
      {"123", 123},          {"123B", 123},         {"512K", 512 * 1024},   {"512KiB", 512 * 1024},
      {"200M", 200 * MiB},   {"200MiB", 200 * MiB}, {"100MB", 100'000'000}, {"1G", 1073741824},
      {"1GiB", 1073741824},  {"1.5G", 1610612736},  {"1.5GiB", 1610612736}, {"2GB", 2'000'000'000},
      {"2T", 2199023255552}, {"0.5K", 512},         {" 10 MiB ", 10 * MiB}, {"0", 0},
  };
  for (const auto& c : cases) {
    auto v = parse_size(c.text);
    ASSERT_TRUE(v) << c.text;
    EXPECT_EQ(*v, c.bytes) << c.text;
  }
}

TEST(ParseSize, MalformedIsNullopt) {
  for (const char* bad : {"", " ", "MiB", "-5M", "1.5.2G", "10mb", "10 XB", "1e3", "G1", ".",
                          "12 34", "99999999T", "18446744073709551616", "0x10"})
    EXPECT_FALSE(parse_size(bad)) << "accepted: '" << bad << "'";
}

TEST(FormatSize, HumanReadable) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(200 * MiB), "200.0 MiB");
  EXPECT_EQ(format_size(1610612736), "1.5 GiB");
}

// ---------------------------------------------------------------- TOML

TEST(ApplyToml, DefaultsMatchTheGuide) {
  Settings s;
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.warning_percent, 85.0);
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.critical_percent, 95.0);
  EXPECT_EQ(s.monitor.thresholds.min_available_bytes, 200 * MiB);
  EXPECT_EQ(s.admission.max_file_bytes, 100 * MiB);
  EXPECT_EQ(s.log_level, "info");
}

TEST(ApplyToml, EveryKindOfKey) {
  Settings s;
  auto r = apply_toml(s, R"(
[memory]
warning_percent = 80
critical_percent = 92.5
min_available = "256MiB"
hysteresis_percent = 3
max_file_size = "1.5G"

[monitor]
poll_interval_ms = 250
fast_poll_interval_ms = 50
rescan_interval_ms = 10000
cgroup_v1_thresholds = false
psi_trigger = false
psi_stall_us = 100000
psi_window_us = 2000000
trim_heap = false

[log]
level = "debug"
)",
                      "test.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.warning_percent, 80.0);
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.critical_percent, 92.5);
  EXPECT_EQ(s.monitor.thresholds.min_available_bytes, 256 * MiB);
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.hysteresis_percent, 3.0);
  EXPECT_EQ(s.admission.max_file_bytes, 1610612736u);
  EXPECT_EQ(s.monitor.poll_interval.count(), 250);
  EXPECT_EQ(s.monitor.fast_poll_interval.count(), 50);
  EXPECT_EQ(s.monitor.rescan_interval.count(), 10000);
  EXPECT_FALSE(s.monitor.use_v1_thresholds);
  EXPECT_TRUE(s.monitor.use_v2_events);  // untouched default
  EXPECT_FALSE(s.monitor.use_psi_trigger);
  EXPECT_EQ(s.monitor.psi_stall.count(), 100000);
  EXPECT_EQ(s.monitor.psi_window.count(), 2000000);
  EXPECT_FALSE(s.monitor.trim_heap);
  EXPECT_EQ(s.log_level, "debug");
}

TEST(ApplyToml, SizesAsIntegersOrStrings) {
  Settings s;
  ASSERT_TRUE(apply_toml(s, "[memory]\nmin_available = 1048576\n", "t"));
  EXPECT_EQ(s.monitor.thresholds.min_available_bytes, 1048576u);
  ASSERT_TRUE(apply_toml(s, "[memory]\nmin_available = \"100MB\"\n", "t"));
  EXPECT_EQ(s.monitor.thresholds.min_available_bytes, 100'000'000u);
  ASSERT_TRUE(apply_toml(s, "[memory]\nmin_available = \"200MiB\"\n", "t"));
  EXPECT_EQ(s.monitor.thresholds.min_available_bytes, 200 * MiB);
}

TEST(ApplyToml, UnknownKeyNamesTheKey) {
  Settings s;
  expect_error_mentions(apply_toml(s, "[memory]\nwarning_percnt = 80\n", "/etc/soroka/soroka.toml"),
                        {"/etc/soroka/soroka.toml", "unknown key", "memory.warning_percnt"});
  expect_error_mentions(apply_toml(s, "[gpu]\nlayers = 3\n", "x.toml"), {"gpu.layers"});
}

TEST(ApplyToml, KeyOutsideASectionIsAnError) {
  Settings s;
  expect_error_mentions(apply_toml(s, "warning_percent = 80\n", "x.toml"),
                        {"warning_percent", "[section]"});
}

TEST(ApplyToml, InvalidValueNamesKeyAndValue) {
  Settings s;
  expect_error_mentions(apply_toml(s, "[memory]\nwarning_percent = \"lots\"\n", "x.toml"),
                        {"x.toml", "memory.warning_percent", "lots"});
  expect_error_mentions(apply_toml(s, "[memory]\nwarning_percent = 140\n", "x.toml"),
                        {"memory.warning_percent", "140"});
  expect_error_mentions(apply_toml(s, "[memory]\nmin_available = \"12 parsecs\"\n", "x.toml"),
                        {"memory.min_available", "12 parsecs"});
  expect_error_mentions(apply_toml(s, "[memory]\nmin_available = -1\n", "x.toml"),
                        {"memory.min_available", "-1"});
  expect_error_mentions(apply_toml(s, "[monitor]\npoll_interval_ms = 0\n", "x.toml"),
                        {"monitor.poll_interval_ms", "0"});
  expect_error_mentions(apply_toml(s, "[monitor]\ntrim_heap = \"perhaps\"\n", "x.toml"),
                        {"monitor.trim_heap", "perhaps"});
  expect_error_mentions(apply_toml(s, "[log]\nlevel = 3\n", "x.toml"), {"log.level", "3"});
}

TEST(ApplyToml, UnsupportedTypeNamesTheKey) {
  Settings s;
  expect_error_mentions(apply_toml(s, "[memory]\nwarning_percent = [80, 90]\n", "x.toml"),
                        {"memory.warning_percent"});
}

TEST(ApplyToml, SyntaxErrorHasLineNumber) {
  Settings s;
  auto r = apply_toml(s, "[memory]\nwarning_percent = 80\ncritical_percent = = 95\n", "my.toml");
  expect_error_mentions(r, {"my.toml:3:", "syntax error"});
  expect_error_mentions(apply_toml(s, "[memory\n", "my.toml"), {"my.toml:1:"});
}

TEST(ApplyToml, CrossFieldValidation) {
  Settings s;
  expect_error_mentions(apply_toml(s, "[memory]\nwarning_percent = 96\n", "x.toml"),
                        {"x.toml", "critical_percent", "warning_percent"});
  Settings t;
  expect_error_mentions(
      apply_toml(t, "[monitor]\nfast_poll_interval_ms = 900\npoll_interval_ms = 500\n", "x.toml"),
      {"monitor.fast_poll_interval_ms", "900"});
  Settings u;
  expect_error_mentions(apply_toml(u, "[log]\nlevel = \"loud\"\n", "x.toml"),
                        {"log.level", "loud"});
}

// ---------------------------------------------------------------- environment

TEST(ApplyEnv, WarningPercentOverride) {
  Settings s;
  ASSERT_TRUE(apply_env(s, Env{{"SOROKA_MEMORY_WARNING_PERCENT", "80"}}));
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.warning_percent, 80.0);
}

TEST(ApplyEnv, StringsAreTypedPerKey) {
  Settings s;
  auto r = apply_env(s, Env{{"SOROKA_MEMORY_MIN_AVAILABLE", "1.5G"},
                            {"SOROKA_MEMORY_CRITICAL_PERCENT", "97.5"},
                            {"SOROKA_MONITOR_TRIM_HEAP", "off"},
                            {"SOROKA_MONITOR_POLL_INTERVAL_MS", "750"},
                            {"SOROKA_LOG_LEVEL", "warn"},
                            {"SOROKA_UNRELATED", "x"},
                            {"PATH", "/usr/bin"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(s.monitor.thresholds.min_available_bytes, 1610612736u);
  EXPECT_DOUBLE_EQ(s.monitor.thresholds.critical_percent, 97.5);
  EXPECT_FALSE(s.monitor.trim_heap);
  EXPECT_EQ(s.monitor.poll_interval.count(), 750);
  EXPECT_EQ(s.log_level, "warn");
}

TEST(ApplyEnv, InvalidValueNamesVariableAndValue) {
  Settings s;
  expect_error_mentions(apply_env(s, Env{{"SOROKA_MEMORY_WARNING_PERCENT", "eighty"}}),
                        {"SOROKA_MEMORY_WARNING_PERCENT", "memory.warning_percent", "eighty"});
  Settings t;
  expect_error_mentions(apply_env(t, Env{{"SOROKA_MEMORY_MIN_AVAILABLE", "lots"}}),
                        {"SOROKA_MEMORY_MIN_AVAILABLE", "lots"});
}

// [engine]: the model directory and the simulation switch, from TOML or the environment;
// the old SOROKA_ENABLE_SIM_ENGINE=1 still switches the simulation on, the new name wins.
TEST(EngineSettings, DefaultsTomlEnvironmentAndTheOldName) {
  Settings d;
  EXPECT_EQ(d.engine.model_dir, "/usr/share/pocketsphinx/model/en-us");
  EXPECT_FALSE(d.engine.simulation);

  Settings t;
  ASSERT_TRUE(apply_toml(t, "[engine]\nmodel_dir = \"/opt/ps\"\nsimulation = true\n", "f.toml"));
  EXPECT_EQ(t.engine.model_dir, "/opt/ps");
  EXPECT_TRUE(t.engine.simulation);

  Settings e;
  ASSERT_TRUE(apply_env(e, Env{{"SOROKA_ENGINE_MODEL_DIR", "/srv/m"}, {"SOROKA_ENABLE_SIM_ENGINE", "1"}}));
  EXPECT_EQ(e.engine.model_dir, "/srv/m");
  EXPECT_TRUE(e.engine.simulation);

  Settings both;
  ASSERT_TRUE(apply_env(both, Env{{"SOROKA_ENGINE_SIMULATION", "false"}, {"SOROKA_ENABLE_SIM_ENGINE", "1"}}));
  EXPECT_FALSE(both.engine.simulation);

  Settings bad;
  expect_error_mentions(apply_env(bad, Env{{"SOROKA_ENABLE_SIM_ENGINE", "maybe"}}),
                        {"SOROKA_ENABLE_SIM_ENGINE", "engine.simulation", "maybe"});
  Settings empty;
  expect_error_mentions(apply_toml(empty, "[engine]\nmodel_dir = \"\"\n", "f.toml"), {"engine.model_dir"});
}

// ---------------------------------------------------------------- load_settings

class LoadSettings : public ::testing::Test {
 protected:
  std::string config(std::string_view text) {
    tree_.write("soroka.toml", text);
    return tree_.path("soroka.toml");
  }
  test::FixtureTree tree_;
};

TEST_F(LoadSettings, FileThenEnvironmentPrecedence) {
  std::string path = config("[memory]\nwarning_percent = 80\ncritical_percent = 90\n");
  auto s = load_settings(path, Env{{"SOROKA_MEMORY_WARNING_PERCENT", "75"}});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_DOUBLE_EQ(s->monitor.thresholds.warning_percent, 75.0);    // env beats the file
  EXPECT_DOUBLE_EQ(s->monitor.thresholds.critical_percent, 90.0);   // file beats the default
  EXPECT_EQ(s->monitor.thresholds.min_available_bytes, 200 * MiB);  // default
  EXPECT_EQ(s->loaded_from, path);
}

TEST_F(LoadSettings, SorokaConfigVariableNamesTheFile) {
  std::string path = config("[memory]\nmin_available = \"300MiB\"\n");
  auto s = load_settings(std::nullopt, Env{{"SOROKA_CONFIG", path}});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->monitor.thresholds.min_available_bytes, 300 * MiB);
  EXPECT_EQ(s->loaded_from, path);
}

TEST_F(LoadSettings, ExplicitMissingFileIsAnError) {
  expect_error_mentions(load_settings(tree_.path("nope.toml"), Env{}), {"nope.toml"});
  expect_error_mentions(
      load_settings(std::nullopt, Env{{"SOROKA_CONFIG", tree_.path("gone.toml")}}), {"gone.toml"});
}

TEST_F(LoadSettings, ErrorsFromTheFileNameTheFile) {
  std::string path = config("[memory]\nwarning_percent = 80\nbogus = 1\n");
  expect_error_mentions(load_settings(path, Env{}), {path, "memory.bogus"});
}

TEST_F(LoadSettings, EnvironmentCanMakeAValidFileInvalid) {
  std::string path = config("[memory]\nwarning_percent = 80\n");
  expect_error_mentions(load_settings(path, Env{{"SOROKA_MEMORY_CRITICAL_PERCENT", "70"}}),
                        {"critical_percent", "70"});
}

TEST(DefaultConfigPaths, OrderAndXdg) {
  auto p = default_config_paths(Env{{"HOME", "/home/ann"}});
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "./soroka.toml");
  EXPECT_EQ(p[1], "/home/ann/.config/soroka/soroka.toml");
  EXPECT_EQ(p[2], "/etc/soroka/soroka.toml");
  auto q = default_config_paths(
      Env{{"HOME", "/home/ann"}, {"XDG_CONFIG_HOME", "/xdg"}, {"SOROKA_CONFIG", "/c.toml"}});
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], "/c.toml");
  EXPECT_EQ(q[2], "/xdg/soroka/soroka.toml");
}

TEST(SettingsKeys, EveryKeyDocumentedWithItsDefault) {
  auto keys = settings_keys();
  ASSERT_FALSE(keys.empty());
  bool found = false;
  for (const auto& k : keys) {
    EXPECT_FALSE(k.help.empty()) << k.key;
    EXPECT_NE(k.key.find('.'), std::string::npos) << k.key;
    if (k.key == "memory.min_available") {
      found = true;
      EXPECT_EQ(k.type, "size");
      EXPECT_EQ(k.default_value, "200.0 MiB");
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace soroka
