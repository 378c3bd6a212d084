// The CU registry: the one place that says what each curation use case
// is. Per CU: its name, what it reads (images, catalogues or the
// database), what a night's task of it waits for before it is processed
// and before its batch is ingested, and its planning rank. The task graph
// of a night is data made from these declarations (daemon/task_store.h);
// the code that runs a CU lives with the process that runs it: a worker
// handler (worker/cu_handler.h) and an ingest loader
// (ingester/batch_loader.h), each process checking at start that it has
// one for every CU here. Nothing else names a CU by number.
//
// Adding a CU: an entry in Default() (or, in a test, CuRegistry::With),
// a worker handler, a loader, a migration for its tables, and tests
// (docs/ARCHITECTURE.md, "Adding a CU").
//
// Immutable once made; thread-safe.
#ifndef CURATOR_ARCHIVE_CU_REGISTRY_H_
#define CURATOR_ARCHIVE_CU_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "curator/v1/cu.pb.h"
#include "db/pg.h"

namespace curator::archive {

// What a CU's task reads; the daemon sends the night's registered files
// of that kind with the task (none for kDatabase).
enum class CuInput { kImages, kCatalogues, kDatabase };
const char* CuInputName(CuInput input);

// A stage of another CU's task of the same night.
enum class Stage { kProcessed, kIngested };
const char* StageName(Stage stage);  // "processed", "ingested"

struct Prerequisite {
  v1::Cu cu;
  Stage stage;
};

struct CuSpec {
  v1::Cu cu = v1::CU_UNSPECIFIED;  // the id: its number
  std::string name;                // "CU3"
  std::string title;               // "multiframe metadata"
  CuInput input = CuInput::kImages;
  // A night's task of this CU starts only once these tasks of the same
  // night have reached their stage ...
  std::vector<Prerequisite> before_processing;
  // ... and its batch is loaded only once these have.
  std::vector<Prerequisite> before_ingest;
  // Planning order among ready tasks of equal priority: lower first.
  // Every prerequisite has a lower rank.
  int rank = 0;
  // A night's task also waits, before it is processed, for this CU's task
  // of the previous night (by date) to be ingested: for a CU whose result
  // depends on the nights before (CU5 matches against their sources), so
  // nights are done in order whichever workers run them.
  bool after_previous_night = false;
};

class CuRegistry {
 public:
  // The CUs Curator runs: CU3 (metadata), CU4 (detections), CU2
  // (previews).
  static const CuRegistry& Default();
  // Default() and CU5 (sources cross-matched from detections, after each
  // night's CU4 ingest, nights in order). Workers and ingesters know it
  // whatever the site plans; the daemon plans it where the config turns
  // cross_match on (ForSite).
  static const CuRegistry& WithSources();
  static const CuRegistry& ForSite(bool cross_match) {
    return cross_match ? WithSources() : Default();
  }

  // InvalidArgument unless ids are positive and unique, names unique and
  // not empty, and every prerequisite is a CU of the registry with a
  // lower rank (so the graph has no cycle).
  static absl::StatusOr<CuRegistry> Create(std::vector<CuSpec> specs);
  // This registry and one more CU (a CU that exists only in a test).
  absl::StatusOr<CuRegistry> With(CuSpec spec) const;

  // nullptr for a CU the registry does not know.
  const CuSpec* Find(int cu) const;
  // InvalidArgument naming the CU and the known ones.
  absl::StatusOr<const CuSpec*> Get(int cu) const;
  // By name or number: "CU3", "cu3" or "3".
  absl::StatusOr<const CuSpec*> Parse(absl::string_view name) const;
  // Every CU, in planning order (rank, then id).
  const std::vector<CuSpec>& specs() const { return specs_; }
  // "CU3"; "CU7" for a CU the registry does not know.
  std::string Name(int cu) const;
  // "CU3, CU4, CU2".
  std::string KnownNames() const;
  // "CU3 ingested".
  std::string Describe(const Prerequisite& p) const;

 private:
  explicit CuRegistry(std::vector<CuSpec> specs) : specs_(std::move(specs)) {}
  std::vector<CuSpec> specs_;
};

// Keeps curation.cu (the CUs, for SQL readers and joins) up to date with
// `registry`: every CU of it inserted or updated; rows of other CUs stay.
absl::Status SyncCuTable(pg::Connection& conn, const CuRegistry& registry);

// The database schema up to date (db/migrations.h), then curation.cu.
absl::Status MigrateArchive(pg::Connection& conn, const CuRegistry& registry);

}  // namespace curator::archive

#endif  // CURATOR_ARCHIVE_CU_REGISTRY_H_
