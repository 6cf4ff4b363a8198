// The probe child's answer as the service reads it: the failure's kind, not its message.
#include <gtest/gtest.h>

#include "service/probe_child.h"

namespace soroka::service {
namespace {

TEST(ProbeOutput, KindsAreReadAndUnknownOnesAreTheFilesFault) {
  auto ok = parse_probe_output(R"({"ok":true,"duration_s":2.5,"container":"wav","codec":"pcm_s16le"})");
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->ok);
  EXPECT_DOUBLE_EQ(ok->duration_s, 2.5);
  auto unsupported = parse_probe_output(R"({"ok":false,"kind":"unsupported_media","message":"not a media file"})");
  ASSERT_TRUE(unsupported);
  EXPECT_EQ(unsupported->kind, FailureKind::unsupported_media);
  EXPECT_EQ(unsupported->message, "not a media file");
  auto damaged = parse_probe_output(R"({"ok":false,"kind":"invalid_input","message":"truncated or corrupt at 1.0 s"})");
  ASSERT_TRUE(damaged);
  EXPECT_EQ(damaged->kind, FailureKind::invalid_input);
  for (const char* odd : {R"({"ok":false,"kind":"martian"})", R"({"ok":false,"kind":"none"})", R"({"ok":false})"}) {
    auto r = parse_probe_output(odd);
    ASSERT_TRUE(r) << odd;
    EXPECT_EQ(r->kind, FailureKind::invalid_input) << odd;
    EXPECT_FALSE(r->message.empty());
  }
  EXPECT_FALSE(parse_probe_output("not json"));
}

}  // namespace
}  // namespace soroka::service
