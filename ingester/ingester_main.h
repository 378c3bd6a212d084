// curator-ingester's command line (ingester/ingester_main.cc has the
// usage), as a function, so the production binary (ingester/main.cc) and
// a test build with test hooks (tests/support/hooked_ingester_main.cc)
// share it.
#ifndef CURATOR_INGESTER_INGESTER_MAIN_H_
#define CURATOR_INGESTER_INGESTER_MAIN_H_

#include "ingester/ingest.h"

namespace curator::ingester {

// `hooks`: nullptr in production.
int IngesterMain(int argc, char** argv, IngestHooks* hooks);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_INGESTER_MAIN_H_
