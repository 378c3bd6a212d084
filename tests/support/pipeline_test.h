// A test fixture for the whole pipeline in one process: a fresh database
// with the schema, an archive in a temporary directory, and the steps an
// operator runs by hand (register, CU2/CU3/CU4, ingest), each as the
// one-shot commands do them, with their events and logs.
#ifndef CURATOR_TESTS_SUPPORT_PIPELINE_TEST_H_
#define CURATOR_TESTS_SUPPORT_PIPELINE_TEST_H_

#include <memory>
#include <string>
#include <vector>

#include "db/pg.h"
#include "ingester/ingest.h"
#include "synth/survey_model.h"
#include "tests/support/pg_test.h"
#include "tests/support/temp_dir.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"

namespace curator::testing {

class PipelineTest : public PgTest {
 protected:
  void SetUp() override;

  // Options for `nights` nights of `frames` small multiframes in archive_.
  synth::Options Survey(int nights, int frames, int sources = 40, int size = 128);
  void Generate(const synth::Options& options);
  void Register(const std::string& night);
  // Each runs a task over the night's registered files with a processing
  // event, and records the task's log; Cu3 and Cu4 as the rerun `rerun`
  // too.
  worker::TaskOutput Cu2(const std::string& night);
  worker::TaskOutput Cu3(const std::string& night, const worker::Rerun& rerun = {});
  worker::TaskOutput Cu4(const std::string& night,
                         const worker::Rerun& rerun = {});
  // CU5 of the night, with its processing event, against the archive's
  // sources as they are.
  worker::TaskOutput Cu5(const std::string& night, double radius_arcsec = 1.0,
                         int threads = 2, const worker::Rerun& rerun = {});
  std::vector<ingester::IngestOutcome> IngestAll();
  // The failures recorded with the batches of CU `cu` for the input file
  // `name` of `night`'s incoming directory, as "hdu|item|message".
  std::vector<std::string> BatchFailuresOf(int cu, const std::string& night,
                                           const std::string& name);
  // The single integer a query returns.
  int64_t Count(const std::string& sql);
  // Starts `curator-ingester --once` with its test hook, waits until it
  // has loaded a batch and stopped just before COMMIT, SIGKILLs it and
  // waits until PostgreSQL has rolled its transaction back.
  void KillIngesterBeforeCommit();
  // A binary of the build, e.g. "ingester/curator-ingester".
  std::string Bin(const std::string& name) const;

  TempDir archive_dir_;
  std::string archive_;
  std::unique_ptr<pg::Connection> conn_;
  // Where IngestAll loads detections when set (tests/shard_test.cc): the
  // archive at conn_ is then a head with these shards.
  archive::shards::ShardSet* shards_ = nullptr;
  // When set, the database Count and Cu5 use instead of conninfo() (the
  // head, where conn_ is one).
  std::string db_override_;

 private:
  std::vector<worker::ImageInput> Images(const std::string& night);
  worker::TaskOutput Finish(int64_t event, absl::StatusOr<worker::TaskOutput> out);
};

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_PIPELINE_TEST_H_
