// Every archive table's rows as one digest per table, keyed by file name
// rather than by the ids (which depend on the order nights were
// registered and ingested): two runs of the same nights made the same
// archive if and only if their digests are equal. The detection digest
// ends with its row count and its count of distinct obj_ids.
#ifndef CURATOR_TESTS_SUPPORT_ARCHIVE_DIGEST_H_
#define CURATOR_TESTS_SUPPORT_ARCHIVE_DIGEST_H_

#include <map>
#include <string>

namespace curator::testing {

// Table name -> digest, for the database at `conninfo`; with `live`, of
// what users see: the live views (no deprecated frame, nor its rows).
std::map<std::string, std::string> ArchiveDigests(const std::string& conninfo,
                                                  bool live = false);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_ARCHIVE_DIGEST_H_
