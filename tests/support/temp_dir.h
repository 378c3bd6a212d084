// A directory made with mkdtemp and removed, with everything in it, when the
// object goes away.
#ifndef CURATOR_TESTS_SUPPORT_TEMP_DIR_H_
#define CURATOR_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace curator::testing {

class TempDir {
 public:
  // Under $TMPDIR (or /tmp), named `prefix` + random characters. Aborts if
  // the directory cannot be made: a test cannot go on without it.
  explicit TempDir(const std::string& prefix = "curator-test-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Join(const std::string& name) const;

 private:
  std::string path_;
};

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_TEMP_DIR_H_
