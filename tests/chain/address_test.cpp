#include <algorithm>
#include <string>
#include <vector>

#include <learnchain/chain/address.hpp>

#include <gtest/gtest.h>

namespace learnchain::chain {
namespace {

std::string lowercase(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// Decodes, checks the encoding, and re-encodes to the lowercase input.
void expect_valid(const std::string& text, bech32::Encoding encoding) {
    auto decoded = bech32::decode(text);
    ASSERT_TRUE(decoded.ok()) << text << ": " << decoded.error().to_string();
    EXPECT_EQ(decoded->encoding, encoding) << text;
    EXPECT_EQ(bech32::encode(decoded->encoding, decoded->hrp, decoded->data), lowercase(text));
}

// The longest valid strings (90 characters), one per encoding.
const std::string an83_bech32m =
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11"
    "sg7hg6";
const std::string an83_bech32 =
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1"
    "tt5tgs";

// BIP350 "Test vectors for Bech32m": valid strings.
TEST(Bech32, Bip350ValidBech32m) {
    for (const std::string& s : std::vector<std::string>{
             "A1LQFN3A",
             "a1lqfn3a",
             an83_bech32m,
             "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
             "11" + std::string(83, 'l') + "udsr8",
             "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
             "?1v759aa",
         })
        expect_valid(s, bech32::Encoding::bech32m);
}

// BIP173 "Test vectors": valid Bech32 strings. They decode, but as Bech32, not Bech32m.
TEST(Bech32, Bip173ValidBech32) {
    for (const std::string& s : std::vector<std::string>{
             "A12UEL5L",
             "a12uel5l",
             an83_bech32,
             "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
             "11" + std::string(82, 'q') + "c8247j",
             "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
             "?1ezyfcl",
         })
        expect_valid(s, bech32::Encoding::bech32);
}

struct Invalid {
    std::string text;
    const char* reason;  // our reason code for it
    const char* why;     // the BIP's
};

// BIP350 invalid Bech32m strings, and BIP173's invalid Bech32 ones (which are invalid in
// both encodings), each with the reason we give.
TEST(Bech32, Bip350AndBip173InvalidStrings) {
    const std::vector<Invalid> cases = {
        // BIP350
        {std::string("\x20") + "1xj0phk", "bech32-invalid-character", "HRP character out of range"},
        {std::string("\x7f") + "1g6xzxy", "bech32-invalid-character", "HRP character out of range"},
        {std::string("\x80") + "1vctc34", "bech32-invalid-character", "HRP character out of range"},
        {"an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6"
         "pts4",
         "bech32-too-long", "overall max length exceeded"},
        {"qyrz8wqd2c9m", "bech32-no-separator", "No separator character"},
        {"1qyrz8wqd2c9m", "bech32-empty-hrp", "Empty HRP"},
        {"y1b0jsk6g", "bech32-invalid-character", "Invalid data character"},
        {"lt1igcx5c0", "bech32-invalid-character", "Invalid data character"},
        {"in1muywd", "bech32-too-short", "Too short checksum"},
        {"mm1crxm3i", "bech32-invalid-character", "Invalid character in checksum"},
        {"au1s5cgom", "bech32-invalid-character", "Invalid character in checksum"},
        {"M1VUXWEZ", "bech32-bad-checksum", "checksum calculated with uppercase form of HRP"},
        {"16plkw9", "bech32-empty-hrp", "empty HRP"},
        {"1p2gdwpf", "bech32-empty-hrp", "empty HRP"},
        // BIP173
        {std::string("\x20") + "1nwldj5", "bech32-invalid-character", "HRP character out of range"},
        {std::string("\x7f") + "1axkwrx", "bech32-invalid-character", "HRP character out of range"},
        {std::string("\x80") + "1eym55h", "bech32-invalid-character", "HRP character out of range"},
        {"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569"
         "pvx",
         "bech32-too-long", "overall max length exceeded"},
        {"pzry9x0s0muk", "bech32-no-separator", "No separator character"},
        {"1pzry9x0s0muk", "bech32-empty-hrp", "Empty HRP"},
        {"x1b4n0q5v", "bech32-invalid-character", "Invalid data character"},
        {"li1dgmt3", "bech32-too-short", "Too short checksum"},
        {std::string("de1lg7wt") + "\xff", "bech32-invalid-character",
         "Invalid character in checksum"},
        {"A1G7SGD8", "bech32-bad-checksum", "checksum calculated with uppercase form of HRP"},
        {"10a06t8", "bech32-empty-hrp", "empty HRP"},
        {"1qzzfhee", "bech32-empty-hrp", "empty HRP"},
    };
    for (const Invalid& c : cases) {
        auto decoded = bech32::decode(c.text);
        ASSERT_FALSE(decoded.ok()) << c.text << " (" << c.why << ")";
        EXPECT_EQ(decoded.error().reason, c.reason) << c.text << " (" << c.why << ")";
    }
}

// BIP350's segwit vectors at the bech32 layer: the checksum kind each string carries, and
// the mixed-case one rejected. (Witness versions and program lengths are segwit rules, not
// bech32 ones, and learnchain addresses have neither.)
TEST(Bech32, Bip350SegwitChecksumKinds) {
    expect_valid("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", bech32::Encoding::bech32);
    expect_valid("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                 bech32::Encoding::bech32m);
    expect_valid("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
                 bech32::Encoding::bech32);  // "Bech32 instead of Bech32m"
    expect_valid("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
                 bech32::Encoding::bech32m);  // "Bech32m instead of Bech32"
    auto mixed = bech32::decode("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq");
    ASSERT_FALSE(mixed.ok());
    EXPECT_EQ(mixed.error().reason, "bech32-mixed-case");
    auto bad_char =
        bech32::decode("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4");
    ASSERT_FALSE(bad_char.ok());
    EXPECT_EQ(bad_char.error().reason, "bech32-invalid-character");
}

TEST(Bech32, ConvertBitsPadding) {
    auto five = bech32::convert_bits({0xff}, 8, 5, true);
    ASSERT_TRUE(five.ok());
    EXPECT_EQ(*five, (std::vector<std::uint8_t>{31, 28}));
    auto back = bech32::convert_bits(*five, 5, 8, false);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, (std::vector<std::uint8_t>{0xff}));
    // Non-zero padding bits.
    EXPECT_FALSE(bech32::convert_bits({31, 29}, 5, 8, false).ok());
    // A whole extra group of padding.
    EXPECT_FALSE(bech32::convert_bits({31, 28, 0}, 5, 8, false).ok());
    // A 5-bit group out of range.
    EXPECT_FALSE(bech32::convert_bits({32}, 5, 8, false).ok());
}

// ---- learnchain addresses ----

PublicKey key_from_hex(const char* hex) {
    auto key = PublicKey::from_hex(hex);
    EXPECT_TRUE(key.ok());
    return key.ok() ? *key : PublicKey{};
}

// BIP340 vector 1's public key: a fixed, real key.
const char* const fixed_key = "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659";

TEST(Address, RoundTrip) {
    for (int i = 0; i < 16; ++i) {
        const PublicKey pk = SecretKey::generate().public_key();
        const std::string address = encode_address(pk);
        EXPECT_EQ(address.size(), 62u);
        EXPECT_EQ(address.rfind("lrn1", 0), 0u) << address;
        auto decoded = decode_address(address);
        ASSERT_TRUE(decoded.ok()) << address << ": " << decoded.error().to_string();
        EXPECT_EQ(*decoded, pk);
        // Uppercase is the same address (BIP173 allows it, e.g. for QR codes).
        std::string upper = address;
        for (char& c : upper)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        auto from_upper = decode_address(upper);
        ASSERT_TRUE(from_upper.ok());
        EXPECT_EQ(*from_upper, pk);
    }
}

TEST(Address, IsBech32mOfTheRawKey) {
    const PublicKey pk = key_from_hex(fixed_key);
    const std::string address = encode_address(pk);
    // Pinned: computed independently with BIP350's reference Python algorithm.
    EXPECT_EQ(address, "lrn1mlcawle2vuw97dscxundkg6phev0atsa5t0vakzrys8hk5pt5evsdfg5fx");
    auto decoded = bech32::decode(address);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->encoding, bech32::Encoding::bech32m);
    EXPECT_EQ(decoded->hrp, "lrn");
    EXPECT_EQ(decoded->data.size(), 52u);  // no witness version, just the key's 256 bits
    auto bytes = bech32::convert_bits(decoded->data, 5, 8, false);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(to_hex(*bytes), fixed_key);
}

TEST(Address, EveryOneCharacterTypoIsBadChecksum) {
    const std::string address = encode_address(key_from_hex(fixed_key));
    const std::string_view charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    // Every substitution of every data or checksum character by another valid character:
    // bech32m detects all single substitutions, and the reason must say "typo".
    for (std::size_t pos = 4; pos < address.size(); ++pos) {
        for (const char c : charset) {
            if (c == address[pos]) continue;
            std::string typo = address;
            typo[pos] = c;
            auto decoded = decode_address(typo);
            ASSERT_FALSE(decoded.ok()) << typo;
            ASSERT_EQ(decoded.error().reason, "address-bad-checksum") << typo;
            EXPECT_NE(decoded.error().detail.find("typo"), std::string::npos);
        }
    }
}

TEST(Address, WrongPrefix) {
    const PublicKey pk = key_from_hex(fixed_key);
    std::vector<std::uint8_t> bytes(pk.bytes().begin(), pk.bytes().end());
    auto data5 = bech32::convert_bits(bytes, 8, 5, true);
    ASSERT_TRUE(data5.ok());
    const std::string other = bech32::encode(bech32::Encoding::bech32m, "bc", *data5);
    auto decoded = decode_address(other);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "address-wrong-prefix");
    // A real Bitcoin taproot address.
    auto btc = decode_address("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0");
    ASSERT_FALSE(btc.ok());
    EXPECT_EQ(btc.error().reason, "address-wrong-prefix");
    auto no_sep =
        decode_address("dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659");
    ASSERT_FALSE(no_sep.ok());
    EXPECT_EQ(no_sep.error().reason, "address-wrong-prefix");
}

TEST(Address, MixedCase) {
    std::string address = encode_address(key_from_hex(fixed_key));
    address[0] = 'L';
    auto decoded = decode_address(address);
    ASSERT_FALSE(decoded.ok()) << address;
    EXPECT_EQ(decoded.error().reason, "address-mixed-case");
}

TEST(Address, Bech32InsteadOfBech32m) {
    const PublicKey pk = key_from_hex(fixed_key);
    std::vector<std::uint8_t> bytes(pk.bytes().begin(), pk.bytes().end());
    auto data5 = bech32::convert_bits(bytes, 8, 5, true);
    ASSERT_TRUE(data5.ok());
    const std::string old = bech32::encode(bech32::Encoding::bech32, "lrn", *data5);
    auto decoded = decode_address(old);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "address-not-bech32m");
}

TEST(Address, InvalidCharacter) {
    std::string address = encode_address(key_from_hex(fixed_key));
    address[20] = 'b';  // b, i, o and 1 are not in the bech32 alphabet
    auto decoded = decode_address(address);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "address-invalid-character");
    auto space = decode_address(address.substr(0, 30) + " " + address.substr(31));
    ASSERT_FALSE(space.ok());
    EXPECT_EQ(space.error().reason, "address-invalid-character");
}

TEST(Address, WrongLength) {
    const std::string address = encode_address(key_from_hex(fixed_key));
    for (const std::string& bad :
         {address.substr(0, 61), address + "q", std::string("lrn1qqq"), address + address}) {
        auto decoded = decode_address(bad);
        ASSERT_FALSE(decoded.ok()) << bad;
        EXPECT_EQ(decoded.error().reason, "address-wrong-length") << bad;
    }
    // A valid bech32m string with the right prefix but a 20-byte payload.
    auto short_payload = bech32::convert_bits(std::vector<std::uint8_t>(20, 7), 8, 5, true);
    ASSERT_TRUE(short_payload.ok());
    auto decoded = decode_address(bech32::encode(bech32::Encoding::bech32m, "lrn", *short_payload));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "address-wrong-length");
}

TEST(Address, InvalidKeyNotOnCurve) {
    // A correctly checksummed address of an x coordinate with no curve point (x = 5).
    std::vector<std::uint8_t> bytes(32, 0);
    bytes[31] = 5;
    auto data5 = bech32::convert_bits(bytes, 8, 5, true);
    ASSERT_TRUE(data5.ok());
    auto decoded = decode_address(bech32::encode(bech32::Encoding::bech32m, "lrn", *data5));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "address-invalid-key");
}

TEST(Address, NonZeroPadding) {
    const PublicKey pk = key_from_hex(fixed_key);
    std::vector<std::uint8_t> bytes(pk.bytes().begin(), pk.bytes().end());
    auto data5 = bech32::convert_bits(bytes, 8, 5, true);
    ASSERT_TRUE(data5.ok());
    data5->back() |= 1;  // one of the 4 padding bits
    auto decoded = decode_address(bech32::encode(bech32::Encoding::bech32m, "lrn", *data5));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "address-bad-padding");
}

TEST(Address, ReasonsAreDistinct) {
    // The same address, broken five ways, gives five different reasons.
    const std::string address = encode_address(key_from_hex(fixed_key));
    std::string typo = address;
    typo[30] = typo[30] == 'q' ? 'p' : 'q';
    std::string mixed = address;
    mixed[0] = 'L';
    std::string invalid = address;
    invalid[30] = 'o';
    const std::vector<std::string> broken = {typo, mixed, invalid, address.substr(0, 60),
                                             "bc" + address.substr(3)};
    std::vector<std::string> reasons;
    for (const auto& b : broken) {
        auto decoded = decode_address(b);
        ASSERT_FALSE(decoded.ok()) << b;
        reasons.push_back(decoded.error().reason);
    }
    std::sort(reasons.begin(), reasons.end());
    EXPECT_EQ(std::unique(reasons.begin(), reasons.end()), reasons.end());
}

}  // namespace
}  // namespace learnchain::chain
