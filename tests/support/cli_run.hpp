// The tests' one way to run a command-line entry point (learnchain-wallet's run_cli,
// learnchain-cli's run_rpc_cli) in-process and keep its exit code and output.
#pragma once

#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace learnchain::testing {

struct CliRun {
    int code = 0;
    std::string out, err;
};

// `main` is called as main(args, out, err).
template <class Main>
[[nodiscard]] CliRun run_captured(Main&& main, const std::vector<std::string>& args) {
    std::ostringstream out, err;
    CliRun r;
    r.code = main(args, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

}  // namespace learnchain::testing
