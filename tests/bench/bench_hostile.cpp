// What hostile peers cost a node, over loopback against an in-process node (Sync and
// ConnectionManager on the chain tests' TEST-ONLY work engine):
//   BENCH hostile_header_flood_headers_per_sec  headers a node discards per second: a peer
//         floods continuous zero-work header chains that cannot beat the tip (never stored,
//         never signature-checked); timed from the first send to the pong after the last
//   BENCH getdata_peak_rss_mb  peak RSS growth while serving one getdata that names the tip
//         block (1,000 transfers) 4,000 times; beside it, what answering every duplicate would
//         hold, getdata_naive_mb (block size x 4,000)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include <learnchain/chain/log.hpp>

#include "bench/bench_report.hpp"
#include "bench/bench_transfers.hpp"
#include "p2p/p2p_test_support.hpp"
#include "p2p/raw_peer.hpp"

namespace {

using namespace learnchain;
using Clock = std::chrono::steady_clock;

constexpr int flood_messages = 9;  // a tenth costs the peer its connection (score 10 each)
constexpr int flood_runs = 5;

// VmHWM (peak) or VmRSS of this process, in bytes.
std::uint64_t memory(const char* field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(field))
            return std::stoull(line.substr(std::string(field).size())) * 1024;
    return 0;
}

// Resets VmHWM to the current RSS (Linux: "5" to clear_refs).
void reset_peak() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

// Sends `message`, then a ping, and waits for its pong: the node has handled the message.
bool round_trip(p2p::testing::RawPeer& peer, std::uint32_t magic, const p2p::Message& message,
                int* blocks_seen = nullptr) {
    if (!peer.send(magic, message) || !peer.send(magic, p2p::PingMessage{77})) return false;
    for (;;) {
        auto reply = peer.receive(magic, std::chrono::seconds(30));
        if (!reply) return false;
        if (const auto* pong = std::get_if<p2p::PongMessage>(&*reply); pong && pong->nonce == 77)
            return true;
        if (const auto* ping = std::get_if<p2p::PingMessage>(&*reply))
            (void)peer.send(magic, p2p::PongMessage{ping->nonce});
        if (blocks_seen && std::holds_alternative<p2p::BlockMessage>(*reply)) ++*blocks_seen;
    }
}

}  // namespace

int main() {
    (void)log::set_level("error");
    chain::Genesis genesis = chain::testing::store_test_genesis();
    bench::fund_senders(genesis);
    chain::testing::ForkBuilder builder(genesis);
    auto blocks = builder.build_chain(builder.genesis_block.hash(), 20);
    auto txs = bench::transfers(genesis, bench::transfer_senders, 0);
    blocks.push_back(builder.build(blocks.back().hash(), std::move(txs)));
    const chain::Block& big = blocks.back();

    const auto dir = p2p::testing::temp_dir("bench-hostile");
    double best_flood = 1e9;
    std::uint64_t peak_growth = 0;
    {
        p2p::testing::TestNode node(genesis, dir, {}, {}, /*durable=*/false);
        node.import(blocks);
        const std::uint32_t magic = node.magic();
        const auto version = p2p::testing::raw_version(builder.genesis_block.hash());

        // Continuous zero-work chains of 2,000 headers on genesis: they cannot beat the tip.
        std::vector<chain::BlockHeader> flood;
        chain::Hash256 parent = builder.genesis_block.hash();
        for (std::size_t i = 0; i < p2p::max_headers_per_message; ++i) {
            chain::BlockHeader header;
            header.height = i + 1;
            header.parent = parent;
            header.time = genesis.time + i + 1;
            header.work = 0;
            header.sign(chain::testing::test_key(3));
            parent = header.hash();
            flood.push_back(header);
        }
        const p2p::HeadersMessage flood_message{flood};
        for (int run = 0; run < flood_runs; ++run) {
            p2p::testing::RawPeer peer;
            if (!peer.connect(node.endpoint(), "127.0.0." + std::to_string(10 + run)) ||
                !peer.handshake(magic, version, std::chrono::seconds(5)))
                std::abort();
            const auto start = Clock::now();
            for (int m = 0; m < flood_messages; ++m)
                if (!(m + 1 < flood_messages ? peer.send(magic, flood_message).ok()
                                             : round_trip(peer, magic, flood_message)))
                    std::abort();
            best_flood =
                std::min(best_flood, std::chrono::duration<double>(Clock::now() - start).count());
        }

        // One getdata naming the big block 4,000 times.
        p2p::testing::RawPeer asker;
        if (!asker.connect(node.endpoint(), "127.0.0.50") ||
            !asker.handshake(magic, version, std::chrono::seconds(5)))
            std::abort();
        p2p::GetDataMessage duplicates;
        duplicates.items.assign(4000, p2p::InvItem{p2p::InvType::block, big.hash()});
        const std::uint64_t before = memory("VmRSS:");
        reset_peak();
        int served = 0;
        if (!round_trip(asker, magic, duplicates, &served)) std::abort();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        peak_growth = memory("VmHWM:") - std::min(before, memory("VmHWM:"));
        if (served != 1) std::fprintf(stderr, "served the block %d times\n", served);
    }
    std::filesystem::remove_all(dir);

    const double headers = static_cast<double>(flood_messages * p2p::max_headers_per_message);
    std::printf(
        "note: TEST work engine; best of %d floods of %d x %zu headers; tip block %zu "
        "bytes\n",
        flood_runs, flood_messages, p2p::max_headers_per_message, big.encoded_size());
    bench::print_line("hostile_header_flood_headers_per_sec", headers / best_flood, "headers/s");
    bench::print_line("getdata_peak_rss_mb", static_cast<double>(peak_growth) / (1 << 20), "MiB");
    bench::print_line("getdata_naive_mb",
                      static_cast<double>(big.encoded_size()) * 4000 / (1 << 20), "MiB");
    return 0;
}
