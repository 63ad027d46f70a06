#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/file.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/wallet/keystore.hpp>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

namespace learnchain::wallet {
namespace {

constexpr std::size_t salt_bytes = 32;
constexpr std::size_t nonce_bytes = 12;  // GCM's natural IV size
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t derived_bytes = 32;
// Binds the ciphertext to this format, so a blob cannot be moved into another kind of file.
constexpr std::string_view aad = "learnchain-keystore-v1";

// Wipes on destruction: derived keys and plaintext never outlive their use.
template <std::size_t N>
struct Secret {
    std::array<std::uint8_t, N> bytes{};
    ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

Error invalid(std::string detail) {
    return make_error(ErrorKind::malformed, "wallet-keystore-invalid", std::move(detail));
}

Status check_params(const ScryptParams& p) {
    if (p.n < 2 || p.n > max_scrypt_n || (p.n & (p.n - 1)) != 0)
        return invalid("scrypt n must be a power of two in [2, 2^20]");
    if (p.r < 1 || p.r > max_scrypt_r) return invalid("scrypt r out of [1, 32]");
    if (p.p < 1 || p.p > max_scrypt_p) return invalid("scrypt p out of [1, 16]");
    return ok_status();
}

Status derive(std::string_view passphrase, std::span<const std::uint8_t> salt,
              const ScryptParams& p, Secret<derived_bytes>& out) {
    // scrypt needs 128 r N bytes for V plus 128 r p for B; OpenSSL's default cap (32 MiB) is
    // below N = 2^15, r = 8, so the cap is computed from the (already bounded) parameters.
    const std::uint64_t maxmem = 128ull * p.r * (p.n + p.p + 2) + (1u << 20);
    if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), p.n, p.r,
                       p.p, maxmem, out.bytes.data(), out.bytes.size()) != 1)
        return make_error(ErrorKind::local, "wallet-crypto-failed", "scrypt failed");
    return ok_status();
}

struct CipherCtx {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

Result<std::vector<std::uint8_t>> hex_field(const json& object, const char* name,
                                            std::size_t size) {
    const auto it = object.find(name);
    if (it == object.end() || !it->is_string()) return invalid(std::string(name) + " missing");
    auto bytes = chain::from_hex(it->get<std::string>());
    if (!bytes || bytes->size() != size)
        return invalid(std::string(name) + " must be " + std::to_string(size) + " bytes of hex");
    return std::move(bytes).value();
}

Error errno_error(std::string_view what, const std::filesystem::path& path) {
    return make_error(ErrorKind::local, "wallet-io-error",
                      std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

Result<json> seal_key(const chain::SecretKey& key, std::string_view passphrase,
                      const ScryptParams& params) {
    LEARNCHAIN_TRY(check_params(params));
    std::array<std::uint8_t, salt_bytes> salt{};
    std::array<std::uint8_t, nonce_bytes> nonce{};
    chain::random_bytes(salt);
    chain::random_bytes(nonce);
    Secret<derived_bytes> derived;
    LEARNCHAIN_TRY(derive(passphrase, salt, params, derived));

    std::array<std::uint8_t, chain::SecretKey::size> ciphertext{};
    std::array<std::uint8_t, tag_bytes> tag{};
    CipherCtx c;
    int len = 0, final_len = 0;
    const auto& plain = key.bytes();
    if (c.ctx == nullptr ||
        EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, nonce_bytes, nullptr) != 1 ||
        EVP_EncryptInit_ex(c.ctx, nullptr, nullptr, derived.bytes.data(), nonce.data()) != 1 ||
        EVP_EncryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                          static_cast<int>(aad.size())) != 1 ||
        EVP_EncryptUpdate(c.ctx, ciphertext.data(), &len, plain.data(),
                          static_cast<int>(plain.size())) != 1 ||
        EVP_EncryptFinal_ex(c.ctx, ciphertext.data() + len, &final_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, tag_bytes, tag.data()) != 1)
        return make_error(ErrorKind::local, "wallet-crypto-failed",
                          "AES-256-GCM encryption failed");

    return json{
        {"version", keystore_version},
        {"address", chain::encode_address(key.public_key())},
        {"kdf",
         {{"name", "scrypt"},
          {"n", params.n},
          {"r", params.r},
          {"p", params.p},
          {"dklen", derived_bytes},
          {"salt", chain::to_hex(salt)}}},
        {"cipher", {{"name", "aes-256-gcm"}, {"nonce", chain::to_hex(nonce)}}},
        {"ciphertext", chain::to_hex(ciphertext)},
        {"tag", chain::to_hex(tag)},
    };
}

Result<std::string> keystore_address(const json& keystore) {
    if (!keystore.is_object() || !keystore.contains("address") || !keystore["address"].is_string())
        return invalid("address missing");
    const auto address = keystore["address"].get<std::string>();
    if (auto key = chain::decode_address(address); !key)
        return invalid("address: " + key.error().to_string());
    return address;
}

Result<chain::SecretKey> open_key(const json& keystore, std::string_view passphrase) {
    if (!keystore.is_object()) return invalid("not a JSON object");
    if (keystore.value("version", 0) != keystore_version)
        return invalid("unsupported version (expected 1)");
    auto address = keystore_address(keystore);
    if (!address) return address.error();
    const json* kdf = keystore.contains("kdf") ? &keystore["kdf"] : nullptr;
    const json* cipher = keystore.contains("cipher") ? &keystore["cipher"] : nullptr;
    if (kdf == nullptr || !kdf->is_object() || kdf->value("name", std::string()) != "scrypt")
        return invalid("kdf must be scrypt");
    if (cipher == nullptr || !cipher->is_object() ||
        cipher->value("name", std::string()) != "aes-256-gcm")
        return invalid("cipher must be aes-256-gcm");
    for (const char* field : {"n", "r", "p", "dklen"}) {
        // Parsed files hold non-negative integers as unsigned; built ones may hold them signed.
        const bool non_negative =
            kdf->contains(field) && (*kdf)[field].is_number_integer() &&
            ((*kdf)[field].is_number_unsigned() || (*kdf)[field].get<std::int64_t>() >= 0);
        if (!non_negative)
            return invalid(std::string("kdf.") + field + " must be an unsigned integer");
    }
    if ((*kdf)["dklen"].get<std::uint64_t>() != derived_bytes)
        return invalid("kdf.dklen must be 32");
    const ScryptParams params{
        (*kdf)["n"].get<std::uint64_t>(),
        static_cast<std::uint32_t>(std::min<std::uint64_t>((*kdf)["r"].get<std::uint64_t>(), ~0u)),
        static_cast<std::uint32_t>(std::min<std::uint64_t>((*kdf)["p"].get<std::uint64_t>(), ~0u))};
    LEARNCHAIN_TRY(check_params(params));
    auto salt = hex_field(*kdf, "salt", salt_bytes);
    if (!salt) return salt.error();
    auto nonce = hex_field(*cipher, "nonce", nonce_bytes);
    if (!nonce) return nonce.error();
    auto ciphertext = hex_field(keystore, "ciphertext", chain::SecretKey::size);
    if (!ciphertext) return ciphertext.error();
    auto tag = hex_field(keystore, "tag", tag_bytes);
    if (!tag) return tag.error();

    Secret<derived_bytes> derived;
    LEARNCHAIN_TRY(derive(passphrase, *salt, params, derived));
    Secret<chain::SecretKey::size> plain;
    CipherCtx c;
    int len = 0, final_len = 0;
    if (c.ctx == nullptr ||
        EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, nonce_bytes, nullptr) != 1 ||
        EVP_DecryptInit_ex(c.ctx, nullptr, nullptr, derived.bytes.data(), nonce->data()) != 1 ||
        EVP_DecryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                          static_cast<int>(aad.size())) != 1 ||
        EVP_DecryptUpdate(c.ctx, plain.bytes.data(), &len, ciphertext->data(),
                          static_cast<int>(ciphertext->size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, tag_bytes, tag->data()) != 1)
        return make_error(ErrorKind::local, "wallet-crypto-failed", "AES-256-GCM setup failed");
    // The tag check is the passphrase check: GCM authenticates before anything is trusted.
    if (EVP_DecryptFinal_ex(c.ctx, plain.bytes.data() + len, &final_len) != 1)
        return make_error(ErrorKind::policy, "wallet-wrong-passphrase",
                          "the passphrase does not open this wallet (or the file was altered)");

    auto key = chain::SecretKey::from_bytes(plain.bytes);
    if (!key)
        return make_error(ErrorKind::malformed, "wallet-keystore-corrupt", key.error().to_string());
    if (chain::encode_address(key->public_key()) != *address)
        return make_error(ErrorKind::malformed, "wallet-keystore-corrupt",
                          "the decrypted key does not match the recorded address");
    return std::move(key).value();
}

Result<json> load_keystore(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return make_error(ErrorKind::local, "wallet-not-found",
                          path.string() + " does not exist (run `learnchain-wallet create`)");
    std::ifstream in(path, std::ios::binary);
    if (!in) return errno_error("cannot open", path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (!in.good() && !in.eof()) return errno_error("cannot read", path);
    json parsed = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object())
        return invalid(path.string() + " is not a JSON object");
    return parsed;
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
    return learnchain::write_file_atomic(path, contents, "wallet-io-error");
}

Status create_keystore_file(const std::filesystem::path& path, const chain::SecretKey& key,
                            std::string_view passphrase, const ScryptParams& params) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec))
        return make_error(ErrorKind::policy, "wallet-exists",
                          path.string() + " already exists; refusing to overwrite a wallet");
    if (path.has_parent_path() && !std::filesystem::exists(path.parent_path(), ec)) {
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec)
            return make_error(ErrorKind::local, "wallet-io-error",
                              "cannot create " + path.parent_path().string() + ": " + ec.message());
        std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
    }
    auto sealed = seal_key(key, passphrase, params);
    if (!sealed) return sealed.error();
    return write_file_atomic(path, sealed->dump(2) + "\n");
}

}  // namespace learnchain::wallet
