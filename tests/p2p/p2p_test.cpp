// In-process nodes over real loopback sockets, real threads and RocksDB in temp dirs.
#include <filesystem>
#include <fstream>

#include <learnchain/chain/log.hpp>
#include <learnchain/p2p/connection_manager.hpp>
#include <learnchain/p2p/sync.hpp>

#include <gtest/gtest.h>

#include "p2p/p2p_test_support.hpp"

namespace learnchain::p2p {
namespace {

using namespace std::chrono_literals;
using chain::testing::store_test_genesis;
using chain::testing::test_key;
using testing::eventually;
using testing::ForkBuilder;
using testing::raw_version;
using testing::RawPeer;
using testing::TestNode;

// A banned address is closed at accept: the WebSocket handshake fails, or the stream ends.
bool refused(RawPeer& raw, const Endpoint& endpoint, const std::string& local) {
    if (!raw.connect(endpoint, local)) return true;
    return raw.closed_within(3s);
}

class P2P : public ::testing::Test {
protected:
    void SetUp() override { (void)log::set_level("warn"); }
    void TearDown() override {
        for (const auto& dir : dirs_) std::filesystem::remove_all(dir);
    }
    std::filesystem::path dir(const std::string& name) {
        dirs_.push_back(testing::temp_dir(name));
        return dirs_.back();
    }

    chain::Genesis genesis_ = store_test_genesis();
    ForkBuilder builder_{genesis_};

private:
    std::vector<std::filesystem::path> dirs_;
};

TEST_F(P2P, TwoNodesSyncFiftyBlocks) {
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 50);
    TestNode a(genesis_, dir("a"));
    a.import(blocks);
    ASSERT_EQ(a.height(), 50u);

    TestNode b(genesis_, dir("b"), [&](NetOptions& o) { o.connect = {a.endpoint()}; });
    ASSERT_TRUE(eventually([&] { return b.height() == 50; })) << "height " << b.height();
    EXPECT_EQ(b.tip(), a.tip());
    EXPECT_EQ(b.state_root(), a.state_root());
    EXPECT_EQ(b.tip(), blocks.back().hash());
    EXPECT_EQ(b.sync().best_header().hash, blocks.back().hash());
    EXPECT_EQ(a.net().peer_count(), 1u);
    EXPECT_EQ(b.net().peer_count(), 1u);

    // A new block at A is announced by inv and reaches B.
    const auto next = builder_.build_chain(blocks.back().hash(), 1);
    a.import(next);
    EXPECT_TRUE(eventually([&] { return b.tip() == next.back().hash(); }));
}

TEST_F(P2P, ThreeNodesDownloadInParallel) {
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 60);
    TestNode a(genesis_, dir("a"));
    TestNode b(genesis_, dir("b"));
    a.import(blocks);
    b.import(blocks);
    SyncOptions sync_options;
    sync_options.max_blocks_in_flight_per_peer = 4;
    TestNode c(
        genesis_, dir("c"),
        [&](NetOptions& o) {
            o.connect = {a.endpoint(), b.endpoint()};
        },
        sync_options);
    ASSERT_TRUE(eventually([&] { return c.height() == 60; })) << "height " << c.height();
    EXPECT_EQ(c.state_root(), a.state_root());
    const auto stats = c.sync().stats();
    ASSERT_EQ(stats.blocks_by_peer.size(), 2u) << "bodies came from one peer only";
    for (const auto& [peer, count] : stats.blocks_by_peer) EXPECT_GT(count, 0u);
}

TEST_F(P2P, StalledBlocksAreRequestedFromAnotherPeer) {
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 30);
    TestNode honest(genesis_, dir("honest"));
    honest.import(blocks);
    SyncOptions sync_options;
    sync_options.block_timeout = 300ms;
    TestNode b(genesis_, dir("b"), {}, sync_options);

    // A peer that shows the headers, then never delivers a body.
    RawPeer staller;
    ASSERT_TRUE(staller.connect(b.endpoint(), "127.0.0.7"));
    VersionMessage version = raw_version(builder_.genesis_block.hash(), 7);
    version.best_height = 30;
    version.best_work = chain::ChainWork(1, 0);
    ASSERT_TRUE(staller.handshake(b.magic(), version, 3s));
    bool asked = false;
    for (int i = 0; i < 10 && !asked; ++i) {
        auto message = staller.receive(b.magic(), 3s);
        ASSERT_TRUE(message) << message.error().to_string();
        asked = std::holds_alternative<GetHeadersMessage>(*message);
    }
    ASSERT_TRUE(asked);
    HeadersMessage headers;
    for (const auto& block : blocks) headers.headers.push_back(block.header);
    ASSERT_TRUE(staller.send(b.magic(), headers));
    ASSERT_TRUE(eventually([&] { return b.sync().best_header().hash == blocks.back().hash(); }));

    b.net().connect(honest.endpoint());
    ASSERT_TRUE(eventually([&] { return b.height() == 30; })) << "height " << b.height();
    EXPECT_GT(b.sync().stats().blocks_rerequested, 0u);
}

TEST_F(P2P, BadHeaderAfterTheFirstPartBansThePeerAndKeepsTheGoodOnes) {
    // The first part of a headers message is accepted at once and the rest once a helper
    // thread has verified it: a bad signature there still costs the sender its ban.
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 60);
    TestNode b(genesis_, dir("b"));
    RawPeer liar;
    ASSERT_TRUE(liar.connect(b.endpoint(), "127.0.0.8"));
    VersionMessage version = raw_version(builder_.genesis_block.hash(), 8);
    version.best_height = 60;
    version.best_work = chain::ChainWork(1, 0);
    ASSERT_TRUE(liar.handshake(b.magic(), version, 3s));
    bool asked = false;
    for (int i = 0; i < 10 && !asked; ++i) {
        auto message = liar.receive(b.magic(), 3s);
        ASSERT_TRUE(message) << message.error().to_string();
        asked = std::holds_alternative<GetHeadersMessage>(*message);
    }
    ASSERT_TRUE(asked);
    HeadersMessage headers;
    for (const auto& block : blocks) headers.headers.push_back(block.header);
    headers.headers.back().signature = chain::Signature{};
    ASSERT_TRUE(liar.send(b.magic(), headers));
    EXPECT_TRUE(liar.closed_within(3s));
    EXPECT_TRUE(eventually([&] { return b.net().is_banned("127.0.0.8"); }));
    EXPECT_EQ(b.sync().best_header().hash, blocks[58].hash());
    EXPECT_EQ(b.net().bans().at(0).reason, "bad-block-signature");
}

TEST_F(P2P, TransactionRelaysToPeerMempool) {
    TestNode a(genesis_, dir("a"));
    TestNode b(genesis_, dir("b"), [&](NetOptions& o) { o.connect = {a.endpoint()}; });
    ASSERT_TRUE(eventually([&] { return a.net().peer_count() == 1 && b.net().peer_count() == 1; }));
    const auto tx = chain::testing::make_transfer(genesis_, test_key(1), test_key(2).public_key(),
                                                  10 * chain::coin, 1000, 0);
    auto added = a.sync().submit_transaction(tx);
    ASSERT_TRUE(added) << added.error().to_string();
    EXPECT_TRUE(eventually([&] { return b.in_mempool(*added); }));
}

TEST_F(P2P, CertificateRelaysToHook) {
    TestNode a(genesis_, dir("a"));
    TestNode b(genesis_, dir("b"), [&](NetOptions& o) { o.connect = {a.endpoint()}; });
    std::atomic<int> seen{0};
    const chain::WorkItem item = testing::sized_work_item(genesis_, 9);
    b.sync().on_work_item = [&](PeerId, const Hash256&, const chain::WorkItem& got) {
        if (got == item) ++seen;
        return Sync::WorkItemFate::dropped;
    };
    ASSERT_TRUE(eventually([&] { return b.net().peer_count() == 1; }));
    a.sync().announce_work_item(item);
    EXPECT_TRUE(eventually([&] { return seen.load() == 1; }));
}

// A verifying node (B) relays a peer's certificate only once its verdict is in, takes at most
// max_unverified_work_items_per_peer of one peer's certificates at a time, and bans the sender
// of one that breaks a rule.
TEST_F(P2P, CertificatesAreRelayedOnceVerifiedAndTheirSenderAnswersForThem) {
    TestNode a(genesis_, dir("a"));
    SyncOptions options;
    options.max_unverified_work_items_per_peer = 2;
    TestNode b(
        genesis_, dir("b"), [&](NetOptions& o) { o.connect = {a.endpoint()}; }, options);
    TestNode c(genesis_, dir("c"), [&](NetOptions& o) { o.connect = {b.endpoint()}; });
    std::mutex mutex;
    std::vector<std::pair<PeerId, Hash256>> verifying;  // what B was handed
    b.sync().on_work_item = [&](PeerId peer, const Hash256& id, const chain::WorkItem&) {
        std::lock_guard lock(mutex);
        verifying.emplace_back(peer, id);
        return Sync::WorkItemFate::verifying;
    };
    std::atomic<int> relayed_to_c{0};
    c.sync().on_work_item = [&](PeerId, const Hash256&, const chain::WorkItem&) {
        ++relayed_to_c;
        return Sync::WorkItemFate::dropped;
    };
    const auto handed = [&] {
        std::lock_guard lock(mutex);
        return verifying.size();
    };
    ASSERT_TRUE(eventually([&] { return b.net().peer_count() == 2; }));

    for (std::uint8_t i = 1; i <= 3; ++i)
        a.sync().announce_work_item(testing::sized_work_item(genesis_, i));
    ASSERT_TRUE(eventually([&] { return handed() == 2; }));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(handed(), 2u) << "the third waits for a verdict";
    EXPECT_EQ(relayed_to_c.load(), 0) << "nothing is relayed before its verdict";

    const auto [from, first] = verifying[0];
    b.sync().work_item_verdict(from, first, ok_status(), Sync::WorkItemCheck::recomputed);
    EXPECT_TRUE(eventually([&] { return relayed_to_c.load() == 1; }));
    a.sync().announce_work_item(testing::sized_work_item(genesis_, 4));  // a slot is free again
    EXPECT_TRUE(eventually([&] { return handed() == 3; }));
    EXPECT_FALSE(b.net().is_banned("127.0.0.1"));

    // Not the sender's fault: no score.
    // Not the sender's fault: no score. Nor is a failed recomputation, which a relay cannot
    // have checked.
    b.sync().work_item_verdict(from, verifying[1].second,
                               make_error(ErrorKind::policy, "miner-stale-work"),
                               Sync::WorkItemCheck::cheap);
    a.sync().announce_work_item(testing::sized_work_item(genesis_, 5));
    EXPECT_TRUE(eventually([&] { return handed() == 4; }));
    b.sync().work_item_verdict(from, verifying[3].second,
                               make_error(ErrorKind::invalid, "bad-cert-unit-mismatch"),
                               Sync::WorkItemCheck::recomputed);
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(b.net().is_banned("127.0.0.1"));
    EXPECT_EQ(relayed_to_c.load(), 1);
    // What fails the cheap checks no honest relay forwards: its sender is banned.
    b.sync().work_item_verdict(from, verifying[2].second,
                               make_error(ErrorKind::invalid, "bad-cert-signature"),
                               Sync::WorkItemCheck::cheap);
    EXPECT_TRUE(eventually([&] { return b.net().is_banned("127.0.0.1"); }));
    EXPECT_EQ(relayed_to_c.load(), 1);
}

TEST_F(P2P, DifferentGenesisIsDropped) {
    TestNode a(genesis_, dir("a"));
    chain::Genesis other = genesis_;
    other.time += 1;
    TestNode b(other, dir("b"), [&](NetOptions& o) { o.connect = {a.endpoint()}; });
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(a.net().peer_count(), 0u);
    EXPECT_EQ(b.net().peer_count(), 0u);
    EXPECT_FALSE(a.net().is_banned("127.0.0.1"));  // dropped, not punished

    RawPeer raw;
    ASSERT_TRUE(raw.connect(a.endpoint()));
    ASSERT_TRUE(raw.send(a.magic(), raw_version(Hash256{})));
    EXPECT_TRUE(raw.closed_within(3s));
}

TEST_F(P2P, SelfConnectionIsDetected) {
    TestNode a(genesis_, dir("a"));
    a.net().connect(a.endpoint());
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(a.net().peer_count(), 0u);
}

TEST_F(P2P, HandshakeTimesOut) {
    TestNode a(genesis_, dir("a"), [](NetOptions& o) { o.handshake_timeout = 300ms; });
    RawPeer raw;
    ASSERT_TRUE(raw.connect(a.endpoint()));
    EXPECT_TRUE(raw.closed_within(3s));
}

TEST_F(P2P, PingTimeoutDisconnects) {
    TestNode a(genesis_, dir("a"), [](NetOptions& o) {
        o.ping_interval = 200ms;
        o.ping_timeout = 200ms;
    });
    RawPeer raw;
    ASSERT_TRUE(raw.connect(a.endpoint()));
    const Hash256 genesis_hash = builder_.genesis_block.hash();
    ASSERT_TRUE(raw.handshake(a.magic(), raw_version(genesis_hash), 3s));
    EXPECT_TRUE(eventually([&] { return a.net().peer_count() == 1; }));
    // The raw peer never answers pings.
    EXPECT_TRUE(raw.closed_within(5s));
    EXPECT_TRUE(eventually([&] { return a.net().peer_count() == 0; }));
}

TEST_F(P2P, MisbehavingPeersAreBannedAndSyncContinues) {
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 30);
    TestNode honest(genesis_, dir("honest"));
    honest.import(blocks);
    TestNode b(genesis_, dir("b"));
    const Hash256 genesis_hash = builder_.genesis_block.hash();

    // 1. A malformed frame (bad magic) after the handshake.
    RawPeer garbage;
    ASSERT_TRUE(garbage.connect(b.endpoint(), "127.0.0.2"));
    ASSERT_TRUE(garbage.handshake(b.magic(), raw_version(genesis_hash, 2), 3s));
    ASSERT_TRUE(garbage.send_bytes(std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6, 7}));
    EXPECT_TRUE(garbage.closed_within(3s));
    EXPECT_TRUE(eventually([&] { return b.net().is_banned("127.0.0.2"); }));

    // 2. An oversized message: a ping far above the per-type bound.
    RawPeer oversized;
    ASSERT_TRUE(oversized.connect(b.endpoint(), "127.0.0.3"));
    ASSERT_TRUE(oversized.handshake(b.magic(), raw_version(genesis_hash, 3), 3s));
    auto big = encode_message(b.magic(), PingMessage{1});
    big.resize(64 * 1024, 0);
    ASSERT_TRUE(oversized.send_bytes(big));
    EXPECT_TRUE(oversized.closed_within(3s));
    EXPECT_TRUE(eventually([&] { return b.net().is_banned("127.0.0.3"); }));

    // 3. Before the handshake, even a moderately large frame is refused by the socket.
    RawPeer early;
    ASSERT_TRUE(early.connect(b.endpoint(), "127.0.0.4"));
    // The node may cut the connection mid-write, so the send's own result is not checked.
    (void)early.send_bytes(std::vector<std::uint8_t>(100 * 1024, 0));
    EXPECT_TRUE(early.closed_within(3s));
    EXPECT_TRUE(eventually([&] { return b.net().is_banned("127.0.0.4"); }));

    // 4. An invalid block (its work fails verification) on B's tip.
    chain::testing::BuildOptions bad;
    bad.invalid_work = true;
    const auto invalid = builder_.build(genesis_hash, {}, bad);
    RawPeer liar;
    ASSERT_TRUE(liar.connect(b.endpoint(), "127.0.0.5"));
    ASSERT_TRUE(liar.handshake(b.magic(), raw_version(genesis_hash, 5), 3s));
    ASSERT_TRUE(liar.send(b.magic(), BlockMessage{invalid}));
    EXPECT_TRUE(liar.closed_within(3s));
    EXPECT_TRUE(eventually([&] { return b.net().is_banned("127.0.0.5"); }));
    EXPECT_EQ(b.height(), 0u);

    // A banned address cannot come back.
    RawPeer again;
    EXPECT_TRUE(refused(again, b.endpoint(), "127.0.0.5"));

    // The honest peer is untouched and B syncs from it.
    b.net().connect(honest.endpoint());
    ASSERT_TRUE(eventually([&] { return b.height() == 30; })) << "height " << b.height();
    EXPECT_EQ(b.tip(), honest.tip());
    EXPECT_FALSE(b.net().is_banned("127.0.0.1"));
    EXPECT_EQ(b.net().bans().size(), 4u);
}

TEST_F(P2P, BansPersistAcrossRestart) {
    const auto datadir = dir("persist");
    {
        TestNode a(genesis_, datadir);
        a.net().ban("127.0.0.9", std::chrono::hours(1), "test");
        RawPeer raw;
        ASSERT_TRUE(raw.connect(a.endpoint(), "127.0.0.6"));
        ASSERT_TRUE(raw.send_bytes(std::vector<std::uint8_t>{0xde, 0xad, 0xbe, 0xef, 0, 0}));
        EXPECT_TRUE(raw.closed_within(3s));
        ASSERT_TRUE(eventually([&] { return a.net().is_banned("127.0.0.6"); }));
    }
    ASSERT_TRUE(std::filesystem::exists(datadir / "banlist.json"));
    TestNode a(genesis_, datadir);
    EXPECT_TRUE(a.net().is_banned("127.0.0.6"));
    EXPECT_TRUE(a.net().is_banned("127.0.0.9"));
    EXPECT_FALSE(a.net().is_banned("127.0.0.1"));
    RawPeer raw;
    EXPECT_TRUE(refused(raw, a.endpoint(), "127.0.0.6"));
}

TEST_F(P2P, KnownPeersPersistAndPersistentPeersReconnect) {
    const auto a_dir = dir("a");
    std::uint16_t a_port = 0;
    const auto b_dir = dir("b");
    {
        TestNode a(genesis_, a_dir);
        a_port = a.endpoint().port;
        TestNode b(genesis_, b_dir, [&](NetOptions& o) { o.connect = {a.endpoint()}; });
        ASSERT_TRUE(eventually([&] { return b.net().peer_count() == 1; }));
        const auto known = b.net().known_peers();
        ASSERT_EQ(known.size(), 1u);
        EXPECT_EQ(known[0], a.endpoint());
    }
    // peers.json survives; B, restarted first, keeps dialling A with backoff until A is back.
    TestNode b(genesis_, b_dir, [&](NetOptions& o) {
        o.use_known_peers = false;
        o.connect = {{"127.0.0.1", a_port}};
    });
    EXPECT_EQ(b.net().known_peers().size(), 1u);
    std::this_thread::sleep_for(600ms);
    TestNode a(genesis_, a_dir, [&](NetOptions& o) { o.listen_port = a_port; });
    EXPECT_TRUE(eventually([&] { return b.net().peer_count() == 1; }, 10s));
}

TEST_F(P2P, SlowReaderIsDisconnected) {
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 5);
    TestNode a(genesis_, dir("a"), [](NetOptions& o) { o.max_send_queue_bytes = 4096; });
    a.import(blocks);
    RawPeer raw;
    ASSERT_TRUE(raw.connect(a.endpoint()));
    ASSERT_TRUE(raw.handshake(a.magic(), raw_version(builder_.genesis_block.hash()), 3s));
    // Ask for far more than the queue bound allows, and never read.
    GetDataMessage getdata;
    for (int i = 0; i < 200; ++i)
        for (const auto& block : blocks)
            getdata.items.push_back(InvItem{InvType::block, block.hash()});
    ASSERT_TRUE(raw.send(a.magic(), getdata));
    EXPECT_TRUE(eventually([&] { return a.net().peer_count() == 0; }, 5s));
}

// One chain lock, and long work off it: while one peer's block is verified (3 s here, as a
// devnet block's recomputation takes seconds), another peer's requests are answered at once and
// its pings keep it connected. Verifying under cs_main (the engine's `detached` off) held every
// other peer's messages for the whole verification.
TEST_F(P2P, ABlockBeingVerifiedDoesNotHoldUpOtherPeers) {
    constexpr auto verification = 3s;
    chain::testing::DetachedTestEngine engine(verification);
    engine.start_at(builder_.genesis_block.hash());
    TestNode node(
        genesis_, dir("node"),
        [](NetOptions& o) {
            o.ping_interval = 300ms;
            o.ping_timeout = 500ms;
        },
        {}, true, &engine);
    const Hash256 genesis_hash = builder_.genesis_block.hash();
    const auto blocks = builder_.build_chain(genesis_hash, 1);

    RawPeer watcher;
    ASSERT_TRUE(watcher.connect(node.endpoint(), "127.0.0.3"));
    ASSERT_TRUE(watcher.handshake(node.magic(), raw_version(genesis_hash, 3), 3s));

    RawPeer sender;
    ASSERT_TRUE(sender.connect(node.endpoint(), "127.0.0.2"));
    ASSERT_TRUE(sender.handshake(node.magic(), raw_version(genesis_hash, 2), 3s));
    ASSERT_TRUE(sender.send(node.magic(), BlockMessage{blocks[0]}));
    const auto sent = std::chrono::steady_clock::now();

    // The watcher asks for headers over and over while the block is verified, answering the
    // node's pings as an honest peer does, and times each answer.
    std::chrono::steady_clock::duration slowest{};
    int answered = 0;
    while (std::chrono::steady_clock::now() - sent < verification + 500ms) {
        const auto asked = std::chrono::steady_clock::now();
        ASSERT_TRUE(watcher.send(node.magic(), GetHeadersMessage{{genesis_hash}, {}}));
        for (;;) {
            auto message = watcher.receive(node.magic(), 5s);
            ASSERT_TRUE(message) << "watcher: " << message.error().to_string();
            if (const auto* ping = std::get_if<PingMessage>(&*message)) {
                ASSERT_TRUE(watcher.send(node.magic(), PongMessage{ping->nonce}));
                continue;
            }
            if (std::holds_alternative<HeadersMessage>(*message)) break;
        }
        slowest = std::max(slowest, std::chrono::steady_clock::now() - asked);
        ++answered;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_LT(slowest, 250ms) << "a getheaders waited behind the block's verification";
    EXPECT_GT(answered, 20);
    ASSERT_TRUE(eventually([&] { return node.height() == 1; }, 10s));
    EXPECT_TRUE(eventually(
        [&] {
            for (const auto& peer : node.net().peers())
                if (peer.remote.host == "127.0.0.3") return true;
            return false;
        },
        1s))
        << "the watcher was dropped";
}

}  // namespace
}  // namespace learnchain::p2p
