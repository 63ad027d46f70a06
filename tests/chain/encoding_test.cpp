#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/hash.hpp>

#include <gtest/gtest.h>

// This binary replaces global operator new to record the largest single allocation, so the
// tests can prove that a hostile length prefix never reaches the allocator.
namespace {
std::atomic<std::size_t> largest_allocation{0};
void note_allocation(std::size_t size) {
    std::size_t seen = largest_allocation.load();
    while (size > seen && !largest_allocation.compare_exchange_weak(seen, size)) {
    }
}
}  // namespace

void* operator new(std::size_t size) {
    note_allocation(size);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace learnchain::chain {
namespace {

enum class Colour : std::uint8_t { red = 1, green = 2 };

struct Inner {
    std::uint16_t id = 0;
    std::string name;
    friend bool operator==(const Inner&, const Inner&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(id, name);
    }
};

struct Sample {
    std::uint8_t u8 = 0;
    std::int32_t i32 = 0;
    std::uint64_t u64 = 0;
    bool flag = false;
    float f = 0;
    double d = 0;
    Colour colour = Colour::red;
    Hash256 hash;
    std::array<std::uint8_t, 3> fixed{};
    std::vector<std::uint8_t> blob;
    std::vector<float> floats;
    std::vector<Inner> inners;
    std::string text;
    friend bool operator==(const Sample&, const Sample&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(u8, i32, u64, flag, f, d, colour, hash, fixed, blob, floats, inners, text);
    }
};

Sample make_sample() {
    Sample s;
    s.u8 = 0xab;
    s.i32 = -2;
    s.u64 = 0x0102030405060708ULL;
    s.flag = true;
    s.f = 1.5F;
    s.d = -0.25;
    s.colour = Colour::green;
    s.hash = sha256(std::string_view("abc"));
    s.fixed = {7, 8, 9};
    s.blob = {1, 2, 3, 4};
    s.floats = {0.5F, -1.0F};
    s.inners = {{1, "one"}, {2, "two"}};
    s.text = "hello";
    return s;
}

TEST(Encoding, RoundTrip) {
    const Sample original = make_sample();
    const auto bytes = encode(original);
    const auto decoded = decode<Sample>(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
    EXPECT_EQ(*decoded, original);
}

TEST(Encoding, IntegersAreLittleEndianFixedWidth) {
    EXPECT_EQ(encode(std::uint32_t{0x01020304}), (std::vector<std::uint8_t>{4, 3, 2, 1}));
    EXPECT_EQ(encode(std::int16_t{-2}), (std::vector<std::uint8_t>{0xfe, 0xff}));
    EXPECT_EQ(encode(1.0F), (std::vector<std::uint8_t>{0, 0, 0x80, 0x3f}));
    EXPECT_EQ(encode(std::vector<std::uint8_t>{9}), (std::vector<std::uint8_t>{1, 0, 0, 0, 9}));
    EXPECT_EQ(encode(std::string("ab")), (std::vector<std::uint8_t>{2, 0, 0, 0, 'a', 'b'}));
}

TEST(Encoding, TrailingBytesRejected) {
    auto bytes = encode(make_sample());
    bytes.push_back(0);
    const auto decoded = decode<Sample>(bytes);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "decode-trailing-bytes");
}

TEST(Encoding, TruncationRejectedAtEveryLength) {
    const auto bytes = encode(make_sample());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        const auto decoded = decode<Sample>(std::span(bytes.data(), n));
        ASSERT_FALSE(decoded.ok()) << n;
        EXPECT_TRUE(decoded.error().reason == "decode-truncated" ||
                    decoded.error().reason == "decode-length-exceeds-input")
            << decoded.error().reason;
    }
}

TEST(Encoding, NonCanonicalBoolRejected) {
    const auto decoded = decode<bool>(std::vector<std::uint8_t>{2});
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "decode-bad-bool");
}

// The cereal #103 attack: a few bytes claiming a huge sequence.
TEST(Encoding, HugeLengthPrefixFailsFastWithoutAllocating) {
    // 0x3B9ACA00 = 1e9 elements, then 6 bytes of payload: 10 bytes in all.
    const std::vector<std::uint8_t> hostile = {0x00, 0xca, 0x9a, 0x3b, 1, 2, 3, 4, 5, 6};
    largest_allocation = 0;
    const auto start = std::chrono::steady_clock::now();
    const auto as_bytes = decode<std::vector<std::uint8_t>>(hostile);
    const auto as_floats = decode<std::vector<float>>(hostile);
    const auto as_string = decode<std::string>(hostile);
    const auto as_structs = decode<std::vector<Inner>>(hostile);
    const auto as_nested = decode<std::vector<std::vector<std::uint64_t>>>(hostile);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    for (const auto* error : {&as_bytes.error(), &as_floats.error(), &as_string.error(),
                              &as_structs.error(), &as_nested.error()}) {
        EXPECT_EQ(error->reason, "decode-length-exceeds-input");
        EXPECT_NE(error->detail.find("1000000000"), std::string::npos) << error->detail;
    }
    EXPECT_LT(largest_allocation.load(), std::size_t{4096});
    EXPECT_LT(elapsed, std::chrono::milliseconds(100));
}

TEST(Encoding, InnerLengthPrefixBoundedByWhatRemains) {
    // A vector of two Inner whose second name claims more bytes than remain.
    std::vector<std::uint8_t> bytes = encode(std::vector<Inner>{{1, "x"}, {2, "y"}});
    bytes[bytes.size() - 5] = 0xff;  // second name's length prefix, low byte
    bytes[bytes.size() - 2] = 0x7f;  // high byte: ~2 GB
    largest_allocation = 0;
    const auto decoded = decode<std::vector<Inner>>(bytes);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().reason, "decode-length-exceeds-input");
    EXPECT_LT(largest_allocation.load(), std::size_t{4096});
}

TEST(Encoding, EncodeAppendConcatenates) {
    std::vector<std::uint8_t> out;
    encode_append(out, std::uint8_t{1});
    encode_append(out, std::uint16_t{2});
    EXPECT_EQ(out, (std::vector<std::uint8_t>{1, 2, 0}));
}

}  // namespace
}  // namespace learnchain::chain
