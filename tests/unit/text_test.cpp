// UTF-8 validation, log escaping and client-name checks, by table.
#include <gtest/gtest.h>

#include "util/text.h"

namespace soroka {
namespace {

TEST(Text, ValidUtf8) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"));  // привет
  EXPECT_TRUE(valid_utf8("\xf0\x9f\x8e\xa4"));                                  // 🎤
  EXPECT_FALSE(valid_utf8("\xff\xfe\xfd"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xd0"));              // cut short
}

TEST(Text, LogEscape) {
  EXPECT_EQ(log_escape("a.wav"), "a.wav");
  EXPECT_EQ(log_escape("x\" event=job_failed"), "x\\\" event=job_failed");
  EXPECT_EQ(log_escape("a\nb"), "a\\nb");
  EXPECT_EQ(log_escape("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(log_escape("back\\slash"), "back\\\\slash");
  EXPECT_EQ(log_escape("\x1b[31m"), "\\x1b[31m");
  EXPECT_EQ(log_escape("\xd0\xbf"), "\xd0\xbf");
  EXPECT_EQ(log_escape(std::string(1000, 'a'), 10), std::string(10, 'a') + "...");
}

TEST(Text, ClientNames) {
  EXPECT_EQ(check_client_name("voice.ogg"), "");
  EXPECT_EQ(check_client_name("\xd0\xb7\xd0\xb0\xd0\xbf\xd0\xb8\xd1\x81\xd1\x8c.ogg"), "");
  EXPECT_EQ(check_client_name("\xff\xfe\xfd"), "is not valid UTF-8");
  EXPECT_EQ(check_client_name("a\tb"), "contains control characters");
  EXPECT_EQ(check_client_name(std::string(300, 'n')), "is too long");
}

}  // namespace
}  // namespace soroka
