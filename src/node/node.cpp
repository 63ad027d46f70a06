// The full node's composition: datadir lock, genesis, engine and store, mempool, P2P, RPC, miner,
// and the wiring between them (include/learnchain/node/node.hpp explains the locking).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/node/embedded_genesis.hpp>
#include <learnchain/node/explorer.hpp>
#include <learnchain/node/miner.hpp>
#include <learnchain/node/node.hpp>
#include <learnchain/node/rpc_methods.hpp>
#include <learnchain/p2p/messages.hpp>
#include <learnchain/rpc/server.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace learnchain::node {

std::string_view embedded_devnet_genesis() {
    return embedded::devnet_genesis_json;
}

namespace {

Result<chain::Genesis> load_node_genesis(const NodeConfig& config) {
    if (config.genesis.empty()) return chain::parse_genesis(embedded_devnet_genesis());
    return chain::load_genesis(config.genesis);
}

// O_EXCL: an existing key is never overwritten (it may hold rewards). Mode 0600 from creation.
Status write_new_key_file(const std::filesystem::path& path, const chain::SecretKey& key) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return make_error(ErrorKind::local, "node-key-write-failed",
                          path.string() + ": " + std::strerror(errno));
    const std::string text =
        chain::to_hex(chain::Bytes(key.bytes().data(), key.bytes().size())) + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!written || !synced)
        return make_error(ErrorKind::local, "node-key-write-failed",
                          path.string() + ": " + std::strerror(errno));
    return ok_status();
}

Result<chain::SecretKey> read_key_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string text;
    if (!in || !std::getline(in, text))
        return make_error(ErrorKind::local, "node-key-read-failed",
                          path.string() + ": cannot read");
    auto key = chain::SecretKey::from_hex(text);
    if (!key)
        return make_error(ErrorKind::local, "node-key-read-failed",
                          path.string() + ": " + key.error().to_string());
    return key;
}

}  // namespace

Node::Node(NodeConfig config) : config_(std::move(config)) {}

Node::~Node() {
    stop();
}

Result<std::unique_ptr<Node>> Node::open(NodeConfig config) {
    std::unique_ptr<Node> node(new Node(std::move(config)));
    LEARNCHAIN_TRY(node->open_all());
    return node;
}

Status Node::lock_datadir() {
    std::error_code ec;
    std::filesystem::create_directories(config_.datadir, ec);
    if (ec)
        return make_error(ErrorKind::local, "node-datadir-unusable",
                          config_.datadir.string() + ": " + ec.message());
    const auto path = config_.datadir / lock_file_name;
    lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0)
        return make_error(ErrorKind::local, "node-datadir-unusable",
                          path.string() + ": " + std::strerror(errno));
    // flock is released by the kernel when the process dies, so a SIGKILLed node leaves no
    // stale lock behind.
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        lock_fd_ = -1;
        return make_error(ErrorKind::policy, "node-datadir-locked",
                          "another learnchaind is using " + config_.datadir.string());
    }
    return ok_status();
}

Status Node::load_mining_key() {
    const auto path = config_.datadir / miner_key_file_name;
    if (!std::filesystem::exists(path)) {
        LEARNCHAIN_TRY(write_new_key_file(path, chain::SecretKey::generate()));
        log::info("generated a new mining key in {}", path.string());
    }
    auto key = read_key_file(path);
    if (!key) return key.error();
    mining_key_.emplace(std::move(key).value());
    return ok_status();
}

Status Node::open_all() {
    LEARNCHAIN_TRY(lock_datadir());
    auto genesis = load_node_genesis(config_);
    if (!genesis) return genesis.error();
    genesis_ = std::move(genesis).value();

    auto policy = consensus::VerifyPolicy::parse(config_.verify);
    if (!policy) return policy.error();
    consensus::EngineOptions engine_options;
    engine_options.make_tracer =
        training::tracer_factory(genesis_.learning.model, config_.device, config_.threads);
    engine_options.policy = *policy;
    engine_options.dataset_dir =
        config_.genesis.empty() ? config_.datadir : config_.genesis.parent_path();
    auto engine = consensus::PolWorkEngine::create(genesis_, engine_options);
    if (!engine) return engine.error();
    // Wired up before anything runs; from then on the engine is reached under cs_main.
    consensus::PolWorkEngine& work = **engine;

    chain::StoreOptions store_options;
    store_options.path = config_.datadir / chain_dir_name;
    store_options.prune_undo = true;  // a model pre-image per block is ~10 MB on the devnet
    auto store = chain::ChainStore::open(store_options, genesis_, work);
    if (!store) return store.error();
    store_ = std::move(store).value();

    mempool_ = std::make_unique<chain::Mempool>(genesis_.chain_id);
    chainstate_ = std::make_unique<chain::Chainstate>(*store_, *mempool_, work);
    engine_ = std::move(engine).value();
    chainstate_->on_tip_changed(
        [this](const chain::AcceptResult& result) { after_tip_change(result); });
    p2p::SyncOptions sync_options;
    sync_options.block_timeout = config_.block_timeout;
    sync_ = std::make_unique<p2p::Sync>(*chainstate_, sync_options);

    p2p::NetOptions net;
    net.magic = p2p::network_magic(genesis_.chain_id);
    net.listen_address = config_.bind;
    net.listen_port = config_.port;
    net.listen = config_.listen;
    net.connect = config_.connect;
    net.use_known_peers = true;
    net.datadir = config_.datadir;
    net.user_agent = "/learnchain:" + std::string(node_version) + "/";
    peers_ = std::make_unique<p2p::ConnectionManager>(net, *sync_);
    sync_->attach(*peers_);

    rpc::ServerOptions rpc_options;
    rpc_options.address = config_.rpc_bind;
    rpc_options.port = config_.rpc_port;
    rpc_options.threads = config_.rpc_threads;
    rpc_options.datadir = config_.datadir;
    rpc_ = std::make_unique<rpc::RpcServer>(rpc_options);

    // The node's key signs its work and proposals, and takes inference payments unless
    // --infer-pay-to names another account.
    LEARNCHAIN_TRY(load_mining_key());
    {
        LOCK(chainstate_->cs_main);
        mine_to_ = config_.mine_to;
    }
    InferenceConfig inference;
    inference.payment_key = config_.infer_pay_to.value_or(mining_key_->public_key());
    inference.price_per_token = config_.infer_price;
    inference.chain_id = genesis_.chain_id;
    inference.model = genesis_.learning.model;
    InferenceHooks hooks;
    hooks.model_tip = [this] {
        LOCK(chainstate_->cs_main);
        const chain::ChainStore& store = chainstate_->store();
        return ModelTip{store.height(), store.tip().hash};
    };
    hooks.model_snapshot = [this]() -> Result<ModelSnapshot> {
        LOCK(chainstate_->cs_main);
        const chain::ChainStore& store = chainstate_->store();
        return ModelSnapshot{{store.height(), store.tip().hash}, engine_->weights()};
    };
    hooks.admit = [this](const chain::Transaction& tx) { return submit_transaction(tx); };
    hooks.known = [this](const Hash256& txid) {
        LOCK(chainstate_->cs_main);
        if (chainstate_->mempool().contains(txid)) return true;
        auto located = chainstate_->store().transaction(txid);
        return located && located->has_value();
    };
    inference_ = std::make_unique<InferenceService>(std::move(inference), std::move(hooks));

    if (config_.mine) {
        MinerOptions miner_options;
        miner_options.device = config_.device;
        miner_options.threads = config_.threads;
        // A proposer recomputes more of what it builds on than a follower (s_p >= 2).
        miner_options.policy = policy->for_proposer();
        // Own contributions are gossiped, so other proposers include (and reward) them too.
        miner_options.on_own_contribution = [this](const chain::WorkItem& item) {
            sync_->announce_work_item(item);
        };
        MinerChain chain{chainstate_.get(), engine_.get()};
        MinerKeys keys{*mining_key_, *mining_key_};
        auto miner =
            Miner::create(genesis_, chain, std::move(keys), miner_options,
                          [this](chain::Block block) { on_block_mined(std::move(block)); });
        if (!miner) return miner.error();
        miner_ = std::move(miner).value();
    }

    // A peer's contribution goes to the miner, which verifies it before pooling; its verdict
    // decides whether Sync relays it or scores the sender. A relay-only node forwards what
    // decodes. Runs with no lock held; the verdict comes from the mining thread, which holds no
    // lock then either, and the miner is stopped before Sync goes.
    using Fate = p2p::Sync::WorkItemFate;
    using Check = p2p::Sync::WorkItemCheck;
    // Evidence of a proof that held goes to the miner, whose blocks carry it.
    sync_->on_proven_evidence = [this](const chain::Evidence& evidence) {
        if (miner_) miner_->offer_evidence(evidence);
    };
    sync_->on_work_item = [this](p2p::PeerId peer, const Hash256& id, const chain::WorkItem& item) {
        if (!miner_) {
            sync_->work_item_verdict(peer, id, relay_check(item), Check::cheap);
            return Fate::verifying;
        }
        auto queued = miner_->submit_work_item(
            item, [this, peer, id](const Status& verdict, bool recomputed) {
                sync_->work_item_verdict(peer, id, verdict,
                                         recomputed ? Check::recomputed : Check::cheap);
            });
        return queued ? Fate::verifying : Fate::dropped;
    };
    return ok_status();
}

Status Node::start() {
    if (started_.exchange(true)) return make_error(ErrorKind::local, "node-already-started");
    LEARNCHAIN_TRY(register_node_methods(*rpc_, *this));
    LEARNCHAIN_TRY(register_inference_methods(*rpc_, *inference_));
    LEARNCHAIN_TRY(rpc_->start());
    if (config_.explorer_port) {
        // Its own listener, with no cookie and no credentials: every POST is refused, and the
        // pages forward only the read-only methods (explorer_methods).
        rpc::ServerOptions options;
        options.address = config_.rpc_bind;
        options.port = *config_.explorer_port;
        options.threads = 1;
        options.pages = explorer_pages(*this, rpc_->dispatcher());
        explorer_ = std::make_unique<rpc::RpcServer>(options);
        LEARNCHAIN_TRY(explorer_->start());
        log::info("explorer: http://{}:{}/", config_.rpc_bind, explorer_->port());
    }
    LEARNCHAIN_TRY(peers_->start());
    {
        LOCK(chainstate_->cs_main);
        const chain::ChainStore& store = chainstate_->store();
        log::info("chain {} at height {}, tip {}, cumulative work {}", genesis_.name,
                  store.height(), store.tip().hash.hex(), store.tip().cumulative_work.to_string());
    }
    log::info("rpc: listening on {}:{}, cookie {}", config_.rpc_bind, rpc_->port(),
              rpc_->cookie_path().string());
    if (miner_) {
        log::info("mining to {} on {}", chain::encode_address(mining_key_->public_key()),
                  config_.device);
        if (config_.mine_to)
            log::info("rewards are forwarded to {}", chain::encode_address(*config_.mine_to));
        LOCK(mining_mutex_);
        miner_->start();
        mining_active_ = true;
    }
    return ok_status();
}

Status Node::set_mining(bool on) {
    LOCK(mining_mutex_);
    if (!miner_)
        return make_error(ErrorKind::policy, "node-not-mining", "start the node with --mine");
    if (stopped_) return make_error(ErrorKind::policy, "node-stopping");
    if (on == mining_active_) return ok_status();
    if (on) {
        miner_->start();
    } else {
        miner_->stop();  // at the next micro-batch
    }
    mining_active_ = on;
    log::info("mining {}", on ? "resumed" : "paused");
    return ok_status();
}

void Node::request_stop() {
    {
        std::lock_guard lock(stop_mutex_);
        stop_requested_ = true;
    }
    stop_cv_.notify_all();
}

bool Node::wait_for_stop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(stop_mutex_);
    return stop_cv_.wait_for(lock, timeout, [this] { return stop_requested_.load(); });
}

void Node::stop() {
    if (stopped_.exchange(true)) return;
    // The miner first: a proposal in progress may still hand a block to Sync, which
    // then needs P2P up to announce it.
    if (miner_) {
        log::info("shutdown: stopping the miner");
        LOCK(mining_mutex_);
        miner_->stop();
        mining_active_ = false;
    }
    if (explorer_) explorer_->stop();  // it forwards to rpc_'s methods
    if (rpc_) {
        log::info("shutdown: stopping RPC");
        rpc_->stop();
    }
    if (peers_) {
        log::info("shutdown: closing peer connections");
        peers_->stop();
    }
    // Sync's block-processing thread before the connection manager it sends through.
    if (sync_) sync_->stop();
    miner_.reset();
    explorer_.reset();
    rpc_.reset();
    peers_.reset();
    sync_.reset();
    chainstate_.reset();
    mempool_.reset();
    if (store_) {
        // Every connect was a synced batch; closing RocksDB here only flushes its memtables.
        log::info("shutdown: closing the chain store at height {}", store_->height());
        store_.reset();
    }
    engine_.reset();
    if (lock_fd_ >= 0) {
        ::flock(lock_fd_, LOCK_UN);
        ::close(lock_fd_);
        lock_fd_ = -1;
    }
    if (started_) log::info("shutdown: done");
}

// A node that does not mine relays a certificate for its tip once it passes the cheap checks
// (a recomputation is a miner's to pay for): junk never spreads through it, and it never
// forwards anything a miner would ban it for.
Status Node::relay_check(const chain::WorkItem& item) {
    auto certificate = consensus::decode_certificate(item.certificate);
    if (!certificate) return certificate.error();
    std::optional<consensus::UnitPlan> plan;
    Hash256 tip;
    {
        LOCK(chainstate_->cs_main);
        plan = engine_->plan();
        tip = chainstate_->store().tip().hash;
    }
    if (certificate->parent != tip)
        return make_error(ErrorKind::policy, "node-stale-work", "its parent is not the tip");
    const consensus::VerifyContext context{&genesis_.learning, tip};
    auto checked =
        consensus::check_contribution(context, *plan, std::move(certificate).value(), item.blob);
    if (!checked) return checked.error();
    return ok_status();
}

Result<Hash256> Node::submit_transaction(const chain::Transaction& tx) {
    return sync_->submit_transaction(tx);
}

void Node::on_block_mined(chain::Block block) {
    const Hash256 hash = block.hash();
    auto accepted = sync_->submit_block(block);
    if (!accepted)
        log::warn("miner: own block {} at height {} refused: {}", hash.hex(), block.header.height,
                  accepted.error().to_string());
}

void Node::after_tip_change(const chain::AcceptResult& result) {
    if (miner_) {
        miner_->on_new_tip();
        miner_->return_work(result);
    }
    if (mining_key_) sweep_rewards();
}

// The miner's key must sign its work, so rewards land there first; with --mine-to they move on
// in one transfer whenever no earlier transfer is still waiting in the mempool.
void Node::sweep_rewards() {
    chain::Transaction tx;
    {
        LOCK(chainstate_->cs_main);
        const chain::PublicKey from = mining_key_->public_key();
        if (!mine_to_ || from == *mine_to_) return;
        const chain::ChainStore& store = chainstate_->store();
        const chain::Account account = store.account(from);
        if (chainstate_->mempool().next_nonce(from, store.state()) != account.nonce) return;
        tx.chain_id = genesis_.chain_id;
        tx.to = *mine_to_;
        tx.fee = chain::tx_encoded_size(tx);  // the default relay floor of 1 unit per byte
        tx.nonce = account.nonce;
        if (account.balance < config_.sweep_threshold || account.balance <= tx.fee) return;
        tx.amount = account.balance - tx.fee;
    }
    tx.sign(*mining_key_);
    auto sent = sync_->submit_transaction(tx);
    if (sent)
        log::info("forwarding {} coins to {} in {}", chain::format_amount(tx.amount),
                  chain::encode_address(tx.to), sent->hex());
    else
        log::warn("forwarding rewards failed: {}", sent.error().to_string());
}

Status Node::set_mine_to(const chain::PublicKey& to) {
    if (!miner_)
        return make_error(ErrorKind::policy, "node-not-mining", "start the node with --mine");
    LOCK(chainstate_->cs_main);
    if (mine_to_ == to) return ok_status();
    mine_to_ = to;
    log::info("rewards are forwarded to {} from now on", chain::encode_address(to));
    return ok_status();
}

MiningInfo Node::mining_info() const {
    MiningInfo info;
    {
        LOCK(mining_mutex_);
        info.mining = mining_active_;
    }
    {
        LOCK(chainstate_->cs_main);
        info.mine_to = mine_to_;
    }
    if (mining_key_) info.key = mining_key_->public_key();
    if (!miner_) return info;
    const MinerStats s = miner_->stats();
    info.contributions = s.contributions;
    info.received = s.received;
    info.accepted = s.accepted;
    info.rejected = s.rejected;
    info.blocks = s.blocks;
    info.tokens = s.tokens;
    info.pooled_work = s.pooled_work;
    info.tokens_per_second =
        s.busy_seconds > 0 ? static_cast<double>(s.tokens) / s.busy_seconds : 0;
    info.last_loss = s.last_loss;
    info.last_error = s.last_error;
    return info;
}

std::uint16_t Node::p2p_port() const {
    return peers_ ? peers_->port() : 0;
}

std::uint16_t Node::rpc_port() const {
    return rpc_ ? rpc_->port() : 0;
}

std::optional<std::uint16_t> Node::explorer_port() const {
    if (!explorer_) return std::nullopt;
    return explorer_->port();
}

std::filesystem::path Node::cookie_path() const {
    return rpc_ ? rpc_->cookie_path() : std::filesystem::path{};
}

}  // namespace learnchain::node
