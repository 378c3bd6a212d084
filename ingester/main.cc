// curator-ingester (usage: ingester/ingester_main.cc).
#include "ingester/ingester_main.h"

int main(int argc, char** argv) { return curator::ingester::IngesterMain(argc, argv, nullptr); }
