// curator-worker (usage: worker/worker_main.cc).
#include "worker/worker_main.h"

int main(int argc, char** argv) { return curator::worker::WorkerMain(argc, argv, nullptr); }
