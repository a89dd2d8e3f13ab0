#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "ebm/thread_pool.h"

int main(int argc, char** argv) {
  // The malloc settings the ebm tools use (apps/cli_common.cpp), so that training in the
  // tests runs as it does in the programs.
  ebm::configure_allocator();
  return doctest::Context(argc, argv).run();
}
