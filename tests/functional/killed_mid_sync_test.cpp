// A node SIGKILLed while syncing restarts on the same datadir and finishes the sync.
#include <signal.h>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, KilledMidSyncRestartsAndFinishes) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return a.height() >= 150; }, 120s)) << "A at " << a.height();
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::uint64_t target = a.height();

    Daemon& b = daemon("b");
    b.start({"--connect=" + a.endpoint(), "--verify=all"});
    std::uint64_t killed_at = 0;
    ASSERT_TRUE(eventually(
        [&] {
            killed_at = b.height();
            return killed_at >= 5;
        },
        60s, 10ms));
    b.kill(SIGKILL);
    EXPECT_LT(killed_at, target) << "B finished before it could be killed mid-sync";

    b.start({"--connect=" + a.endpoint(), "--verify=all"});
    EXPECT_GE(b.height(), killed_at);  // what was committed survived the kill
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b});
        },
        90s))
        << "A " << a.height() << " B " << b.height();
    EXPECT_EQ(b.must("getblockchaininfo")["state_root"], a.must("getblockchaininfo")["state_root"]);
    EXPECT_EQ(b.terminate(), 0);
}

}  // namespace
}  // namespace learnchain::functional
