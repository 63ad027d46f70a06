#include <algorithm>
#include <cstdio>
#include <ctime>

#include <learnchain/chain/block_template.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/node/miner.hpp>

#include <fmt/format.h>

namespace learnchain::node {

using consensus::compute_contribution;
using consensus::credited_work;
using consensus::decode_certificate;
using consensus::local_rng;
using consensus::VerifyContext;
namespace {}  // namespace

Result<std::unique_ptr<Miner>> Miner::create(const chain::Genesis& genesis, MinerChain chain,
                                             MinerKeys keys, MinerOptions options,
                                             BlockReady on_block) {
    if (chain.chainstate == nullptr || chain.engine == nullptr)
        return make_error(ErrorKind::local, "miner-chain-invalid",
                          "the chainstate and its engine are required");
    auto trainer =
        training::Trainer::create(genesis.learning.model, options.device, options.threads);
    if (!trainer) return trainer.error();
    // The engine already opened (and hash-checked) the dataset; a copy shares a file corpus.
    Dataset dataset = [&] {
        LOCK(chain.chainstate->cs_main);
        return chain.engine->dataset();
    }();
    auto plan = consensus::UnitPlan::create(trainer->layout(), genesis.learning);
    if (!plan) return plan.error();
    return std::unique_ptr<Miner>(new Miner(genesis, chain, std::move(keys), std::move(options),
                                            std::move(on_block), std::move(trainer).value(),
                                            std::move(dataset), std::move(plan).value()));
}

Miner::Miner(const chain::Genesis& genesis, MinerChain chain, MinerKeys keys, MinerOptions options,
             BlockReady on_block, training::Trainer trainer, Dataset dataset,
             consensus::UnitPlan plan)
    : genesis_(genesis),
      chain_(chain),
      keys_(std::move(keys)),
      options_(std::move(options)),
      on_block_(std::move(on_block)),
      trainer_(std::move(trainer)),
      dataset_(std::move(dataset)),
      plan_(std::move(plan)),
      rng_(options_.rng_seed != 0 ? SplitMix64(options_.rng_seed) : local_rng()) {}

Miner::~Miner() {
    stop();
}

void Miner::start() {
    LOCK(mutex_);
    if (running_) return;
    running_ = true;
    stopping_ = false;
    tip_changed_ = true;
    started_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this] { run(); });
}

void Miner::stop() {
    {
        LOCK(mutex_);
        if (!running_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    LOCK(mutex_);
    running_ = false;
}

void Miner::on_new_tip() {
    {
        LOCK(mutex_);
        tip_changed_ = true;
    }
    wake_.notify_all();
}

std::optional<Status> Miner::known_verdict(const Hash256& root) const {
    LOCK(chain_.chainstate->cs_main);
    return chain_.engine->known_verdict(tip_->entry.hash, root);
}

void Miner::return_work(const chain::AcceptResult& left) {
    std::vector<chain::WorkItem> items;
    {
        LOCK(chain_.chainstate->cs_main);
        const chain::ChainStore& store = chain_.chainstate->store();
        for (const auto& hash : left.disconnected) {
            const auto header = store.header(hash);
            if (!header || header->parent != left.tip) continue;
            auto block = store.block(hash);
            if (!block || !*block) continue;
            for (auto& item : (*block)->work_items) items.push_back(std::move(item));
        }
    }
    if (!items.empty())
        log::info("miner: {} contributions of a block left for its parent go back to the pool",
                  items.size());
    for (auto& item : items) (void)submit_work_item(std::move(item));
}

Status Miner::submit_work_item(chain::WorkItem item, WorkItemVerdict verdict) {
    {
        LOCK(mutex_);
        if (inbox_.size() >= miner_max_inbox)
            return make_error(ErrorKind::policy, "miner-queue-full");
        ++stats_.received;
        inbox_.push_back(Received{std::move(item), std::move(verdict)});
    }
    wake_.notify_all();
    return ok_status();
}

void Miner::offer_evidence(chain::Evidence evidence) {
    LOCK(mutex_);
    if (std::find(evidence_.begin(), evidence_.end(), evidence) != evidence_.end()) return;
    if (evidence_.size() == max_pooled_evidence) evidence_.pop_front();
    evidence_.push_back(std::move(evidence));
}

MinerStats Miner::stats() const {
    LOCK(mutex_);
    return stats_;
}

std::uint64_t Miner::pooled_tokens() const {
    std::uint64_t total = 0;
    for (const auto& [root, pooled] : pool_) total += pooled.certificate.tokens;
    return total;
}

bool Miner::enough_work() const {
    const std::uint64_t pooled = pooled_tokens();
    return tip_ && !pool_.empty() && pooled >= tip_->required_work && pooled > proposed_tokens_;
}

bool Miner::ready_to_propose() const {
    return enough_work() && std::chrono::steady_clock::now() >= propose_after_;
}

void Miner::run() {
    for (;;) {
        bool refresh = false;
        std::vector<Received> received;
        {
            UniqueLock lock(mutex_);
            const auto own_left = [&] { return tip_ && next_n_ < own_limit(); };
            const auto woken = [&]() REQUIRES(mutex_) {
                return stopping_ || tip_changed_ || !inbox_.empty() || own_left() ||
                       ready_to_propose();
            };
            while (!woken()) {
                if (enough_work())
                    wake_.wait_until(lock, propose_after_);  // the grace, then propose
                else
                    wake_.wait(lock);
            }
            if (stopping_) return;
            refresh = std::exchange(tip_changed_, false);
            received.assign(std::make_move_iterator(inbox_.begin()),
                            std::make_move_iterator(inbox_.end()));
            inbox_.clear();
        }
        if (refresh) {
            if (auto status = refresh_tip(); !status) {
                LOCK(mutex_);
                stats_.last_error = status.error().to_string();
                log::warn("miner: {}", stats_.last_error);
                tip_.reset();
            }
        }
        if (!tip_) {
            // Kept for when a tip is known; the wait above ignores them, so no busy loop.
            for (auto& item : received) deferred_.push_back(std::move(item));
            continue;
        }
        if (!deferred_.empty()) {
            received.insert(received.end(), std::make_move_iterator(deferred_.begin()),
                            std::make_move_iterator(deferred_.end()));
            deferred_.clear();
        }
        if (!received.empty()) verify_received(std::move(received));
        const std::uint64_t pooled = pooled_tokens();
        {
            LOCK(mutex_);
            stats_.pooled_work = pooled;
            stats_.required_work = tip_->required_work;
        }
        if (ready_to_propose()) {
            propose();
            continue;
        }
        if (next_n_ < own_limit()) compute_own();
    }
}

Status Miner::refresh_tip() {
    std::vector<Received> ready, stale;
    {
        LOCK(chain_.chainstate->cs_main);
        const chain::BlockIndexEntry tip = chain_.chainstate->store().tip();
        if (chain_.engine->model_block() != tip.hash)
            return make_error(ErrorKind::local, "miner-engine-not-at-tip",
                              "engine holds " + chain_.engine->model_block().hex());
        auto required = chain::required_work_for_child(chain_.chainstate->store(), tip, genesis_);
        if (!required) return required.error();
        if (tip_ && tip_->entry.hash == tip.hash) return ok_status();  // nothing changed
        tip_ = Tip{tip, *required, chain_.engine->weights()};
        // Waiting items for the new tip are ready; those for blocks the store knows are stale.
        LOCK(mutex_);
        for (auto it = waiting_.begin(); it != waiting_.end();) {
            if (it->first == tip.hash) {
                ready.push_back(std::move(it->second));
                it = waiting_.erase(it);
            } else if (chain_.chainstate->store().lookup(it->first)) {
                stale.push_back(std::move(it->second));
                it = waiting_.erase(it);
            } else {
                ++it;
            }
        }
    }
    // Verdicts outside the chain lock: the node's takes it.
    for (auto& r : stale)
        if (r.verdict)
            r.verdict(
                make_error(ErrorKind::policy, "miner-stale-work", "its parent is not the tip"),
                false);
    pool_.clear();
    pooled_ids_.clear();
    next_n_ = 0;
    proposed_tokens_ = 0;
    propose_after_ = {};
    if (!ready.empty()) verify_received(std::move(ready));
    return ok_status();
}

void Miner::verify_received(std::vector<Received> items) {
    const VerifyContext context{&genesis_.learning, tip_->entry.hash};
    for (auto& [item, verdict] : items) {
        auto certificate = decode_certificate(item.certificate);
        if (certificate && certificate->parent != tip_->entry.hash) {
            bool full = false;
            {
                LOCK(mutex_);
                full = waiting_.size() >= miner_max_waiting;
                if (!full)
                    waiting_.emplace(certificate->parent,
                                     Received{std::move(item), std::move(verdict)});
            }
            if (full && verdict)
                verdict(make_error(ErrorKind::policy, "miner-waiting-full"), false);
            continue;
        }
        Status status = ok_status();
        bool recomputed = false;
        if (!certificate) {
            status = certificate.error();
        } else if (pooled_ids_.contains({certificate->worker, certificate->n})) {
            status = make_error(ErrorKind::policy, "miner-duplicate", certificate->describe());
        } else if (auto known = known_verdict(certificate->root()); known && !*known) {
            status = *known;  // proven or recomputed false already: not sampled again
        } else if (auto checked =
                       consensus::check_contribution(context, plan_, item.certificate, item.blob);
                   !checked) {
            status = checked.error();
        } else {
            recomputed = true;
            const auto chosen = consensus::choose_micro_batches(
                options_.policy, checked->certificate.micro_batches, rng_);
            auto report = consensus::recompute(trainer_, tip_->weights, dataset_, plan_,
                                               genesis_.learning, *checked, chosen);
            if (!report) {
                status = report.error();
            } else {
                const Hash256 root = checked->certificate.root();
                pooled_ids_.insert({certificate->worker, certificate->n});
                remember(root);
                auto credited = credited_work(checked->certificate);
                const bool below = pooled_tokens() < tip_->required_work;
                pool_[root] =
                    Pooled{std::move(item), std::move(checked->certificate), std::move(credited)};
                if (below && pooled_tokens() >= tip_->required_work)
                    propose_after_ = std::chrono::steady_clock::now() + options_.proposal_grace;
            }
        }
        {
            LOCK(mutex_);
            if (status) {
                ++stats_.accepted;
            } else {
                ++stats_.rejected;
                stats_.last_error = status.error().to_string();
                log::debug("miner: rejected contribution: {}", stats_.last_error);
            }
        }
        if (verdict) verdict(status, recomputed);
    }
}

void Miner::compute_own() {
    const std::uint32_t n = next_n_++;
    const PublicKey worker = keys_.worker.public_key();
    if (pooled_ids_.contains({worker, n})) return;  // a peer relayed ours back
    const auto start = std::chrono::steady_clock::now();
    // A contribution takes about 30 s on the devnet: its progress is logged every 10 s, with
    // the rate and an ETA. keep_going runs before each micro-batch, so its calls count them.
    const auto& learning = genesis_.learning;
    log::Progress progress(fmt::format("miner: contribution n={}", n), "micro-batches",
                           learning.micro_batches, std::chrono::seconds(10));
    const double tokens_per_micro_batch =
        static_cast<double>(learning.micro_batch_size) * learning.model.context;
    std::uint32_t micro_batches_done = 0;
    // Work for a tip that is no longer the tip earns nothing, and a stop should not wait.
    const auto keep_going = [&] {
        if (micro_batches_done > 0) {
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            progress.update(micro_batches_done,
                            fmt::format("{:.0f} tokens/s",
                                        micro_batches_done * tokens_per_micro_batch / elapsed));
        }
        ++micro_batches_done;
        LOCK(mutex_);
        return !stopping_ && !tip_changed_;
    };
    auto contribution = compute_contribution(trainer_, tip_->weights, dataset_, genesis_.learning,
                                             tip_->entry.hash, keys_.worker, n, keep_going);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!contribution && contribution.error().reason == "pol-contribution-cancelled") {
        --next_n_;  // the same n again if the tip stays (a stop, then a start)
        return;
    }
    if (!contribution) {
        LOCK(mutex_);
        stats_.last_error = contribution.error().to_string();
        log::warn("miner: contribution n={} failed: {}", n, stats_.last_error);
        return;
    }
    Certificate& certificate = contribution->certificate;
    // Honest work can still break a genesis bound (a gradient spike past max_gradient_norm): a
    // block carrying it would be refused, by this node first, at every proposal. Dropped here.
    const consensus::VerifyContext context{&genesis_.learning, tip_->entry.hash};
    chain::WorkItem item = contribution->work_item();
    if (auto checked = consensus::check_contribution(context, plan_, item.certificate, item.blob);
        !checked) {
        LOCK(mutex_);
        stats_.last_error = checked.error().to_string();
        log::warn("miner: own contribution n={} breaks a rule, dropped: {}", n, stats_.last_error);
        return;
    }
    {
        LOCK(mutex_);
        ++stats_.contributions;
        stats_.tokens += certificate.tokens;
        stats_.last_loss = certificate.loss;
        stats_.busy_seconds += seconds;
    }
    pooled_ids_.insert({worker, n});
    const Hash256 root = certificate.root();
    remember(root);
    Pooled pooled{std::move(item), certificate, credited_work(certificate)};
    pool_[root] = std::move(pooled);
    if (options_.on_own_contribution) options_.on_own_contribution(pool_[root].item);
    log_progress();
}

void Miner::remember(const Hash256& root) {
    // Work this node computed or recomputed need not be recomputed when a block carrying it
    // is connected, whoever proposes that block.
    LOCK(chain_.chainstate->cs_main);
    chain_.engine->remember_verified(tip_->entry.hash, root);
}

// More contributions than one block can carry would only make the template fail.
std::uint32_t Miner::own_limit() const {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(
        options_.max_contributions, chain::max_worker_contributions_per_block(genesis_.learning)));
}

void Miner::propose() {
    std::vector<chain::WorkItem> items;
    chain::BlockWork work;
    // A pool of many workers may hold more than fits: D never exceeds what fits (PROTOCOL.md
    // §L.6.3), so the first that fit, in the pool's root order, always meet it.
    const std::uint64_t fit = chain::max_contributions_per_block(genesis_.learning);
    for (const auto& [root, pooled] : pool_) {
        if (items.size() == fit) break;
        items.push_back(pooled.item);
        work.certificate_roots.push_back(root);
        work.workers.insert(work.workers.end(), pooled.credited.begin(), pooled.credited.end());
    }
    const std::uint64_t pooled = pooled_tokens();
    chain::TemplateEvidence evidence;
    {
        LOCK(mutex_);
        evidence.candidates.assign(evidence_.begin(), evidence_.end());
    }
    Result<chain::BlockTemplate> built = make_error(ErrorKind::policy, "miner-stale-tip");
    {
        LOCK(chain_.chainstate->cs_main);
        // The tip may have moved since the snapshot; the next loop picks the new one up.
        if (chain_.chainstate->store().tip().hash == tip_->entry.hash &&
            chain_.engine->model_block() == tip_->entry.hash) {
            const chain::ChainStore& store = chain_.chainstate->store();
            evidence.models = &store;
            built = chain::build_block_template(
                store, store.tip(), store.state(), *chain_.engine, chain_.chainstate->mempool(),
                std::move(items), work, keys_.proposer, genesis_, unix_time(), {}, evidence);
        }
    }
    proposed_tokens_ = pooled;  // a failed attempt waits for more work or a new tip
    if (!built) {
        LOCK(mutex_);
        stats_.last_error = built.error().to_string();
        if (built.error().reason != "miner-stale-tip")
            log::warn("miner: block template failed: {}", stats_.last_error);
        return;
    }
    {
        LOCK(mutex_);
        ++stats_.blocks;
    }
    log::info("miner: proposing block {} at height {} with {} contributions, {} tokens{}",
              built->block.hash().hex().substr(0, 16), built->block.header.height,
              built->block.work_items.size(), built->block.header.work,
              built->block.evidence.empty()
                  ? std::string()
                  : fmt::format(", {} evidence", built->block.evidence.size()));
    if (on_block_) on_block_(std::move(built->block));
}

void Miner::log_progress() {
    if (options_.progress_interval.count() <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (last_progress_ && now - *last_progress_ < options_.progress_interval) return;
    last_progress_ = now;
    const MinerStats s = stats();
    const double rate = s.busy_seconds > 0 ? static_cast<double>(s.tokens) / s.busy_seconds : 0;
    log::info(
        "mining height {}: {:.0f} tokens/s, loss {:.4f}, work pooled {}/{} ({} contributions)",
        tip_->entry.header.height + 1, rate, s.last_loss, pooled_tokens(), tip_->required_work,
        pool_.size());
}

}  // namespace learnchain::node
