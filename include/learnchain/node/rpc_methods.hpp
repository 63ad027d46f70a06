// The node's JSON-RPC methods (src/node/NODE.md lists them with their parameters and reasons).
#pragma once

#include <learnchain/chain/result.hpp>

namespace learnchain::rpc {
class RpcServer;
}

namespace learnchain::node {

class Node;

// Registers getblockchaininfo, getblockcount, getbestblockhash, getblockhash, getblock,
// getblockheader, gettransaction, getaccount, sendrawtransaction, getmempoolinfo,
// getmininginfo, setmining, getmodelinfo, getpeerinfo, listbanned, addnode and stop. Before the
// server starts; the node must outlive the server.
[[nodiscard]] Status register_node_methods(rpc::RpcServer& server, Node& node);

}  // namespace learnchain::node
