// A partition: A and B mine apart; once reconnected the lighter branch (B's) is abandoned
// and the transaction it confirmed goes back to B's mempool.
#include <string>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/transaction.hpp>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, PartitionConvergesOnHeavierChain) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& b = daemon("b");
    b.start({"--mine"});

    ASSERT_TRUE(eventually([&] { return b.height() >= 3; }, 60s));
    chain::Transaction tx;
    tx.chain_id = genesis_.chain_id;
    tx.to = chain::SecretKey::generate().public_key();
    tx.amount = chain::coin;
    tx.fee = 1000;
    tx.nonce = 0;
    tx.sign(funded_key());
    const std::string txid = tx.txid().hex();
    const json sent = b.must("sendrawtransaction", json::array({chain::to_hex(chain::encode(tx))}));
    EXPECT_EQ(sent, txid);
    ASSERT_TRUE(eventually(
        [&] {
            auto found = b.call("gettransaction", json::array({txid}));
            return found && (*found)["confirmations"].get<std::uint64_t>() >= 1;
        },
        30s));
    ASSERT_TRUE(b.call("setmining", json::array({false})));
    const std::uint64_t b_height = b.height();
    ASSERT_TRUE(eventually([&] { return a.height() >= b_height + 5; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::string a_tip = a.tip();

    ASSERT_TRUE(b.call("addnode", json::array({a.endpoint(), "add"})));
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b});
        },
        60s))
        << "A " << a.height() << " B " << b.height();
    EXPECT_EQ(b.tip(), a_tip);
    const json back = b.must("gettransaction", json::array({txid}));
    EXPECT_TRUE(back["in_mempool"].get<bool>());
    EXPECT_EQ(back["confirmations"], 0);
    EXPECT_EQ(b.must("getmempoolinfo")["size"], 1);
    // The funded key's balance is the allocation again on the winning chain.
    const json account = b.must("getaccount", json::array({chain::encode_address(tx.from)}));
    EXPECT_EQ(account["balance"], "1000.00000000");
    EXPECT_EQ(account["nonce"], 0);
    EXPECT_EQ(account["next_nonce"], 1);
}

}  // namespace
}  // namespace learnchain::functional
