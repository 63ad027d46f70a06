#include <learnchain/chain/block.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/merkle.hpp>

#include <gtest/gtest.h>

#include "chain/chain_test_support.hpp"

namespace learnchain::chain {
namespace {

using testing::make_transfer;
using testing::make_work_item;
using testing::test_key;

Block sample_block() {
    Genesis g;
    g.chain_id = 5;
    Block block;
    block.header.height = 3;
    block.header.parent = sha256(std::string_view("parent"));
    block.header.time = 1'700'000'123;
    block.header.state_root = sha256(std::string_view("state"));
    block.header.work = 4096;
    block.transactions.push_back(make_transfer(g, test_key(1), test_key(2).public_key(), 5, 1, 0));
    block.transactions.push_back(
        make_transfer(g, test_key(1), test_key(3).public_key(), 6, 1, 1, {9, 9}));
    block.work_items.push_back(make_work_item(test_key(4).public_key(), 4096));
    block.work_items.back().blob = {1, 2, 3, 4, 5};
    block.header.tx_root = compute_tx_root(block.transactions);
    block.header.work_root = sha256(std::string_view("work"));
    block.header.sign(test_key(8));
    return block;
}

TEST(BlockHeader, EncodingLayout) {
    const BlockHeader header = sample_block().header;
    const auto bytes = encode(header);
    ASSERT_EQ(bytes.size(), header_encoded_size);
    EXPECT_EQ(bytes[0], 1);  // version u32 LE
    EXPECT_EQ(bytes[4], 3);  // height u64 LE
    EXPECT_TRUE(
        std::equal(header.parent.bytes().begin(), header.parent.bytes().end(), bytes.begin() + 12));
    // The signature is last.
    EXPECT_TRUE(std::equal(header.signature.bytes().begin(), header.signature.bytes().end(),
                           bytes.end() - 64));
    auto decoded = decode<BlockHeader>(bytes);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, header);
}

TEST(BlockHeader, HashesAreTaggedAndCoverTheRightFields) {
    const BlockHeader base = sample_block().header;
    const auto bytes = encode(base);
    EXPECT_EQ(base.hash(), tagged_hash(tag::block_header, bytes));
    EXPECT_EQ(base.sighash(),
              tagged_hash(tag::header_sighash, Bytes(bytes.data(), bytes.size() - 64)));

    auto changes = [&](auto mutate) {
        BlockHeader h = base;
        mutate(h);
        return std::pair{h.sighash() != base.sighash(), h.hash() != base.hash()};
    };
    using P = std::pair<bool, bool>;
    EXPECT_EQ(changes([](BlockHeader& h) { h.version = 2; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.height += 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.parent.bytes()[0] ^= 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.time += 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.tx_root.bytes()[0] ^= 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.work_root.bytes()[0] ^= 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.state_root.bytes()[0] ^= 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.work += 1; }), (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.proposer = test_key(1).public_key(); }),
              (P{true, true}));
    EXPECT_EQ(changes([](BlockHeader& h) { h.signature = Signature{}; }), (P{false, true}));
}

TEST(BlockHeader, ProposerSignature) {
    BlockHeader header = sample_block().header;
    EXPECT_TRUE(header.signature_valid());
    header.time += 1;
    EXPECT_FALSE(header.signature_valid());
    header.sign(test_key(8));
    EXPECT_TRUE(header.signature_valid());
    header.proposer = test_key(9).public_key();
    EXPECT_FALSE(header.signature_valid());
}

TEST(Block, RoundTripAndEncodedSize) {
    const Block block = sample_block();
    const auto bytes = encode(block);
    EXPECT_EQ(block.encoded_size(), bytes.size());
    auto decoded = decode<Block>(bytes);
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(*decoded, block);
    EXPECT_EQ(decoded->hash(), block.header.hash());

    EXPECT_EQ(Block{}.encoded_size(), encode(Block{}).size());
}

TEST(Block, DecodeIsBoundedAndStrict) {
    auto bytes = encode(sample_block());
    auto trailing = bytes;
    trailing.push_back(0);
    EXPECT_EQ(decode<Block>(trailing).error().reason, "decode-trailing-bytes");
    auto truncated = bytes;
    truncated.pop_back();
    EXPECT_FALSE(decode<Block>(truncated));
    // The transaction count follows the header; claim 2^31 transactions.
    auto huge = bytes;
    huge[header_encoded_size + 3] = 0x7f;
    EXPECT_EQ(decode<Block>(huge).error().reason, "decode-length-exceeds-input");
}

TEST(Block, RootsAreMerkleRootsInBlockOrder) {
    const Block block = sample_block();
    EXPECT_EQ(compute_tx_root(block.transactions),
              merkle_root({block.transactions[0].txid(), block.transactions[1].txid()}));
    auto swapped = block.transactions;
    std::swap(swapped[0], swapped[1]);
    EXPECT_NE(compute_tx_root(swapped), compute_tx_root(block.transactions));
    EXPECT_EQ(compute_tx_root({}), Hash256{});
    const std::vector<Hash256> certs{sha256(std::string_view("a")), sha256(std::string_view("b"))};
    EXPECT_EQ(compute_work_root(certs), merkle_root(certs));
}

TEST(ChainWork, AddsWithCarryAndOrders) {
    const ChainWork a = ChainWork(UINT64_MAX).plus(1);
    EXPECT_EQ(a, ChainWork(1, 0));
    EXPECT_EQ(a.to_string(), "18446744073709551616");
    EXPECT_GT(a, ChainWork(UINT64_MAX));
    EXPECT_LT(ChainWork(5), ChainWork(6));
    EXPECT_EQ(ChainWork().to_string(), "0");
    EXPECT_EQ(ChainWork(12345).plus(5).to_string(), "12350");
    const auto bytes = encode(ChainWork(2, 1));
    ASSERT_EQ(bytes.size(), 16u);
    EXPECT_EQ(bytes[0], 1);  // low word first
    EXPECT_EQ(bytes[8], 2);
    EXPECT_EQ(decode<ChainWork>(bytes).value(), ChainWork(2, 1));
}

TEST(BlockWork, TotalsAndChecksAgainstTheHeader) {
    Block block = sample_block();
    BlockWork work;
    work.certificate_roots = {sha256(std::string_view("c"))};
    work.workers = {{test_key(4).public_key(), 4000}, {test_key(5).public_key(), 96}};
    block.header.work_root = compute_work_root(work.certificate_roots);
    EXPECT_TRUE(check_block_work(block, work));

    BlockWork wrong_total = work;
    wrong_total.workers[1].tokens = 95;
    EXPECT_EQ(check_block_work(block, wrong_total).reason(), "bad-block-work-mismatch");

    BlockWork wrong_root = work;
    wrong_root.certificate_roots[0].bytes()[0] ^= 1;
    EXPECT_EQ(check_block_work(block, wrong_root).reason(), "bad-block-work-root");

    BlockWork wrong_count = work;
    wrong_count.certificate_roots.push_back(Hash256{});
    EXPECT_EQ(check_block_work(block, wrong_count).reason(), "bad-block-work-count");

    BlockWork overflow = work;
    overflow.workers[1].tokens = UINT64_MAX;
    EXPECT_FALSE(overflow.total());
    EXPECT_EQ(check_block_work(block, overflow).reason(), "bad-block-work-overflow");
}

}  // namespace
}  // namespace learnchain::chain
