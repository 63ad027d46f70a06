#include <algorithm>
#include <string>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/merkle.hpp>

namespace learnchain::chain {

Hash256 BlockHeader::sighash() const {
    std::vector<std::uint8_t> bytes;
    bytes.reserve(header_encoded_size);
    EncodeWriter writer(bytes);
    serialize_unsigned(writer);
    return tagged_hash(tag::header_sighash, bytes);
}

Hash256 BlockHeader::hash() const {
    return tagged_hash(tag::block_header, encode(*this));
}

void BlockHeader::sign(const SecretKey& key) {
    proposer = key.public_key();
    signature = chain::sign(key, sighash());
}

bool BlockHeader::signature_valid() const {
    return verify(proposer, sighash(), signature);
}

std::size_t Block::encoded_size() const {
    // Computed from the layout rather than by encoding, which would copy every blob.
    std::size_t size = header_encoded_size + 4 + 4 + 4;
    for (const auto& tx : transactions) size += min_tx_encoded_size + tx.memo.size();
    for (const auto& item : work_items) size += 4 + item.certificate.size() + 4 + item.blob.size();
    for (const auto& item : evidence) size += 4 + item.proof.size();
    return size;
}

Hash256 compute_tx_root(const std::vector<Transaction>& transactions) {
    std::vector<Hash256> ids;
    ids.reserve(transactions.size());
    for (const auto& tx : transactions) ids.push_back(tx.txid());
    return merkle_root(ids);
}

Hash256 compute_work_root(const std::vector<Hash256>& certificate_roots) {
    return merkle_root(certificate_roots);
}

Hash256 Evidence::id() const {
    return tagged_hash(tag::evidence, proof);
}

Hash256 compute_evidence_root(const std::vector<Evidence>& evidence) {
    std::vector<Hash256> ids;
    ids.reserve(evidence.size());
    for (const auto& item : evidence) ids.push_back(item.id());
    return merkle_root(ids);
}

ChainWork ChainWork::plus(std::uint64_t work) const {
    ChainWork out = *this;
    out.low_ += work;
    if (out.low_ < work) ++out.high_;  // the high word cannot wrap: 2^64 blocks of 2^64 work
    return out;
}

std::string ChainWork::to_string() const {
    __extension__ using u128 = unsigned __int128;
    u128 value = (static_cast<u128>(high_) << 64) | low_;
    if (value == 0) return "0";
    std::string digits;
    while (value != 0) {
        digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
        value /= 10;
    }
    std::reverse(digits.begin(), digits.end());
    return digits;
}

}  // namespace learnchain::chain
