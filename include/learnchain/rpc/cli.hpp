// learnchain-cli: the node's JSON-RPC from the command line, shaped like bitcoin-cli.
//
//   learnchain-cli [options] METHOD [PARAM ...]     positional params: a JSON array
//   learnchain-cli [options] METHOD NAME=VALUE ...  named params: a JSON object
//   learnchain-cli help [METHOD]                    the node's method list, or one method's help
//
// Each PARAM is JSON when it is a JSON number (at most 20 characters), true, false, null, an
// object or an array, and a string otherwise; so `getblockhash 3` sends 3 and
// `getaccount lrn1...` sends the address. Credentials: the cookie in --datadir (re-read on every
// attempt, so --rpcwait survives a starting node), or --rpcuser/--rpcpassword. --conf (default
// <datadir>/learnchain.conf) supplies rpc-port and rpc-bind when the flags do not.
//
// Output: a string result as is, anything else as indented JSON, null as nothing; exit 0. An
// RPC error prints "error: <reason>: <detail>" on stderr and exits 1; a connection failure
// exits 1 the same way; bad arguments exit with CLI11's code.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace learnchain::rpc {

// The JSON value of one command-line parameter (see above).
[[nodiscard]] nlohmann::json parse_cli_value(const std::string& text);

// The params of a call: an object when every argument is NAME=VALUE, else an array.
[[nodiscard]] nlohmann::json parse_cli_params(const std::vector<std::string>& args);

// Runs the CLI on `args` (argv without the program name); returns the exit code.
[[nodiscard]] int run_rpc_cli(const std::vector<std::string>& args, std::ostream& out,
                              std::ostream& err);

}  // namespace learnchain::rpc
