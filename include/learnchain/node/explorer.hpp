// The explorer: a web page the node serves on its own loopback listener (--explorer-port, off
// by default), for watching the chain in a browser. The page (src/node/explorer.html, embedded
// at build time) loads nothing from outside the node: its script polls the API below and draws
// the chain, blocks, a worker's rewards, the loss curve, a sample from the tip model and the
// peers.
//
// GET /                      the page
// GET /api/METHOD?p=PARAMS   a read-only RPC method (explorer_methods) with PARAMS, a JSON array
//                            (URL-encoded): the JSON-RPC response, as the RPC port would give it
// GET /api/sample            a greedy continuation of a fixed prompt by the tip model, computed
//                            once per tip: {tip, prompt, text}
// Anything else is 404. No state changes are reachable: the listener has no credentials, so
// every POST is refused.
#pragma once

#include <string_view>

#include <learnchain/rpc/dispatcher.hpp>
#include <learnchain/rpc/server.hpp>

namespace learnchain::node {

class Node;

// The RPC methods the explorer's API forwards.
inline constexpr std::string_view explorer_methods[] = {
    "getblockchaininfo", "getblockhash", "getblock",    "getblockheader",
    "getmodelinfo",      "getaccount",   "getpeerinfo", "getchaintips"};

// The page handler for an explorer listener: `dispatcher` (the node's RPC methods) answers the
// API, `node` the sample. Both must outlive the listener.
[[nodiscard]] rpc::PageHandler explorer_pages(Node& node, const rpc::Dispatcher& dispatcher);

}  // namespace learnchain::node
