// secp256k1 keys and BIP340 Schnorr signatures (libsecp256k1 schnorrsig + extrakeys).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

// A 32-byte x-only public key. Holding one does not mean it is on the curve: verify()
// rejects keys that are not, and PublicKey::parse checks it up front.
class PublicKey {
public:
    static constexpr std::size_t size = 32;
    constexpr PublicKey() = default;
    explicit constexpr PublicKey(const std::array<std::uint8_t, size>& bytes) : bytes_(bytes) {}

    // Checks that the bytes are the x coordinate of a curve point.
    [[nodiscard]] static Result<PublicKey> parse(Bytes bytes);
    [[nodiscard]] static Result<PublicKey> from_hex(std::string_view hex);
    [[nodiscard]] bool is_valid() const;

    [[nodiscard]] const std::array<std::uint8_t, size>& bytes() const { return bytes_; }
    [[nodiscard]] Bytes span() const { return {bytes_.data(), size}; }
    [[nodiscard]] std::string hex() const;

    friend auto operator<=>(const PublicKey&, const PublicKey&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(bytes_);
    }

private:
    std::array<std::uint8_t, size> bytes_{};
};

class Signature {
public:
    static constexpr std::size_t size = 64;
    constexpr Signature() = default;
    explicit constexpr Signature(const std::array<std::uint8_t, size>& bytes) : bytes_(bytes) {}

    [[nodiscard]] static Result<Signature> from_hex(std::string_view hex);
    [[nodiscard]] const std::array<std::uint8_t, size>& bytes() const { return bytes_; }
    [[nodiscard]] std::string hex() const;

    friend auto operator<=>(const Signature&, const Signature&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(bytes_);
    }

private:
    std::array<std::uint8_t, size> bytes_{};
};

// A secret key. Wiped on destruction; never encoded implicitly.
class SecretKey {
public:
    static constexpr std::size_t size = 32;
    SecretKey(const SecretKey&) = default;
    SecretKey& operator=(const SecretKey&) = default;
    ~SecretKey();

    // A fresh key from the operating system's randomness (getrandom).
    [[nodiscard]] static SecretKey generate();
    // Rejects zero and values >= the group order.
    [[nodiscard]] static Result<SecretKey> from_bytes(Bytes bytes);
    [[nodiscard]] static Result<SecretKey> from_hex(std::string_view hex);

    [[nodiscard]] PublicKey public_key() const;
    [[nodiscard]] const std::array<std::uint8_t, size>& bytes() const { return bytes_; }

private:
    SecretKey() = default;
    std::array<std::uint8_t, size> bytes_{};
};

// BIP340 signing of a 32-byte message (our messages are always tagged hashes).
// aux_rand is fresh OS randomness unless given, as BIP340 recommends.
[[nodiscard]] Signature sign(const SecretKey& key, const Hash256& message);
[[nodiscard]] Signature sign(const SecretKey& key, Bytes message,
                             const std::array<std::uint8_t, 32>& aux_rand);

// BIP340 verification; arbitrary message length as the BIP allows.
[[nodiscard]] bool verify(const PublicKey& key, Bytes message, const Signature& signature);
[[nodiscard]] inline bool verify(const PublicKey& key, const Hash256& message,
                                 const Signature& signature) {
    return verify(key, message.span(), signature);
}

// Fills `out` from the OS's cryptographic randomness.
void random_bytes(std::span<std::uint8_t> out);

}  // namespace learnchain::chain
