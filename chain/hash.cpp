#include <map>
#include <stdexcept>

#include <learnchain/chain/hash.hpp>

#include <openssl/evp.h>

namespace learnchain::chain {
namespace {

EVP_MD_CTX* as_ctx(void* p) {
    return static_cast<EVP_MD_CTX*>(p);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// OpenSSL 3 resolves EVP_sha256() through its provider table on every init; fetching the
// implementation once removes that from every hash.
const EVP_MD* sha256_md() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

// Each thread keeps, per tag, a context that has already absorbed SHA256(tag) twice (one
// full 64-byte block), so a tagged hash costs a context copy instead of an extra compression.
struct TagMidstates {
    std::map<std::string, EVP_MD_CTX*, std::less<>> by_tag;
    ~TagMidstates() {
        for (auto& [tag, ctx] : by_tag) EVP_MD_CTX_free(ctx);
    }
};

const EVP_MD_CTX* tag_midstate(std::string_view tag) {
    thread_local TagMidstates cache;
    if (auto it = cache.by_tag.find(tag); it != cache.by_tag.end()) return it->second;
    const Hash256 digest = sha256(tag);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1)
        throw std::runtime_error("OpenSSL SHA-256 initialisation failed");
    EVP_DigestUpdate(ctx, digest.data(), Hash256::size);
    EVP_DigestUpdate(ctx, digest.data(), Hash256::size);
    cache.by_tag.emplace(std::string(tag), ctx);
    return ctx;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    // Allocation or init failure here means OpenSSL itself is unusable: nothing to recover.
    if (ctx_ == nullptr || EVP_DigestInit_ex(as_ctx(ctx_), sha256_md(), nullptr) != 1)
        throw std::runtime_error("OpenSSL SHA-256 initialisation failed");
}

Sha256::~Sha256() {
    EVP_MD_CTX_free(as_ctx(ctx_));
}

Sha256& Sha256::update(Bytes data) {
    EVP_DigestUpdate(as_ctx(ctx_), data.data(), data.size());
    return *this;
}

Sha256& Sha256::update(std::string_view data) {
    EVP_DigestUpdate(as_ctx(ctx_), data.data(), data.size());
    return *this;
}

void Sha256::restart_from(const void* midstate) {
    EVP_MD_CTX_copy_ex(as_ctx(ctx_), static_cast<const EVP_MD_CTX*>(midstate));
}

Hash256 Sha256::finalize() {
    std::array<std::uint8_t, Hash256::size> out{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(as_ctx(ctx_), out.data(), &length);
    EVP_DigestInit_ex(as_ctx(ctx_), sha256_md(), nullptr);
    return Hash256(out);
}

Hash256 sha256(Bytes data) {
    return Sha256().update(data).finalize();
}
Hash256 sha256(std::string_view data) {
    return Sha256().update(data).finalize();
}

TaggedHasher::TaggedHasher(std::string_view tag) {
    sha_.restart_from(tag_midstate(tag));
}

TaggedHasher& TaggedHasher::update(Bytes data) {
    sha_.update(data);
    return *this;
}

TaggedHasher& TaggedHasher::update(std::string_view data) {
    sha_.update(data);
    return *this;
}

Hash256 TaggedHasher::finalize() {
    return sha_.finalize();
}

Hash256 tagged_hash(std::string_view tag, Bytes data) {
    return TaggedHasher(tag).update(data).finalize();
}

bool Hash256::is_zero() const {
    for (auto b : bytes_)
        if (b != 0) return false;
    return true;
}

std::string Hash256::hex() const {
    return to_hex(span());
}

Result<Hash256> Hash256::from_hex(std::string_view hex) {
    if (hex.size() != 2 * size)
        return make_error(ErrorKind::malformed, "bad-hash-hex",
                          "expected 64 hex characters, got " + std::to_string(hex.size()));
    auto bytes = chain::from_hex(hex);
    if (!bytes) return bytes.error();
    std::array<std::uint8_t, size> out{};
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return Hash256(out);
}

std::string to_hex(Bytes data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(data.size() * 2, '0');
    for (std::size_t i = 0; i < data.size(); ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    return out;
}

Result<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0)
        return make_error(ErrorKind::malformed, "bad-hex", "odd number of hex characters");
    std::vector<std::uint8_t> out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = hex_value(hex[2 * i]);
        const int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return make_error(ErrorKind::malformed, "bad-hex",
                              "invalid hex character at " + std::to_string(2 * i));
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

}  // namespace learnchain::chain
