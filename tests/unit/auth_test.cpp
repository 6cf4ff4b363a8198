// ApiKeys: bearer keys to owner ids.
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "api/auth.h"

namespace soroka::api {
namespace {

TEST(ApiKeys, OwnerOfABearerKey) {
  auto k = ApiKeys::load({"sk-aaaaaaaaaaaaaaaa", "sk-bbbbbbbbbbbbbbbb"}, "");
  ASSERT_TRUE(k) << k.error().message;
  auto a = k->owner("Bearer sk-aaaaaaaaaaaaaaaa");
  auto b = k->owner("bearer   sk-bbbbbbbbbbbbbbbb ");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 4u + 16u);
  EXPECT_EQ(a->find("aaaa"), std::string::npos) << "the owner id must not reveal the key";
  EXPECT_EQ(k->owner("Bearer sk-aaaaaaaaaaaaaaaa"), a) << "stable";
  EXPECT_FALSE(k->owner(std::nullopt));
  EXPECT_FALSE(k->owner("Bearer sk-aaaaaaaaaaaaaaab"));
  EXPECT_FALSE(k->owner("Basic sk-aaaaaaaaaaaaaaaa"));
  EXPECT_FALSE(k->owner("Bearer "));
  EXPECT_FALSE(k->owner("Bearer " + std::string(10000, 'x')));
}

TEST(ApiKeys, FileAndRefusals) {
  char path[] = "/tmp/soroka-keys-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  {
    std::ofstream f(path);
    f << "# operators\n\nsk-from-file-0123456789\n";
  }
  auto k = ApiKeys::load({}, path);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->size(), 1u);
  EXPECT_TRUE(k->owner("Bearer sk-from-file-0123456789"));
  {
    std::ofstream f(path);
    f << "short\n";
  }
  auto bad = ApiKeys::load({}, path);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(std::string(path) + ":1"), std::string::npos) << bad.error().message;
  EXPECT_EQ(bad.error().message.find("short"), std::string::npos) << "a key is never printed";
  ::unlink(path);
  EXPECT_FALSE(ApiKeys::load({"has space in it 0123456789"}, ""));
  EXPECT_FALSE(ApiKeys::load({}, "/nonexistent/keys"));
}

}  // namespace
}  // namespace soroka::api
