// learnchain-wallet: see wallet/WALLET.md, or `learnchain-wallet --help`.
#include <iostream>
#include <string>
#include <vector>

#include <learnchain/wallet/cli.hpp>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return learnchain::wallet::run_cli(args, std::cout, std::cerr);
}
