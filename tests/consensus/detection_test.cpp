// Detection under sampling (PROTOCOL.md §T.11.8): simulated verifiers, each drawing its
// micro-batches with choose_micro_batches from its own randomness, miss f faked micro-batches of
// M as often as the formula says: per verifier C(M - f, s) / C(M, s) <= (1 - f/M)^s, over n
// independent verifiers that to the n-th power.
#include <cmath>
#include <cstdint>
#include <cstdio>

#include <learnchain/consensus/verify.hpp>

#include <gtest/gtest.h>

namespace learnchain::consensus {
namespace {

// C(M - f, s) / C(M, s): a uniform s-subset of M avoids f given elements.
double miss_probability(std::uint32_t m, std::uint32_t f, std::uint32_t s) {
    double p = 1.0;
    for (std::uint32_t i = 0; i < s; ++i)
        p *= static_cast<double>(m - f - i) / static_cast<double>(m - i);
    return p;
}

// The share of `trials` in which none of `verifiers` samplers drew one of the first `fakes`
// micro-batches (which ones are faked does not matter: every draw is uniform).
double simulated_escape(std::uint32_t m, std::uint32_t fakes, std::uint32_t s,
                        std::uint32_t verifiers, std::uint32_t trials, std::uint64_t seed) {
    const VerifyPolicy policy = VerifyPolicy::sample(s);
    std::uint32_t escaped = 0;
    for (std::uint32_t t = 0; t < trials; ++t) {
        bool caught = false;
        for (std::uint32_t v = 0; v < verifiers && !caught; ++v) {
            SplitMix64 rng(derive_key(seed, std::uint64_t{t} * verifiers + v));
            const auto drawn = choose_micro_batches(policy, m, rng);
            EXPECT_EQ(drawn.size(), s);
            for (const std::uint32_t b : drawn) caught = caught || b < fakes;
        }
        if (!caught) ++escaped;
    }
    return static_cast<double>(escaped) / trials;
}

struct Case {
    std::uint32_t fakes, s, verifiers, trials;
};

TEST(Detection, SimulatedVerifiersMissFakesAsTheFormulaSays) {
    constexpr std::uint32_t m = 64;  // the devnet's micro-batches per contribution
    const Case cases[] = {
        {1, 1, 1, 400'000},  {1, 1, 10, 200'000}, {1, 1, 300, 40'000},
        {8, 1, 50, 400'000}, {1, 2, 10, 200'000}, {8, 2, 10, 200'000},
    };
    std::uint64_t seed = 1;
    for (const Case& c : cases) {
        const double exact = std::pow(miss_probability(m, c.fakes, c.s), c.verifiers);
        const double bound = std::pow(1.0 - static_cast<double>(c.fakes) / m, c.s * c.verifiers);
        const double simulated = simulated_escape(m, c.fakes, c.s, c.verifiers, c.trials, seed++);
        // Five standard deviations of a binomial share, and at least one trial's worth.
        const double sigma = std::sqrt(exact * (1 - exact) / c.trials);
        std::printf("f %u s %u n %u: simulated %.5f exact %.5f bound %.5f\n", c.fakes, c.s,
                    c.verifiers, simulated, exact, bound);
        EXPECT_NEAR(simulated, exact, 5 * sigma + 1.0 / c.trials)
            << "f " << c.fakes << " s " << c.s << " n " << c.verifiers;
        EXPECT_LE(exact, bound + 1e-12);
    }
    // The figures PROTOCOL.md quotes (s = 1, M = 64).
    EXPECT_NEAR(std::pow(miss_probability(m, 1, 1), 10), 0.854, 0.001);
    EXPECT_NEAR(std::pow(miss_probability(m, 1, 1), 300), 0.0089, 0.0001);
    EXPECT_NEAR(std::pow(miss_probability(m, 8, 1), 50), 0.00126, 0.00001);
}

}  // namespace
}  // namespace learnchain::consensus
