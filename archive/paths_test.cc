// Names shown safely, plain names, and paths confined to the archive by
// resolving them, on real files and symbolic links in a temporary
// directory.
#include "archive/paths.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator::paths {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(ShowBytesTest, EscapesWhatIsNotPrintableUtf8AndKeepsLetters) {
  EXPECT_EQ(ShowBytes("w20071021_00001.fit"), "w20071021_00001.fit");
  EXPECT_EQ(ShowBytes("w2007\xff.fit"), "w2007\\xff.fit");
  EXPECT_EQ(ShowBytes("a\nb\tc\rd\x01\x7f"), "a\\nb\\tc\\rd\\x01\\x7f");
  EXPECT_EQ(ShowBytes("back\\slash"), "back\\\\slash");  // so "\xff" cannot be faked
  EXPECT_EQ(ShowBytes("M\xc3\xa9nard \xce\xb1 'q'"), "M\xc3\xa9nard \xce\xb1 'q'");
  // A truncated sequence, an overlong '/', a surrogate: bytes, not letters.
  EXPECT_EQ(ShowBytes("x\xc3"), "x\\xc3");
  EXPECT_EQ(ShowBytes("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(ShowBytes("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  // A right-to-left override and a C1 control would change what a
  // terminal shows.
  EXPECT_EQ(ShowBytes("a\xe2\x80\xae" "b\xc2\x85"), "a\\u202eb\\u0085");
  EXPECT_EQ(ShowBytes(std::string("a\0b", 3)), "a\\x00b");
  // What it shows is always valid UTF-8.
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_TRUE(IsValidUtf8(ShowBytes(all)));
}

TEST(IsValidUtf8Test, AcceptsWhatPostgresTextHolds) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain name.fit"));
  EXPECT_TRUE(IsValidUtf8("\xe6\x98\x9f \xf0\x9f\x94\xad \n\t"));
  EXPECT_FALSE(IsValidUtf8("w2007\xff.fit"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8(std::string("a\0", 2)));
}

TEST(CheckPlainNameTest, RefusesWhatLeavesTheDirectoryNamingFieldAndValue) {
  for (const std::string& name :
       std::vector<std::string>{"w20071021_00001.fit", "with space.fit", "it's.fit",
                                "back\\slash.fit", "new\nline.fit", "-leading-dash.fit",
                                "\xc3\xa9toile.fit", std::string(255, 'a')}) {
    EXPECT_TRUE(CheckPlainName(name, "file_name").ok()) << ShowBytes(name);
  }
  struct Case {
    std::string name;
    const char* message;
  } cases[] = {
      {"../../etc/x", "file_name '../../etc/x' is not a plain file name: it contains '/'"},
      {"a/b", "it contains '/'"},
      {"", "it is empty"},
      {".", "it names a directory"},
      {"..", "it names a directory"},
      {std::string("a\0b", 3), "file_name 'a\\x00b' is not a plain file name: it contains a NUL"},
      {std::string(256, 'a'), "longer than 255 bytes"},
      {"w\xff.fit", "file_name 'w\\xff.fit' is not a plain file name: it is not valid UTF-8"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckPlainName(c.name, "file_name");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

class ResolveInsideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = outside_.Join("archive");
    fs::create_directories(root_ + "/incoming/20071021");
    std::ofstream(root_ + "/incoming/20071021/a.fit") << "a";
    std::ofstream(outside_.Join("x.fit")) << "x";
  }
  testing::TempDir outside_;
  std::string root_;
};

TEST_F(ResolveInsideTest, AcceptsPathsAndLinksThatStayInside) {
  const std::string real_root = fs::canonical(root_).string();
  auto r = ResolveInside(root_, root_ + "/incoming/20071021/a.fit");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, real_root + "/incoming/20071021/a.fit");
  fs::create_symlink(root_ + "/incoming/20071021/a.fit", root_ + "/incoming/link.fit");
  r = ResolveInside(root_, root_ + "/incoming/link.fit");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, real_root + "/incoming/20071021/a.fit");
  // Not there yet: refused, or resolved as far as it exists.
  EXPECT_EQ(ResolveInside(root_, root_ + "/jpeg/n/x.jpg").status().code(),
            absl::StatusCode::kNotFound);
  r = ResolveInside(root_, root_ + "/jpeg/n/x.jpg", Missing::kAllow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, real_root + "/jpeg/n/x.jpg");
}

TEST_F(ResolveInsideTest, RefusesDotDotLinksOutAndDanglingLinks) {
  absl::Status s = ResolveInside(root_, root_ + "/incoming/../../x.fit").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("has a '..' component"));
  s = ResolveInside(root_, "incoming/20071021/a.fit").status();
  EXPECT_THAT(s.message(), HasSubstr("is not an absolute path"));
  s = ResolveInside(root_, outside_.Join("x.fit")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("outside the archive root"));
  // A link to a file outside, and a link to a directory outside with a
  // file that does not exist (yet) below it.
  fs::create_symlink(outside_.Join("x.fit"), root_ + "/incoming/out.fit");
  s = ResolveInside(root_, root_ + "/incoming/out.fit").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("resolves to '" + fs::canonical(outside_.path()).string() +
                                     "/x.fit', outside the archive root"));
  fs::create_symlink(outside_.path(), root_ + "/jpeg");
  s = ResolveInside(root_, root_ + "/jpeg/new.jpg", Missing::kAllow).status();
  EXPECT_THAT(s.message(), HasSubstr("outside the archive root"));
  // A dangling link: refused as such, even where missing files are allowed
  // (its target could appear outside later).
  fs::create_symlink(outside_.Join("nothing"), root_ + "/incoming/dangling.fit");
  for (Missing m : {Missing::kRefuse, Missing::kAllow}) {
    s = ResolveInside(root_, root_ + "/incoming/dangling.fit", m).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(s.message(), HasSubstr("dangling.fit' is a dangling symbolic link"));
  }
  // A sibling whose name starts like the root is not inside it.
  fs::create_directories(root_ + "-other");
  s = ResolveInside(root_, root_ + "-other").status();
  EXPECT_THAT(s.message(), HasSubstr("outside the archive root"));
}

}  // namespace
}  // namespace curator::paths
