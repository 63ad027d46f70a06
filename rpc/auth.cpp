#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <learnchain/chain/file.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/rpc/auth.hpp>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

namespace learnchain::rpc {

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::string base64_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        const auto v = (std::uint32_t(std::uint8_t(data[i])) << 16) |
                       (std::uint32_t(std::uint8_t(data[i + 1])) << 8) | std::uint8_t(data[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (const std::size_t rest = data.size() - i; rest > 0) {
        std::uint32_t v = std::uint32_t(std::uint8_t(data[i])) << 16;
        if (rest == 2) v |= std::uint32_t(std::uint8_t(data[i + 1])) << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0)
        return make_error(ErrorKind::malformed, "bad-base64", "length not a multiple of 4");
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
        std::uint32_t v = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const bool padding = j >= 4 - static_cast<std::size_t>(pad);
            const int digit = padding ? 0 : base64_value(text[i + j]);
            if (digit < 0)
                return make_error(ErrorKind::malformed, "bad-base64", "invalid character");
            v = (v << 6) | static_cast<std::uint32_t>(digit);
        }
        out += static_cast<char>((v >> 16) & 0xff);
        if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(v & 0xff);
    }
    return out;
}

std::string basic_authorization(std::string_view credentials) {
    return "Basic " + base64_encode(credentials);
}

Result<std::string> write_cookie(const std::filesystem::path& datadir) {
    std::array<std::uint8_t, 32> secret{};
    chain::random_bytes(secret);
    std::string credentials = std::string(cookie_user) + ":" + chain::to_hex(secret);

    LEARNCHAIN_TRY(
        write_file_atomic(datadir / cookie_file_name, credentials, "rpc-cookie-write-failed"));
    return credentials;
}

Result<std::string> read_cookie(const std::filesystem::path& cookie_path) {
    std::ifstream in(cookie_path, std::ios::binary);
    if (!in)
        return make_error(ErrorKind::local, "rpc-cookie-read-failed",
                          "cannot open " + cookie_path.string());
    std::string line;
    // A cookie is 75 bytes; refuse to slurp whatever a wrong path points at.
    line.resize(256);
    in.read(line.data(), static_cast<std::streamsize>(line.size()));
    line.resize(static_cast<std::size_t>(in.gcount()));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.find(':') == std::string::npos)
        return make_error(ErrorKind::local, "rpc-cookie-read-failed",
                          "no user:password in " + cookie_path.string());
    return line;
}

void Authenticator::set_cookie(std::string_view credentials) {
    cookie_ = chain::sha256(credentials);
}

void Authenticator::set_static(std::string_view credentials) {
    static_ = chain::sha256(credentials);
}

bool Authenticator::check(std::string_view header) const {
    constexpr std::string_view scheme = "Basic ";
    if (header.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(header[i])) !=
            std::tolower(static_cast<unsigned char>(scheme[i])))
            return false;
    header.remove_prefix(scheme.size());
    while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
    while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
    auto decoded = base64_decode(header);
    if (!decoded.ok()) return false;
    const chain::Hash256 presented = chain::sha256(*decoded);
    // Compare against both, always, so which one matched does not show in the timing.
    bool match = false;
    for (const auto* expected : {&cookie_, &static_}) {
        if (!*expected) continue;
        match |= CRYPTO_memcmp(presented.data(), (*expected)->data(), chain::Hash256::size) == 0;
    }
    return match;
}

std::filesystem::path default_datadir() {
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home != nullptr && *home != '\0' ? home : ".") / ".learnchain";
}

}  // namespace learnchain::rpc
