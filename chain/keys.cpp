#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <learnchain/chain/keys.hpp>

#include <openssl/crypto.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <sys/random.h>

namespace learnchain::chain {
namespace {

// Signing and verification cannot fail for keys this module constructed, and their
// signatures return plain values; a failure there means memory corruption or a broken
// library, where carrying on would be worse than stopping.
[[noreturn]] void fatal(const char* what) {
    std::fprintf(stderr, "learnchain: fatal: %s\n", what);
    std::abort();
}

// One context for the whole process. libsecp256k1 functions that take a const context are
// thread-safe, and randomizing it once blinds the signing and key-generation arithmetic
// against timing and power side channels.
const secp256k1_context* context() {
    static const secp256k1_context* const ctx = [] {
        secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        if (c == nullptr) fatal("secp256k1_context_create failed");
        std::array<std::uint8_t, 32> seed{};
        random_bytes(seed);
        if (secp256k1_context_randomize(c, seed.data()) != 1)
            fatal("secp256k1_context_randomize failed");
        OPENSSL_cleanse(seed.data(), seed.size());
        return c;
    }();
    return ctx;
}

// A keypair holds the secret scalar, so it is wiped as soon as it has been used.
struct Keypair {
    secp256k1_keypair pair{};
    explicit Keypair(const std::array<std::uint8_t, SecretKey::size>& secret) {
        if (secp256k1_keypair_create(context(), &pair, secret.data()) != 1)
            fatal("secp256k1_keypair_create rejected a validated secret key");
    }
    ~Keypair() { OPENSSL_cleanse(&pair, sizeof(pair)); }
    Keypair(const Keypair&) = delete;
    Keypair& operator=(const Keypair&) = delete;
};

}  // namespace

void random_bytes(std::span<std::uint8_t> out) {
    std::size_t filled = 0;
    while (filled < out.size()) {
        const ssize_t n = getrandom(out.data() + filled, out.size() - filled, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            // Without OS randomness no key or nonce is safe to produce.
            fatal("getrandom failed");
        }
        filled += static_cast<std::size_t>(n);
    }
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::parse(Bytes bytes) {
    if (bytes.size() != size)
        return make_error(ErrorKind::malformed, "key-bad-length",
                          "public key must be 32 bytes, got " + std::to_string(bytes.size()));
    secp256k1_xonly_pubkey parsed;
    if (secp256k1_xonly_pubkey_parse(context(), &parsed, bytes.data()) != 1)
        return make_error(ErrorKind::malformed, "key-not-on-curve",
                          "bytes are not the x coordinate of a curve point");
    std::array<std::uint8_t, size> out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return PublicKey(out);
}

Result<PublicKey> PublicKey::from_hex(std::string_view hex) {
    auto bytes = chain::from_hex(hex);
    if (!bytes.ok()) return bytes.error();
    return parse(*bytes);
}

bool PublicKey::is_valid() const {
    secp256k1_xonly_pubkey parsed;
    return secp256k1_xonly_pubkey_parse(context(), &parsed, bytes_.data()) == 1;
}

std::string PublicKey::hex() const {
    return to_hex(span());
}

// ---- Signature ----

Result<Signature> Signature::from_hex(std::string_view hex) {
    auto bytes = chain::from_hex(hex);
    if (!bytes.ok()) return bytes.error();
    if (bytes->size() != size)
        return make_error(ErrorKind::malformed, "sig-bad-length",
                          "signature must be 64 bytes, got " + std::to_string(bytes->size()));
    std::array<std::uint8_t, size> out{};
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return Signature(out);
}

std::string Signature::hex() const {
    return to_hex({bytes_.data(), size});
}

// ---- SecretKey ----

SecretKey::~SecretKey() {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

SecretKey SecretKey::generate() {
    SecretKey key;
    // A uniformly random 256-bit value is out of range with probability ~2^-128, so the
    // loop runs once in practice; retrying keeps the key uniform over the group.
    do {
        random_bytes(key.bytes_);
    } while (secp256k1_ec_seckey_verify(context(), key.bytes_.data()) != 1);
    return key;
}

Result<SecretKey> SecretKey::from_bytes(Bytes bytes) {
    if (bytes.size() != size)
        return make_error(ErrorKind::malformed, "key-bad-length",
                          "secret key must be 32 bytes, got " + std::to_string(bytes.size()));
    SecretKey key;
    std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
    if (secp256k1_ec_seckey_verify(context(), key.bytes_.data()) != 1)
        return make_error(ErrorKind::malformed, "key-secret-out-of-range",
                          "secret key must be in [1, n-1] for the secp256k1 group order n");
    return key;
}

Result<SecretKey> SecretKey::from_hex(std::string_view hex) {
    auto bytes = chain::from_hex(hex);
    if (!bytes.ok()) return bytes.error();
    Result<SecretKey> key = from_bytes(*bytes);
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return key;
}

PublicKey SecretKey::public_key() const {
    const Keypair keypair(bytes_);
    secp256k1_xonly_pubkey xonly;
    if (secp256k1_keypair_xonly_pub(context(), &xonly, nullptr, &keypair.pair) != 1)
        fatal("secp256k1_keypair_xonly_pub failed");
    std::array<std::uint8_t, PublicKey::size> out{};
    if (secp256k1_xonly_pubkey_serialize(context(), out.data(), &xonly) != 1)
        fatal("secp256k1_xonly_pubkey_serialize failed");
    return PublicKey(out);
}

// ---- signing and verification ----

Signature sign(const SecretKey& key, const Hash256& message) {
    std::array<std::uint8_t, 32> aux{};
    random_bytes(aux);
    return sign(key, message.span(), aux);
}

Signature sign(const SecretKey& key, Bytes message, const std::array<std::uint8_t, 32>& aux_rand) {
    const Keypair keypair(key.bytes());
    std::array<std::uint8_t, Signature::size> sig{};
    int ok = 0;
    if (message.size() == 32) {
        ok = secp256k1_schnorrsig_sign32(context(), sig.data(), message.data(), &keypair.pair,
                                         aux_rand.data());
    } else {
        secp256k1_schnorrsig_extraparams params = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
        // The library only reads ndata; the cast is its C API's, not a write.
        params.ndata = const_cast<std::uint8_t*>(aux_rand.data());
        ok = secp256k1_schnorrsig_sign_custom(context(), sig.data(), message.data(), message.size(),
                                              &keypair.pair, &params);
    }
    if (ok != 1) fatal("secp256k1_schnorrsig_sign failed");

    // BIP340 advises verifying before releasing a signature: a fault during signing (bit
    // flip, glitch) could otherwise publish a value that leaks the secret key.
    secp256k1_xonly_pubkey xonly;
    if (secp256k1_keypair_xonly_pub(context(), &xonly, nullptr, &keypair.pair) != 1 ||
        secp256k1_schnorrsig_verify(context(), sig.data(), message.data(), message.size(),
                                    &xonly) != 1)
        fatal("freshly made Schnorr signature does not verify");
    return Signature(sig);
}

bool verify(const PublicKey& key, Bytes message, const Signature& signature) {
    secp256k1_xonly_pubkey xonly;
    if (secp256k1_xonly_pubkey_parse(context(), &xonly, key.bytes().data()) != 1) return false;
    return secp256k1_schnorrsig_verify(context(), signature.bytes().data(), message.data(),
                                       message.size(), &xonly) == 1;
}

}  // namespace learnchain::chain
