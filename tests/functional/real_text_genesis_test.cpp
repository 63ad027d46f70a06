// A chain that trains on real text: the test genesis with genesis/kjv.json's learning section
// (its model, batches and the King James Version as its file dataset, genesis/kjv.txt from
// Debian's bible-kjv, named by SHA-256). A node mines on it, and getmodelinfo reports the loss
// on the held-out tail of the corpus in place of the arithmetic accuracy; it falls as the chain
// trains.
#include <filesystem>
#include <fstream>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, ANodeTrainsOnTheKjvAndReportsItsHeldOutLoss) {
    const std::filesystem::path source = LEARNCHAIN_SOURCE_DIR;
    if (!std::filesystem::exists(source / "genesis/kjv.txt"))
        GTEST_SKIP() << "no genesis/kjv.txt: run .ci/install-deps.sh";
    json kjv;
    std::ifstream(source / "genesis/kjv.json") >> kjv;
    json learning = kjv["learning"];
    learning["dataset"]["path"] = (source / "genesis/kjv.txt").string();
    learning["dataset"]["seed"] = nullptr;  // merge_patch: the test genesis's synthetic fields go
    learning["dataset"]["max_operand"] = nullptr;
    edit_genesis({{"learning", learning}, {"initial_work", kjv["initial_work"]}});
    ASSERT_FALSE(HasFatalFailure());
    Daemon& a = daemon("a");
    a.start({"--mine"});

    const json initial = a.must("getmodelinfo");
    ASSERT_TRUE(initial["held_out_loss"].is_number()) << initial.dump();
    EXPECT_FALSE(initial.contains("held_out_accuracy"));
    EXPECT_EQ(initial["held_out_sequences"], 64);
    const double before = initial["held_out_loss"].get<double>();
    EXPECT_NEAR(before, 5.55, 0.1) << "ln 256: the untrained model";

    ASSERT_TRUE(eventually([&] { return a.height() >= 12; }, 120s));
    const json trained = a.must("getmodelinfo");
    ASSERT_TRUE(trained["held_out_loss"].is_number()) << trained.dump();
    std::cout << "  held-out loss " << before << " -> " << trained["held_out_loss"] << " at height "
              << a.height() << "\n";
    EXPECT_LT(trained["held_out_loss"].get<double>(), before - 0.5);
    EXPECT_EQ(a.terminate(), 0);
}

}  // namespace
}  // namespace learnchain::functional
