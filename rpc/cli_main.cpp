// learnchain-cli: see include/learnchain/rpc/cli.hpp, or `learnchain-cli --help`.
#include <iostream>
#include <string>
#include <vector>

#include <learnchain/rpc/cli.hpp>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return learnchain::rpc::run_rpc_cli(args, std::cout, std::cerr);
}
