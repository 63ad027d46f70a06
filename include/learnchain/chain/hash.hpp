// SHA-256 and BIP340-style tagged hashes over OpenSSL.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

using Bytes = std::span<const std::uint8_t>;

// A 32-byte digest. Opaque fixed-size value; hex is big-endian byte order as printed.
class Hash256 {
public:
    static constexpr std::size_t size = 32;

    constexpr Hash256() = default;
    explicit constexpr Hash256(const std::array<std::uint8_t, size>& bytes) : bytes_(bytes) {}

    [[nodiscard]] static Result<Hash256> from_hex(std::string_view hex);
    [[nodiscard]] std::string hex() const;

    [[nodiscard]] const std::array<std::uint8_t, size>& bytes() const { return bytes_; }
    [[nodiscard]] std::array<std::uint8_t, size>& bytes() { return bytes_; }
    [[nodiscard]] const std::uint8_t* data() const { return bytes_.data(); }
    [[nodiscard]] Bytes span() const { return {bytes_.data(), size}; }
    [[nodiscard]] bool is_zero() const;

    friend auto operator<=>(const Hash256&, const Hash256&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(bytes_);
    }

private:
    std::array<std::uint8_t, size> bytes_{};
};

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    Sha256& update(Bytes data);
    Sha256& update(std::string_view data);
    // Finishes and resets, so the hasher can be reused.
    [[nodiscard]] Hash256 finalize();

private:
    friend class TaggedHasher;
    // Continues from another EVP_MD_CTX's state (a tag's cached midstate).
    void restart_from(const void* midstate);

    void* ctx_;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay out of ours
};

[[nodiscard]] Hash256 sha256(Bytes data);
[[nodiscard]] Hash256 sha256(std::string_view data);

// The domain tags. One per object kind, so that no two kinds of object can collide.
namespace tag {
inline constexpr std::string_view merkle_leaf = "learnchain/merkle-leaf";
inline constexpr std::string_view merkle_node = "learnchain/merkle-node";
inline constexpr std::string_view merkle_root = "learnchain/merkle-root";
inline constexpr std::string_view transaction = "learnchain/tx";
inline constexpr std::string_view tx_sighash = "learnchain/tx-sighash";
inline constexpr std::string_view block_header = "learnchain/header";
inline constexpr std::string_view header_sighash = "learnchain/header-sighash";
inline constexpr std::string_view genesis = "learnchain/genesis";
inline constexpr std::string_view account = "learnchain/account";
inline constexpr std::string_view state = "learnchain/state";
inline constexpr std::string_view seed = "learnchain/seed";
inline constexpr std::string_view unit = "learnchain/unit";
inline constexpr std::string_view certificate = "learnchain/certificate";
inline constexpr std::string_view micro_batch = "learnchain/micro-batch";
inline constexpr std::string_view fraud_proof = "learnchain/fraud-proof";
inline constexpr std::string_view evidence = "learnchain/evidence";
inline constexpr std::string_view gradient = "learnchain/gradient";
inline constexpr std::string_view weights = "learnchain/weights";
inline constexpr std::string_view inference_request = "learnchain/infer-request";
}  // namespace tag

// H_tag(x) = SHA256(SHA256(tag) || SHA256(tag) || x). The tag prefix is cached per tag.
class TaggedHasher {
public:
    explicit TaggedHasher(std::string_view tag);
    TaggedHasher& update(Bytes data);
    TaggedHasher& update(std::string_view data);
    TaggedHasher& update(const Hash256& h) { return update(h.span()); }
    [[nodiscard]] Hash256 finalize();

private:
    Sha256 sha_;
};

[[nodiscard]] Hash256 tagged_hash(std::string_view tag, Bytes data);

[[nodiscard]] std::string to_hex(Bytes data);
[[nodiscard]] Result<std::vector<std::uint8_t>> from_hex(std::string_view hex);

}  // namespace learnchain::chain
