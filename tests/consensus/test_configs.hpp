// Model configs shared by the consensus tests.
#pragma once

#include <learnchain/chain/learning_params.hpp>

namespace learnchain::consensus::testing {

// Small enough for finite differences and a learning run within seconds.
inline chain::ModelConfig tiny_config() {
    chain::ModelConfig c;
    c.vocab_size = 256;
    c.context = 16;
    c.width = 32;
    c.layers = 2;
    c.heads = 2;
    c.mlp_ratio = 4;
    c.init_seed = 42;
    return c;
}

// The ModelConfig defaults: about 0.86M parameters.
inline chain::ModelConfig default_config() {
    chain::ModelConfig c;
    c.init_seed = 7;
    return c;
}

}  // namespace learnchain::consensus::testing
