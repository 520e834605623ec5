// gslbctl: a command line over gslbd's control API (docs/api.md). The logic, exit codes
// included, lives in lib/ctl/client so that it can be unit tested.
#include <cstdlib>
#include <iostream>

#include "ctl/client.hh"

int main(int argc, char** argv) {
    return gslbd::ctl::client::run(argc, argv, std::cout, std::cerr,
                                   [](const char* name) { return std::getenv(name); });
}
