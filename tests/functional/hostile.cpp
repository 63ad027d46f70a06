#include "functional/hostile.hpp"

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/work.hpp>
#include <learnchain/consensus/prng.hpp>

namespace learnchain::functional {

chain::SecretKey attacker_key() {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(0x66);
    return *chain::SecretKey::from_bytes(bytes);
}

chain::BlockHeader forged_header(const chain::BlockHeader& parent, std::uint64_t work,
                                 std::uint64_t time_offset) {
    chain::BlockHeader header;
    header.height = parent.height + 1;
    header.parent = parent.hash();
    header.time = parent.time + time_offset;
    header.tx_root = chain::compute_tx_root({});
    header.work_root = chain::compute_work_root({});
    header.work = work;
    header.sign(attacker_key());
    return header;
}

chain::WorkItem junk_work_item(std::size_t certificate_bytes, std::size_t blob_bytes,
                               std::uint64_t seed) {
    chain::WorkItem item;
    consensus::SplitMix64 rng(seed);
    item.certificate.resize(certificate_bytes);
    for (auto& b : item.certificate) b = static_cast<std::uint8_t>(rng.next());
    item.blob.resize(blob_bytes);
    for (auto& b : item.blob) b = static_cast<std::uint8_t>(rng.next());
    return item;
}

chain::Block forged_block(const chain::BlockHeader& parent, std::uint64_t work,
                          std::size_t certificate_bytes, std::size_t blob_bytes,
                          std::uint64_t seed) {
    chain::Block block;
    block.work_items.push_back(junk_work_item(certificate_bytes, blob_bytes, seed));
    block.header = forged_header(parent, work);
    block.header.work_root =
        chain::compute_work_root({chain::certificate_root(block.work_items[0].certificate)});
    block.header.sign(attacker_key());
    return block;
}

Status HostilePeer::join(Daemon& node, const std::string& local_address,
                         chain::ChainWork best_work) {
    const auto genesis_block =
        chain::Hash256::from_hex(node.must("getblockhash", json::array({0})).get<std::string>());
    if (!genesis_block) return genesis_block.error();
    magic = p2p::network_magic(node.must("getblockchaininfo")["chain_id"].get<std::uint32_t>());
    LEARNCHAIN_TRY(raw.connect(p2p::Endpoint{"127.0.0.1", node.port()}, local_address));
    p2p::VersionMessage version;
    version.genesis_hash = *genesis_block;
    version.best_work = best_work;
    version.nonce = std::hash<std::string>{}(local_address);
    version.user_agent = "/hostile/";
    return raw.handshake(magic, version, std::chrono::seconds(5));
}

Result<p2p::Message> HostilePeer::next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return make_error(ErrorKind::local, "p2p-timeout");
        auto message = raw.receive(magic, left);
        if (!message) return message;
        if (const auto* ping = std::get_if<p2p::PingMessage>(&*message)) {
            LEARNCHAIN_TRY(raw.send(magic, p2p::PongMessage{ping->nonce}));
            continue;
        }
        return message;
    }
}

std::optional<int> peer_score(Daemon& node, const std::string& address) {
    for (const auto& peer : node.must("getpeerinfo"))
        if (peer["address"].get<std::string>().starts_with(address + ":"))
            return peer["score"].get<int>();
    return std::nullopt;
}

std::vector<std::string> banned(Daemon& node) {
    std::vector<std::string> out;
    for (const auto& entry : node.must("listbanned")) out.push_back(entry["address"]);
    return out;
}

bool is_banned(Daemon& node, const std::string& address) {
    const auto list = banned(node);
    return std::find(list.begin(), list.end(), address) != list.end();
}

void offer_block(Daemon& node, const std::string& address, const chain::Block& block,
                 const std::function<bool()>& judged) {
    HostilePeer peer;
    ASSERT_TRUE(peer.join(node, address, chain::ChainWork(0, UINT64_MAX)));
    ASSERT_TRUE(peer.send(p2p::HeadersMessage{{block.header}}));
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto message = peer.next(2s);
        if (!message) continue;
        if (const auto* getdata = std::get_if<p2p::GetDataMessage>(&*message))
            for (const auto& item : getdata->items)
                if (item.hash == block.hash()) {
                    ASSERT_TRUE(peer.send(p2p::BlockMessage{block}));
                    (void)eventually(judged, 20s);
                    return;
                }
    }
    FAIL() << node.name() << " never asked for block " << block.hash().hex();
}

}  // namespace learnchain::functional
