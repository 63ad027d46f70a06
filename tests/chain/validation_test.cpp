// One test per consensus rule: a block that breaks it is rejected with that rule's reason.
#include <algorithm>

#include <learnchain/chain/validation.hpp>

#include <gtest/gtest.h>

#include "chain/chain_test_support.hpp"

namespace learnchain::chain {
namespace {

using testing::make_transfer;
using testing::make_work_item;
using testing::test_key;
using testing::TestChain;

const SecretKey& proposer_key() {
    static const SecretKey key = test_key(9);
    return key;
}
PublicKey alice() {
    return test_key(1).public_key();
}  // 1000 coins in test.json
PublicKey bob() {
    return test_key(2).public_key();
}  // 500.5 coins
PublicKey carol() {
    return test_key(3).public_key();
}  // nothing
PublicKey worker() {
    return test_key(7).public_key();
}  // TestChain::build's default worker

void resign(Block& block) {
    block.header.sign(proposer_key());
}

// A changed body with a header that commits to it (roots recomputed, then signed): the rule
// under test is then the block's own failure, not a body that does not match its header.
void recommit(Block& block) {
    block.header.tx_root = compute_tx_root(block.transactions);
    std::vector<Hash256> roots;
    for (const auto& item : block.work_items) roots.push_back(certificate_root(item.certificate));
    block.header.work_root = compute_work_root(roots);
    block.header.evidence_root = compute_evidence_root(block.evidence);
    resign(block);
}

// What breaking each rule costs (failed_block_action): a body that does not match what its
// header commits to is mutated (dropped, the header kept); a missing parent or a time ahead of
// our clock says nothing about the block; everything else is the block's own failure.
ErrorKind kind_of_rule(const std::string& reason) {
    if (reason == "bad-block-tx-root" || reason == "bad-block-work-root" ||
        reason == "bad-block-work-count" || reason == "bad-block-evidence-root")
        return ErrorKind::mutated;
    if (reason == "bad-block-parent-unknown") return ErrorKind::missing;
    if (reason == "bad-block-time-too-new") return ErrorKind::policy;
    return ErrorKind::invalid;
}

// The failure's reason ("ok" on success), after checking its kind is the rule's.
std::string reason(const Result<ConnectedBlock>& result) {
    if (result) return "ok";
    EXPECT_EQ(result.error().kind, kind_of_rule(result.error().reason)) << result.error().reason;
    return result.error().reason;
}

// A child of the tip carrying `items` is rejected with `expected`; the tip stays.
void expect_rejected_at_tip(TestChain& chain, std::vector<WorkItem> items,
                            const std::string& expected) {
    const Hash256 tip = chain.tip.hash;
    const Block block =
        chain.build({}, chain.tip.header.time + 1, proposer_key(), std::move(items));
    EXPECT_EQ(reason(chain.connect(block)), expected);
    EXPECT_EQ(chain.tip.hash, tip);
}

class Validation : public ::testing::Test {
protected:
    TestChain chain;

    // Connects `block` and expects failure with `expected`, leaving state and tip untouched.
    void expect_rejected(const Block& block, const std::string& expected) {
        const AccountState before = chain.state;
        const Hash256 tip = chain.tip.hash;
        const Hash256 model = chain.engine.model_root();
        EXPECT_EQ(reason(chain.connect(block)), expected);
        EXPECT_EQ(chain.state, before);
        EXPECT_EQ(chain.tip.hash, tip);
        EXPECT_EQ(chain.engine.model_root(), model);
    }

    Transaction transfer(const SecretKey& from, const PublicKey& to, Amount amount, Amount fee = 0,
                         std::optional<std::uint64_t> nonce = std::nullopt) {
        const std::uint64_t n = nonce ? *nonce : chain.state.get(from.public_key()).nonce;
        return make_transfer(chain.genesis, from, to, amount, fee, n);
    }
};

TEST(FailedBlockAction, FollowsTheKind) {
    EXPECT_EQ(failed_block_action(ErrorKind::invalid), FailedBlock::condemn);
    EXPECT_EQ(failed_block_action(ErrorKind::conflict), FailedBlock::condemn);
    EXPECT_EQ(failed_block_action(ErrorKind::fraud), FailedBlock::condemn);
    EXPECT_EQ(failed_block_action(ErrorKind::mutated), FailedBlock::drop_body);
    EXPECT_EQ(failed_block_action(ErrorKind::malformed), FailedBlock::drop_body);
    EXPECT_EQ(failed_block_action(ErrorKind::missing), FailedBlock::keep);
    EXPECT_EQ(failed_block_action(ErrorKind::policy), FailedBlock::keep);
    EXPECT_EQ(failed_block_action(ErrorKind::local), FailedBlock::keep);
}

TEST_F(Validation, ValidBlocksConnect) {
    for (int i = 0; i < 5; ++i) {
        const auto status = chain.extend();
        ASSERT_TRUE(status) << status.error().to_string();
    }
    EXPECT_EQ(chain.tip.header.height, 5u);
    EXPECT_EQ(chain.view.best().hash, chain.tip.hash);
    EXPECT_EQ(chain.state.state_root(chain.engine.model_root()), chain.tip.header.state_root);
}

// --- context-free rules -----------------------------------------------------------------

TEST_F(Validation, RejectsUnknownVersion) {
    Block block = chain.build();
    block.header.version = 2;
    resign(block);
    expect_rejected(block, "bad-block-version");
}

TEST_F(Validation, HeaderChecksNeedOnlyTheHeader) {
    Block block = chain.build();
    EXPECT_TRUE(check_header(block.header));
    block.header.work += 1;
    EXPECT_EQ(check_header(block.header).reason(), "bad-block-signature");
}

TEST(DevnetChain, BuildsOnTheShippedDevnetGenesis) {
    auto devnet = load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/genesis/devnet.json");
    ASSERT_TRUE(devnet) << devnet.error().to_string();
    TestChain chain(*devnet);
    const std::uint64_t initial_work = devnet->initial_work;
    EXPECT_EQ(chain.required_work(), initial_work);
    ASSERT_TRUE(chain.extend());
    ASSERT_TRUE(chain.extend());
    EXPECT_EQ(chain.tip.cumulative_work, ChainWork(2 * initial_work));
    EXPECT_EQ(chain.state.total_supply(), 1'000'000 * coin + 2 * block_reward);
}

TEST_F(Validation, RejectsTooManyTransactions) {
    Block block = chain.build();
    block.transactions.assign(max_block_txs + 1, transfer(test_key(1), bob(), 1));
    recommit(block);
    expect_rejected(block, "bad-block-too-many-txs");
}

TEST_F(Validation, RejectsTooManyWorkItems) {
    Block block = chain.build();
    block.work_items.assign(max_block_work_items + 1, make_work_item(worker(), 1));
    recommit(block);
    expect_rejected(block, "bad-block-too-many-work-items");
}

TEST_F(Validation, RejectsBlockWithoutWork) {
    Block block = chain.build();
    block.work_items.clear();
    recommit(block);
    expect_rejected(block, "bad-block-no-work");
}

TEST_F(Validation, RejectsOversizedBlock) {
    Block block = chain.build();
    block.work_items[0].blob.assign(max_block_bytes, 0);
    resign(block);
    expect_rejected(block, "bad-block-size");
}

TEST_F(Validation, RejectsWrongTxRoot) {
    Block block = chain.build({transfer(test_key(1), bob(), coin)});
    block.header.tx_root = compute_tx_root({});
    resign(block);
    expect_rejected(block, "bad-block-tx-root");
}

TEST_F(Validation, RejectsBadProposerSignature) {
    Block block = chain.build();
    block.header.time += 1;  // after signing
    expect_rejected(block, "bad-block-signature");

    Block other = chain.build();
    other.header.proposer = alice();  // signature by someone else
    expect_rejected(other, "bad-block-signature");
}

TEST_F(Validation, RejectsContextFreeInvalidTransactions) {
    struct Case {
        Transaction tx;
        std::string reason;
    };
    Transaction tampered = transfer(test_key(1), bob(), coin);
    tampered.amount += 1;
    Transaction other_chain = transfer(test_key(1), bob(), coin);
    other_chain.chain_id += 1;
    other_chain.sign(test_key(1));
    Transaction long_memo = transfer(test_key(1), bob(), coin);
    long_memo.memo.assign(max_memo_bytes + 1, 1);
    long_memo.sign(test_key(1));
    const std::vector<Case> cases = {
        {tampered, "bad-tx-signature"},
        {other_chain, "bad-tx-chain-id"},
        {transfer(test_key(1), bob(), 0), "bad-tx-zero-amount"},
        {long_memo, "bad-tx-memo-too-long"},
        {transfer(test_key(1), bob(), UINT64_MAX, 1), "bad-tx-amount-overflow"},
    };
    for (const auto& c : cases) {
        Block block = chain.build({transfer(test_key(2), carol(), coin), c.tx});
        expect_rejected(block, c.reason);
    }
}

// --- contextual rules -----------------------------------------------------------------

TEST_F(Validation, RejectsUnknownParent) {
    Block block = chain.build();
    block.header.parent = sha256(std::string_view("nowhere"));
    resign(block);
    expect_rejected(block, "bad-block-parent-unknown");
}

TEST_F(Validation, RejectsWrongHeight) {
    for (std::uint64_t height : {std::uint64_t{0}, std::uint64_t{2}}) {
        Block block = chain.build();
        block.header.height = height;
        resign(block);
        expect_rejected(block, "bad-block-height");
    }
}

TEST_F(Validation, TimestampMustExceedMedianOfLast11) {
    const std::uint64_t t0 = chain.genesis.time;
    for (std::uint64_t i = 1; i <= 11; ++i) ASSERT_TRUE(chain.extend({}, t0 + i));
    // Last 11 are heights 1..11 with times t0+1..t0+11: the median is t0+6.
    EXPECT_EQ(median_time_past(chain.view, chain.tip.hash).value(), t0 + 6);
    expect_rejected(chain.build({}, t0 + 6), "bad-block-time-too-old");
    // Earlier than the parent but past the median is fine.
    EXPECT_EQ(reason(chain.connect(chain.build({}, t0 + 7))), "ok");
}

TEST_F(Validation, MedianTimeNearGenesisUsesFewerBlocks) {
    const std::uint64_t t0 = chain.genesis.time;
    EXPECT_EQ(median_time_past(chain.view, chain.tip.hash).value(), t0);
    expect_rejected(chain.build({}, t0), "bad-block-time-too-old");
    ASSERT_TRUE(chain.extend({}, t0 + 5));
    // {t0, t0+5}: the upper median, t0+5.
    EXPECT_EQ(median_time_past(chain.view, chain.tip.hash).value(), t0 + 5);
}

TEST_F(Validation, RejectsTimestampTooFarInFuture) {
    const std::uint64_t now = chain.genesis.time + 100;
    const std::uint64_t limit = now + chain.genesis.max_future_time;
    const Block at_limit = chain.build({}, limit);
    EXPECT_TRUE(check_block_contextual(at_limit.header, chain.view, chain.genesis, now));
    const Block beyond = chain.build({}, limit + 1);
    AccountState state = chain.state;
    auto result = validate_and_connect_block(state, chain.engine, chain.view, beyond, chain.genesis,
                                             now, nullptr);
    EXPECT_EQ(reason(result), "bad-block-time-too-new");
    EXPECT_EQ(state, chain.state);
}

TEST_F(Validation, RejectsInsufficientWork) {
    const std::uint64_t d = chain.required_work();
    ASSERT_EQ(d, chain.genesis.initial_work);
    const Block block = chain.build({}, 0, proposer_key(), {make_work_item(worker(), d - 1)});
    expect_rejected(block, "bad-block-insufficient-work");
    // Split over two items it is enough.
    const Block split = chain.build({}, 0, proposer_key(),
                                    {make_work_item(worker(), d - 1), make_work_item(alice(), 1)});
    EXPECT_EQ(reason(chain.connect(split)), "ok");
}

// A header may claim at most what the fullest block of certificates carries: beyond that its
// work is refused before any body is looked at, headers-first or with the body.
TEST_F(Validation, RejectsClaimedWorkNoBlockCanCarry) {
    const std::uint64_t most = max_block_work(chain.genesis.learning);
    ASSERT_GT(most, chain.required_work());
    const Block block = chain.build({}, 0, proposer_key(), {make_work_item(worker(), most + 1)});
    EXPECT_EQ(block.header.work, most + 1);
    expect_rejected(block, "bad-block-work-too-large");
    auto header_only = check_block_contextual(block.header, chain.view, chain.genesis, chain.now());
    ASSERT_FALSE(header_only.ok());
    EXPECT_EQ(header_only.error().reason, "bad-block-work-too-large");
    EXPECT_EQ(header_only.error().kind, ErrorKind::invalid);
    // At the bound the header is fine.
    const Block full = chain.build({}, 0, proposer_key(), {make_work_item(worker(), most)});
    EXPECT_TRUE(check_block_contextual(full.header, chain.view, chain.genesis, chain.now()).ok());
}

// --- required work and retarget ---------------------------------------------------------

TEST(Retarget, FormulaAndClamp) {
    EXPECT_EQ(retarget_work(100, 30, 30), 100u);
    EXPECT_EQ(retarget_work(100, 15, 30), 200u);  // twice as fast: twice the work
    EXPECT_EQ(retarget_work(100, 60, 30), 50u);
    EXPECT_EQ(retarget_work(100, 1, 30), 400u);  // clamped to 4D
    EXPECT_EQ(retarget_work(100, 0, 30), 400u);
    EXPECT_EQ(retarget_work(100, 1000, 30), 25u);  // clamped to D/4
    EXPECT_EQ(retarget_work(3, 1000, 30), 1u);     // never below 1
    EXPECT_EQ(retarget_work(1, 1000, 30), 1u);
    EXPECT_EQ(retarget_work(UINT64_MAX, 1, 30), UINT64_MAX);  // saturates, no overflow
    EXPECT_EQ(retarget_work(std::uint64_t{1} << 62, 15, 30), std::uint64_t{1} << 63);
    EXPECT_EQ(retarget_work(UINT64_MAX / 3, 29, 30),
              UINT64_MAX / 3 / 29 * 30 + (UINT64_MAX / 3 % 29) * 30 / 29);
}

// The test genesis with room for D to move both ways: D_0 = 2 contributions of 128 tokens
// between the floor (1 contribution) and the cap (max_per_worker = 4 contributions).
Genesis roomy_test_genesis() {
    Genesis g = testing::load_test_genesis();
    g.initial_work = 256;
    return g;
}

TEST(RequiredWork, HoldsWithinWindow) {
    TestChain chain(roomy_test_genesis());
    const std::uint64_t d = chain.genesis.initial_work;
    // Window 4 in test.json: heights 1, 2, 3 use D; height 4 retargets.
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(chain.required_work(), d);
        ASSERT_TRUE(chain.extend({}, chain.tip.header.time + 100));
    }
    EXPECT_NE(chain.required_work(), d);
}

TEST_F(Validation, RetargetRaisesWorkWhenBlocksAreFast) {
    const std::uint64_t t0 = chain.genesis.time;
    const std::uint64_t d = chain.genesis.initial_work;
    // Heights 0..3 span t0..t0+2: actual 2 s against a target of (4 - 1) * 1 s.
    ASSERT_TRUE(chain.extend({}, t0 + 1));
    ASSERT_TRUE(chain.extend({}, t0 + 2));
    ASSERT_TRUE(chain.extend({}, t0 + 2));
    EXPECT_EQ(chain.required_work(), d * 3 / 2);
    expect_rejected(chain.build({}, t0 + 3, proposer_key(), {make_work_item(worker(), d)}),
                    "bad-block-insufficient-work");
    ASSERT_TRUE(chain.extend({}, t0 + 3));
    EXPECT_EQ(chain.tip.required_work, d * 3 / 2);
    // The new D holds for the next window.
    EXPECT_EQ(chain.required_work(), d * 3 / 2);
}

TEST(RequiredWork, RetargetIsClampedToAQuarterWhenBlocksAreSlow) {
    Genesis g = testing::load_test_genesis();
    g.initial_work = 512;  // 4 contributions: a quarter of it is still one contribution
    TestChain chain(g);
    const std::uint64_t t0 = g.time;
    for (std::uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(chain.extend({}, t0 + 1000 * i));
    EXPECT_EQ(chain.required_work(), g.initial_work / 4);
    ASSERT_TRUE(chain.extend());
    EXPECT_EQ(chain.tip.header.work, g.initial_work / 4);
}

TEST(RequiredWork, NeverFallsBelowOneContribution) {
    // D_0 is one contribution (128 tokens) in test.json: a quarter of it would demand less
    // than any block carries, so the floor keeps it where it binds.
    TestChain chain;
    const std::uint64_t floor = required_work_bounds(chain.genesis).min;
    ASSERT_EQ(floor, 128u);
    ASSERT_EQ(chain.genesis.initial_work, floor);
    for (int window = 0; window < 3; ++window) {
        for (int i = 0; i < 4; ++i) ASSERT_TRUE(chain.extend({}, chain.tip.header.time + 1000));
        EXPECT_EQ(chain.tip.required_work, floor) << "window " << window;
    }
    EXPECT_EQ(chain.required_work(), floor);
}

TEST(RequiredWork, RetargetIsClampedToFourTimes) {
    // Blocks one second apart against a 30 s target: 30x too fast, clamped to 4x. A larger
    // max_per_worker lifts the cap out of the way.
    Genesis g = testing::load_test_genesis();
    g.retarget_window = 12;
    g.target_block_time = 30;
    g.learning.max_per_worker = 64;
    TestChain fast(g);
    const std::uint64_t t0 = g.time;
    for (std::uint64_t i = 1; i <= 11; ++i) ASSERT_TRUE(fast.extend({}, t0 + i));
    EXPECT_EQ(fast.required_work(), g.initial_work * 4);
}

// A chain 30x faster than its target: D quadruples each window until the cap, then stays.
TEST(RequiredWork, FastBlocksRetargetUpToTheCapAndNoFurther) {
    Genesis g = testing::load_test_genesis();
    g.retarget_window = 12;
    g.target_block_time = 30;
    g.learning.max_per_worker = 10;  // cap: 10 contributions of 2 * 2 * 32 tokens
    const std::uint64_t cap = required_work_bounds(g).max;
    ASSERT_EQ(cap, 10u * 128);
    TestChain fast(g);
    std::vector<std::uint64_t> per_window;
    for (int window = 0; window < 4; ++window) {
        for (int i = 0; i < 12; ++i) ASSERT_TRUE(fast.extend({}, fast.tip.header.time + 1));
        per_window.push_back(fast.required_work());
    }
    // 128 -> 512 -> 2048 without the cap; the cap cuts the second step short.
    EXPECT_EQ(per_window, (std::vector<std::uint64_t>{512, cap, cap, cap}));

    // Uncapped, this block would have to carry 128 * 4^4 = 32768 tokens; the cap is enough.
    expect_rejected_at_tip(fast, {make_work_item(worker(), cap - 1)},
                           "bad-block-insufficient-work");
    const Block at_cap =
        fast.build({}, fast.tip.header.time + 1, proposer_key(), {make_work_item(worker(), cap)});
    EXPECT_EQ(reason(fast.connect(at_cap)), "ok");
    EXPECT_EQ(fast.tip.required_work, cap);
}

// On the shipped test genesis the cap is max_per_worker (4) contributions, the x4 clamp's first
// step from D_0: afterwards D stays there however fast the blocks come.
TEST(RequiredWork, TestGenesisCapIsFourContributions) {
    Genesis g = testing::load_test_genesis();
    g.target_block_time = 30;
    TestChain fast(g);
    for (int i = 0; i < 4 * 4 - 1; ++i) ASSERT_TRUE(fast.extend({}, fast.tip.header.time + 1));
    EXPECT_EQ(fast.required_work(), 4u * 128);
    EXPECT_EQ(fast.required_work(), required_work_bounds(g).max);
}

// --- work -------------------------------------------------------------------------------

TEST_F(Validation, RejectsWrongWorkRoot) {
    Block block = chain.build();
    block.header.work_root = sha256(std::string_view("other"));
    resign(block);
    expect_rejected(block, "bad-block-work-root");
}

TEST_F(Validation, RejectsHeaderWorkNotMatchingCertificates) {
    Block block = chain.build();
    block.header.work += 1;  // claims more than the certificates carry
    resign(block);
    expect_rejected(block, "bad-block-work-mismatch");
}

TEST_F(Validation, EngineRejectionPassesThrough) {
    const Block block = chain.build();
    chain.engine.fail_reason = "bad-cert-recompute";
    expect_rejected(block, "bad-cert-recompute");
    chain.engine.fail_reason.clear();
    Block garbage = chain.build();
    garbage.work_items.push_back(WorkItem{{1, 2, 3}, {}});
    recommit(garbage);
    expect_rejected(garbage, "bad-cert-test-payload");
}

// --- state transition ---------------------------------------------------------------------

TEST_F(Validation, RejectsWrongStateRoot) {
    Block block = chain.build({transfer(test_key(1), bob(), coin)});
    block.header.state_root = chain.state.state_root(Hash256{});  // the parent's
    resign(block);
    expect_rejected(block, "bad-block-state-root");
}

TEST_F(Validation, StateRootFoldsInTheModelRoot) {
    TestChain evolving(testing::load_test_genesis(), /*evolve_model=*/true);
    ASSERT_TRUE(evolving.extend());
    ASSERT_NE(evolving.engine.model_root(), Hash256{});
    EXPECT_EQ(evolving.tip.header.state_root,
              evolving.state.state_root(evolving.engine.model_root()));
    // The same accounts with the zero model root are a different state.
    Block block = evolving.build();
    AccountState scratch = evolving.state;
    const BlockWork work =
        evolving.engine.verify(block, WorkContext{&evolving.genesis, {}, 0, 0}).value();
    ASSERT_TRUE(apply_block_state(scratch, block, work, {}, evolving.genesis.reward_maturity));
    block.header.state_root = scratch.state_root(Hash256{});
    block.header.sign(proposer_key());
    AccountState before = evolving.state;
    EXPECT_EQ(reason(evolving.connect(block)), "bad-block-state-root");
    EXPECT_EQ(evolving.state, before);
}

TEST_F(Validation, TransactionsMustBeValidInOrder) {
    const Transaction first = transfer(test_key(1), carol(), 10 * coin, 0, 0);
    const Transaction second = transfer(test_key(1), carol(), 10 * coin, 0, 1);
    expect_rejected(chain.build({second, first}), "bad-tx-nonce-too-high");
    expect_rejected(chain.build({first, first}), "bad-tx-nonce-too-low");
    // Carol spends in the same block what she received earlier in it.
    const Transaction spend = make_transfer(chain.genesis, test_key(3), bob(), 4 * coin, 0, 0);
    expect_rejected(chain.build({spend, first}), "bad-tx-insufficient-balance");
    ASSERT_EQ(reason(chain.connect(chain.build({first, second, spend}))), "ok");
    EXPECT_EQ(chain.state.get(carol()), (Account{16 * coin, 1}));
    EXPECT_EQ(chain.state.get(alice()), (Account{980 * coin, 2}));
    // Replaying a connected transaction fails on its nonce.
    expect_rejected(chain.build({first}), "bad-tx-nonce-too-low");
}

TEST_F(Validation, RejectsInsufficientBalanceInBlock) {
    expect_rejected(chain.build({transfer(test_key(2), carol(), 500 * coin, coin)}),
                    "bad-tx-insufficient-balance");
}

// --- rewards ------------------------------------------------------------------------------

TEST(Payouts, SplitByWorkWithRemainderAndFeesToProposer) {
    BlockWork work;
    work.workers = {{test_key(4).public_key(), 1}, {test_key(5).public_key(), 2}};
    const PublicKey proposer = test_key(9).public_key();
    const auto payouts = compute_payouts(work, proposer, 70).value();
    ASSERT_EQ(payouts.size(), 3u);
    EXPECT_EQ(payouts[2], (Payout{proposer, 1 + 70}));
    Amount sum = 0;
    for (const auto& p : payouts) sum += p.amount;
    EXPECT_EQ(sum, block_reward + 70);
    // Workers come in ascending key order, then the proposer.
    const PublicKey k4 = test_key(4).public_key();
    const PublicKey k5 = test_key(5).public_key();
    const PublicKey low = std::min(k4, k5);
    const PublicKey high = std::max(k4, k5);
    const Amount low_share = low == k4 ? 33'333'333 : 66'666'666;
    EXPECT_EQ(payouts[0], (Payout{low, low_share}));
    EXPECT_EQ(payouts[1], (Payout{high, 99'999'999 - low_share}));
}

TEST(Payouts, RepeatedKeysAddUpAndTinySharesGoToProposer) {
    BlockWork work;
    const PublicKey a = test_key(4).public_key();
    const PublicKey tiny = test_key(5).public_key();
    work.workers = {{a, 1'000'000'000}, {tiny, 1}, {a, 1'000'000'000}};
    const PublicKey proposer = test_key(9).public_key();
    const auto payouts = compute_payouts(work, proposer, 0).value();
    // tiny's share floors to zero and is omitted; a's two entries are one payout.
    ASSERT_EQ(payouts.size(), 2u);
    EXPECT_EQ(payouts[0].key, a);
    EXPECT_EQ(payouts[0].amount, 99'999'999u);
    EXPECT_EQ(payouts[1], (Payout{proposer, 1}));

    EXPECT_EQ(compute_payouts(BlockWork{}, proposer, 5).value(),
              (std::vector<Payout>{{proposer, block_reward + 5}}));
    EXPECT_EQ(compute_payouts(work, proposer, UINT64_MAX).error().reason, "bad-block-fee-overflow");
}

TEST_F(Validation, ConnectCreditsTheExpectedSplit) {
    const PublicKey w1 = test_key(4).public_key();
    const PublicKey w2 = test_key(5).public_key();
    const Transaction tx = transfer(test_key(1), carol(), 2 * coin, 12'345);
    // 43 + 86 = 129 >= D = 128 tokens: shares floor(1e8 * 43 / 129) and floor(1e8 * 86 / 129).
    const Block block =
        chain.build({tx}, 0, proposer_key(), {make_work_item(w1, 43), make_work_item(w2, 86)});
    const Amount supply_before = chain.state.total_supply().value();
    ASSERT_EQ(reason(chain.connect(block)), "ok");
    // Rewards (fees included) mature reward_maturity blocks later; transfers at once.
    const std::uint64_t matures_at = 1 + chain.genesis.reward_maturity;
    EXPECT_EQ(chain.state.get(w1), (Account{0, 0, {{matures_at, 33'333'333}}}));
    EXPECT_EQ(chain.state.get(w2), (Account{0, 0, {{matures_at, 66'666'666}}}));
    EXPECT_EQ(chain.state.get(proposer_key().public_key()),
              (Account{0, 0, {{matures_at, 1 + 12'345}}}));
    EXPECT_EQ(chain.state.get(alice()), (Account{998 * coin - 12'345, 1}));
    EXPECT_EQ(chain.state.get(carol()), (Account{2 * coin, 0}));
    // Exactly one coin is minted per block; fees move, they are not minted.
    EXPECT_EQ(chain.state.total_supply().value(), supply_before + block_reward);
}

TEST(Maturity, ARewardIsSpendableOnlyAfterRewardMaturityBlocks) {
    Genesis g = testing::load_test_genesis();
    g.challenge_window = 2;
    g.reward_maturity = 2;
    TestChain chain(g);
    const SecretKey earner = test_key(7);  // TestChain::build's worker
    ASSERT_TRUE(chain.extend());           // block 1: a coin for the worker, maturing at 3
    const Transaction spend = make_transfer(g, earner, carol(), coin / 2, 0, 0);
    EXPECT_EQ(chain.state.get(earner.public_key()), (Account{0, 0, {{3, coin}}}));
    // In blocks 2 and 3 the reward is not spendable yet: the block is invalid.
    for (int blocks_on_top = 1; blocks_on_top <= 2; ++blocks_on_top) {
        const AccountState before = chain.state;
        EXPECT_EQ(reason(chain.connect(chain.build({spend}))), "bad-tx-insufficient-balance");
        EXPECT_EQ(chain.state, before);
        ASSERT_TRUE(chain.extend());
    }
    // Block 3 matured it (and the worker's coin of block 2 matures at 4): block 4 may spend.
    EXPECT_EQ(chain.state.get(earner.public_key()).balance, coin);
    ASSERT_EQ(reason(chain.connect(chain.build({spend}))), "ok");
    EXPECT_EQ(chain.state.get(carol()).balance, coin / 2);
    EXPECT_EQ(chain.state.get(earner.public_key()).balance, coin / 2 + coin);
    // Disconnecting the blocks in reverse gives the genesis state back exactly.
    for (auto it = chain.connected.rbegin(); it != chain.connected.rend(); ++it)
        disconnect_block(chain.state, it->undo);
    EXPECT_EQ(chain.state, genesis_state(g).value());
}

TEST_F(Validation, ProposerMayAlsoBeAWorker) {
    const PublicKey p = proposer_key().public_key();
    const Block block =
        chain.build({}, 0, proposer_key(), {make_work_item(p, 100), make_work_item(worker(), 200)});
    ASSERT_EQ(reason(chain.connect(block)), "ok");
    EXPECT_EQ(chain.state.get(p).total() + chain.state.get(worker()).total(), block_reward);
    EXPECT_EQ(chain.state.get(worker()).total(), 66'666'666u);
    // One immature entry for the proposer's two payouts (its work and the remainder).
    EXPECT_EQ(chain.state.get(p).immature.size(), 1u);
}

TEST_F(Validation, RejectsRewardOverflow) {
    Genesis g = testing::load_test_genesis();
    g.allocations = {{worker(), UINT64_MAX - 10}};
    TestChain rich(g);
    Block block = rich.build();
    EXPECT_EQ(reason(rich.connect(block)), "bad-block-reward-overflow");
}

// --- evidence ------------------------------------------------------------------------------

TEST_F(Validation, RejectsWrongEvidenceRoot) {
    Block block = chain.build();
    block.evidence.push_back(Evidence{{1, 2, 3}});  // not in the header's evidence root
    expect_rejected(block, "bad-block-evidence-root");
}

TEST_F(Validation, RejectsTooMuchEvidence) {
    Block block = chain.build();
    block.evidence.assign(max_block_evidence + 1, Evidence{{1, 2, 3}});
    recommit(block);
    expect_rejected(block, "bad-block-too-much-evidence");
}

TEST_F(Validation, EvidenceNeedsAnEngineThatKnowsIt) {
    Block block = chain.build();
    block.evidence.push_back(Evidence{{1, 2, 3}});
    recommit(block);
    expect_rejected(block, "bad-evidence-unsupported");
}

// A block at height 10 by `proposer` whose work is 100 tokens of worker() (one coin to it).
struct EvidenceBlock {
    Block block;
    BlockWork work{{Hash256{}}, {{worker(), 100}}};
    explicit EvidenceBlock(const PublicKey& proposer) {
        block.header.height = 10;
        block.header.proposer = proposer;
    }
};

TEST(EvidenceBurn, EveryImmatureRewardOfTheKeyBurnsHalfToTheProposer) {
    const PublicKey cheater = test_key(4).public_key();
    const PublicKey proposer = proposer_key().public_key();
    AccountState state;
    state.set(cheater, Account{7, 0, {{12, 1'001}, {15, 10}}});
    const AccountState before = state;
    const EvidenceBlock b(proposer);
    const std::vector<PublicKey> punished{cheater};
    const auto undo = apply_block_state(state, b.block, b.work, punished, 100);
    ASSERT_TRUE(undo.ok()) << undo.error().to_string();
    // The balance is spendable already and stays; 1011 immature burn, 505 to the proposer.
    EXPECT_EQ(state.get(cheater), (Account{7, 0, {}}));
    EXPECT_EQ(state.get(proposer), (Account{0, 0, {{110, 505}}}));
    EXPECT_EQ(state.get(worker()), (Account{0, 0, {{110, block_reward}}}));
    EXPECT_EQ(*state.total_supply(), *before.total_supply() + block_reward - 506);
    disconnect_block(state, *undo);
    EXPECT_EQ(state, before);
}

TEST(EvidenceBurn, ThisBlocksOwnPayoutToTheCheaterBurnsToo) {
    const PublicKey proposer = proposer_key().public_key();
    AccountState state;
    const EvidenceBlock b(proposer);
    const std::vector<PublicKey> punished{worker()};
    ASSERT_TRUE(apply_block_state(state, b.block, b.work, punished, 100).ok());
    EXPECT_EQ(state.get(worker()).total(), 0u);
    EXPECT_EQ(state.get(proposer).immature_total(), block_reward / 2);
}

TEST(EvidenceBurn, AProposerReportingItselfGetsNothingBack) {
    const PublicKey proposer = proposer_key().public_key();
    AccountState state;
    state.set(proposer, Account{0, 0, {{12, 1'000}}});
    const EvidenceBlock b(proposer);
    const std::vector<PublicKey> punished{proposer};
    ASSERT_TRUE(apply_block_state(state, b.block, b.work, punished, 100).ok());
    EXPECT_EQ(state.get(proposer), Account{});
}

TEST(EvidenceBurn, AKeyWithNothingImmatureIsNoEvidence) {
    AccountState state;
    state.set(carol(), Account{5, 0, {}});
    const AccountState before = state;
    const EvidenceBlock b(proposer_key().public_key());
    const std::vector<PublicKey> punished{carol()};
    const auto undo = apply_block_state(state, b.block, b.work, punished, 100);
    ASSERT_FALSE(undo.ok());
    EXPECT_EQ(undo.error().reason, "bad-evidence-nothing-to-burn");
    EXPECT_EQ(state, before);
}

// --- undo --------------------------------------------------------------------------------

TEST_F(Validation, DisconnectRestoresEveryPreImage) {
    std::vector<AccountState> states{chain.state};
    ASSERT_TRUE(chain.extend({transfer(test_key(1), carol(), 3 * coin, 5)}));
    states.push_back(chain.state);
    ASSERT_TRUE(chain.extend({transfer(test_key(3), bob(), coin, 1),
                              transfer(test_key(1), test_key(1).public_key(), coin, 2)}));
    for (std::size_t i = chain.connected.size(); i-- > 0;) {
        disconnect_block(chain.state, chain.connected[i].undo);
        EXPECT_EQ(chain.state, states[i]) << "after undoing block " << i + 1;
    }
    EXPECT_EQ(chain.state.state_root(Hash256{}), chain.genesis_block.header.state_root);
}

TEST_F(Validation, UndoRecordsRoundTripThroughTheEncoding) {
    ASSERT_TRUE(chain.extend({transfer(test_key(1), carol(), 3 * coin, 5)}));
    const BlockUndo& undo = chain.connected.back().undo;
    EXPECT_FALSE(undo.accounts.empty());
    EXPECT_EQ(decode<BlockUndo>(encode(undo)).value(), undo);
}

// --- block tree ---------------------------------------------------------------------------

TEST_F(Validation, ForkChoiceFollowsCumulativeWorkFirstSeenOnTies) {
    const BlockIndexEntry root = chain.tip;
    const std::uint64_t d = chain.required_work();
    const Block light = chain.build({}, 0, proposer_key(), {make_work_item(worker(), d)});
    const Block heavy = chain.build({}, 0, proposer_key(), {make_work_item(worker(), d + 5)});
    const Block tie = chain.build({}, 0, test_key(8), {make_work_item(worker(), d)});
    const auto a = chain.view.add(light.header, chain.genesis).value();
    EXPECT_EQ(chain.view.best().hash, a.hash);
    const auto b = chain.view.add(tie.header, chain.genesis).value();
    EXPECT_EQ(chain.view.best().hash, a.hash);  // equal work: first seen stays
    const auto c = chain.view.add(heavy.header, chain.genesis).value();
    EXPECT_EQ(chain.view.best().hash, c.hash);
    EXPECT_EQ(c.cumulative_work, root.cumulative_work.plus(d + 5));
    EXPECT_EQ(chain.view.ancestor(c.hash, 0)->hash, chain.genesis_block.hash());
    EXPECT_FALSE(chain.view.ancestor(c.hash, 2));
    EXPECT_NE(a.hash, b.hash);
}

}  // namespace
}  // namespace learnchain::chain
