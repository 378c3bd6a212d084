// Registration of a night whose directory holds whatever the file system
// allows: odd but valid names register and are processed like any other,
// hostile ones (not UTF-8, links out of the archive, dangling links,
// clashes) are refused by name and recorded, and the rest of the night
// registers. Real files and links in a temporary archive, a real
// PostgreSQL.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "archive/file_registry.h"
#include "archive/paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/temp_dir.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::UnorderedElementsAreArray;

constexpr char kNight[] = "20071021";

class RegistrationTest : public testing::PipelineTest {
 protected:
  std::string In(const std::string& name) const {
    return absl::StrCat(archive_, "/incoming/", kNight, "/", name);
  }
  static std::string Frame(int i) { return absl::StrFormat("w%s_%05d", kNight, i); }
  // Column values of a query, one string per row.
  std::vector<std::string> Column(const std::string& sql) {
    auto r = conn_->Exec(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    if (r.ok()) {
      for (int i = 0; i < r->rows(); ++i) out.push_back(r->Get(i, 0));
    }
    return out;
  }
};

TEST_F(RegistrationTest, OddNamesRegisterHostileOnesAreRefusedByNameTheNightGoesOn) {
  Generate(Survey(1, 8, /*sources=*/5, /*size=*/96));
  // Frames 3..8 renamed, catalogue and all, to names that are odd but
  // valid UTF-8; they must register, pair and be processed as usual.
  const std::string long_name =
      absl::StrCat("w", kNight, "_", std::string(255 - 14, 'x'), ".fit");
  ASSERT_EQ(long_name.size(), 255u);
  const std::map<int, std::string> odd = {
      {3, "w20071021 with space"},
      {4, "w20071021_it's \"quoted\""},
      {5, "w20071021_new\nline\ttab"},
      {6, "w20071021_\xc3\xa9toile_\xce\xa9"},  // étoile_Ω
      {7, "-w20071021_back\\slash"},
  };
  for (const auto& [i, stem] : odd) {
    fs::rename(In(Frame(i) + ".fit"), In(stem + ".fit"));
    fs::rename(In(Frame(i) + "_cat.fits"), In(stem + "_cat.fits"));
  }
  fs::rename(In(Frame(8) + ".fit"), In(long_name));
  fs::remove(In(Frame(8) + "_cat.fits"));  // no room for "_cat.fits" in 255 bytes
  // Frame 2 lies elsewhere in the archive and is linked in: allowed.
  fs::create_directories(archive_ + "/spare");
  fs::rename(In(Frame(2) + ".fit"), archive_ + "/spare/" + Frame(2) + ".fit");
  fs::create_symlink(archive_ + "/spare/" + Frame(2) + ".fit", In(Frame(2) + ".fit"));
  // Frame 1's catalogue as _cat.fit; a second catalogue (_cat.fits) and a
  // second image (.fits) of frame 1 clash with it.
  fs::rename(In(Frame(1) + "_cat.fits"), In(Frame(1) + "_cat.fit"));
  std::ofstream(In(Frame(1) + "_cat.fits")) << "x";
  std::ofstream(In(Frame(1) + ".fits")) << "x";
  // Hostile names and files.
  std::ofstream(In("w20071021_9\xff.fit")) << "not valid UTF-8, any content";
  testing::TempDir outside;
  fs::copy_file(In(Frame(1) + ".fit"), outside.Join("x.fit"));
  fs::create_symlink(outside.Join("x.fit"), In("w20071021_out.fit"));
  fs::create_symlink(archive_ + "/spare/nothing.fit", In("w20071021_gone.fit"));
  fs::create_directory(In("w20071021_dir.fit"));
  std::ofstream(In("W20071021_00009.FIT")) << "x";
  std::ofstream(In(".w20071021_00010.fit")) << "x";
  std::ofstream(In("README.txt")) << "not a FITS file: ignored";

  auto first = archive::RegisterNight(*conn_, archive_, kNight);
  ASSERT_TRUE(first.ok()) << first.status();

  // Registered: 8 images, 7 catalogues, each image with an id of its own
  // and each catalogue with its image's.
  std::vector<std::string> registered = {Frame(1) + ".fit", Frame(1) + "_cat.fit",
                                         Frame(2) + ".fit", Frame(2) + "_cat.fits", long_name};
  for (const auto& [i, stem] : odd) {
    registered.push_back(stem + ".fit");
    registered.push_back(stem + "_cat.fits");
  }
  EXPECT_EQ(first->new_files, 15);
  std::map<std::string, int64_t> ids;
  for (const auto& f : first->files) ids[f.file_name] = f.multiframe_id;
  EXPECT_THAT(Column("SELECT file_name FROM curation.registered_file"),
              UnorderedElementsAreArray(registered));
  std::set<int64_t> image_ids;
  for (const std::string& name : registered) {
    EXPECT_NE(ids[name], 0) << paths::ShowBytes(name);
    if (absl::StrContains(name, "_cat.fit")) {
      const std::string image = name.substr(0, name.rfind("_cat.fit")) + ".fit";
      EXPECT_EQ(ids[name], ids[image]) << paths::ShowBytes(name);
    } else {
      image_ids.insert(ids[name]);
    }
  }
  EXPECT_EQ(image_ids.size(), 8u);
  EXPECT_EQ(Column(absl::StrCat("SELECT path FROM curation.registered_file WHERE file_name = '",
                                Frame(2), ".fit'")),
            std::vector<std::string>{In(Frame(2) + ".fit")});  // the link's path

  // Refused, by name, with the reason; in the table and in the problems.
  const std::string real_outside = fs::canonical(outside.path()).string();
  std::vector<std::pair<std::string, std::string>> refused = {
      {".w20071021_00010.fit", "a hidden file (the name starts with '.')"},
      {"W20071021_00009.FIT", "the name ends in '.FIT': FITS files must end in .fit or .fits"},
      {Frame(1) + "_cat.fits", "a second catalogue of image w20071021_00001 "
                               "(w20071021_00001_cat.fit is its catalogue)"},
      {Frame(1) + ".fits", "image w20071021_00001.fit has the same name before .fit/.fits"},
      {"w20071021_9\xff.fit", "the name is not valid UTF-8"},
      {"w20071021_dir.fit", "not a regular file (a directory)"},
      {"w20071021_gone.fit",
       absl::StrCat("a dangling symbolic link (to ", archive_, "/spare/nothing.fit)")},
      {"w20071021_out.fit",
       absl::StrCat("symbolic link to ", real_outside, "/x.fit, outside the archive")},
  };
  std::sort(refused.begin(), refused.end());  // as bytea sorts: byte by byte
  auto rows = conn_->Exec(
      "SELECT encode(name_bytes, 'hex'), name_shown, reason, first_seen = last_seen "
      "FROM curation.refused_file WHERE night = '2007-10-21' ORDER BY name_bytes");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows(), static_cast<int>(refused.size()));
  for (int r = 0; r < rows->rows(); ++r) {
    const auto& [name, reason] = refused[r];
    EXPECT_EQ(rows->Get(r, 0), absl::BytesToHexString(name));
    EXPECT_EQ(rows->Get(r, 1), paths::ShowBytes(name));
    EXPECT_THAT(rows->Get(r, 2), HasSubstr(reason)) << rows->Get(r, 1);
    EXPECT_EQ(rows->Get(r, 3), "t");
    EXPECT_THAT(first->problems,
                Contains(HasSubstr(absl::StrCat(paths::ShowBytes(In(name)),
                                                ": not registered: ", reason))));
  }
  EXPECT_EQ(paths::ShowBytes("w20071021_9\xff.fit"), "w20071021_9\\xff.fit");
  EXPECT_EQ(first->refused.size(), refused.size());

  // Again: nothing changes, no refusal twice, last_seen moves on.
  auto second = archive::RegisterNight(*conn_, archive_, kNight);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->new_files, 0);
  for (const auto& f : second->files) EXPECT_EQ(f.multiframe_id, ids[f.file_name]);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.registered_file"), 15);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.refused_file"),
            static_cast<int64_t>(refused.size()));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.refused_file WHERE last_seen > first_seen"),
            static_cast<int64_t>(refused.size()));

  // The odd names are processed as any other: CU3 loads their headers
  // under their names and catalogues, CU2 makes their previews.
  worker::TaskOutput cu3 = Cu3(kNight);
  EXPECT_EQ(cu3.manifest.failures_size(), 0) << cu3.manifest.DebugString();
  IngestAll();
  std::vector<std::string> loaded;
  for (const auto& [i, stem] : odd) loaded.push_back(absl::StrCat(stem, ".fit|", stem, "_cat.fits"));
  loaded.push_back(long_name + "|");
  EXPECT_THAT(Column("SELECT file_name || '|' || coalesce(cat_name, '') FROM multiframe"),
              IsSupersetOf(loaded));
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 8);
  // Published by the CU2 batch's ingest.
  worker::TaskOutput cu2 = Cu2(kNight);
  EXPECT_EQ(cu2.manifest.failures_size(), 0) << cu2.manifest.DebugString();
  IngestAll();
  for (const auto& [i, stem] : odd) {
    EXPECT_TRUE(fs::exists(absl::StrCat(archive_, "/jpeg/", kNight, "/", stem, "_2.jpg")))
        << paths::ShowBytes(stem);
  }
  // The 255-byte name too, under a shortened preview name its row gives.
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector d JOIN multiframe m USING "
                  "(multiframe_id) WHERE m.file_name = '" + long_name + "' AND d.comp_file LIKE "
                  "'jpeg/20071021/w20071021_%~%_2.jpg'"),
            1);
}

TEST_F(RegistrationTest, AFixedFileRegistersAndLeavesTheRefusedList) {
  Generate(Survey(1, 1, /*sources=*/5, /*size=*/96));
  fs::create_symlink(archive_ + "/spare.fit", In("w20071021_late.fit"));
  auto first = archive::RegisterNight(*conn_, archive_, kNight);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Count("SELECT count(*) FROM curation.refused_file"), 1);
  // The link's target arrives: the file registers, the refusal goes.
  fs::copy_file(In(Frame(1) + ".fit"), archive_ + "/spare.fit");
  auto second = archive::RegisterNight(*conn_, archive_, kNight);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->new_files, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.refused_file"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.registered_file WHERE file_name = "
                  "'w20071021_late.fit' AND multiframe_id IS NOT NULL"),
            1);
}

TEST_F(RegistrationTest, ANightDirectoryLinkedOutOfTheArchiveIsRefused) {
  testing::TempDir outside;
  fs::create_directories(outside.Join("20071021"));
  std::ofstream(outside.Join("20071021/w20071021_00001.fit")) << "x";
  fs::create_directories(archive_ + "/incoming");
  fs::create_symlink(outside.Join("20071021"), archive_ + "/incoming/20071021");
  auto reg = archive::RegisterNight(*conn_, archive_, kNight);
  EXPECT_EQ(reg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reg.status().message(), HasSubstr("outside the archive root"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.registered_file"), 0);
}

}  // namespace
}  // namespace curator
