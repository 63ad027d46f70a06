// The canonical binary encoding: one little-endian format for hashing, disk and wire.
//
// Built on cereal's archive machinery, but with our own leaf rules, because cereal's stock
// vector and string loaders resize to whatever length prefix the input claims (cereal #103,
// #377). Here every length prefix is checked against the bytes that remain before anything
// is allocated, so a 10-byte input can never make the decoder reserve a gigabyte.
//
// Rules: integers are fixed-width little-endian; bool is one byte, 0 or 1; floats are their
// IEEE-754 bits; sequences are a u32 count then the elements; std::array has no prefix.
// A top-level decode must consume every byte: trailing bytes are an error.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <learnchain/chain/result.hpp>

#include <cereal/cereal.hpp>

namespace learnchain::chain {

// Thrown only inside decoding; decode() turns it into an Error at the boundary.
class DecodeFailure : public std::exception {
public:
    explicit DecodeFailure(Error error) : error_(std::move(error)) {}
    [[nodiscard]] const char* what() const noexcept override { return error_.reason.c_str(); }
    [[nodiscard]] const Error& error() const { return error_; }

private:
    Error error_;
};

class EncodeWriter : public cereal::OutputArchive<EncodeWriter, cereal::AllowEmptyClassElision> {
public:
    explicit EncodeWriter(std::vector<std::uint8_t>& out) : OutputArchive(this), out_(out) {}

    void write_bytes(const void* data, std::size_t size) {
        if (size == 0) return;
        // resize + memcpy rather than insert: GCC 12 warns falsely (-Wstringop-overflow) on
        // vector::insert of a raw byte range.
        const std::size_t offset = out_.size();
        out_.resize(offset + size);
        std::memcpy(out_.data() + offset, data, size);
    }

private:
    std::vector<std::uint8_t>& out_;
};

class DecodeReader : public cereal::InputArchive<DecodeReader, cereal::AllowEmptyClassElision> {
public:
    explicit DecodeReader(std::span<const std::uint8_t> input)
        : InputArchive(this), input_(input) {}

    void read_bytes(void* out, std::size_t size) {
        if (size > remaining())
            throw DecodeFailure(make_error(ErrorKind::malformed, "decode-truncated",
                                           "needed " + std::to_string(size) + " bytes, " +
                                               std::to_string(remaining()) + " remain"));
        if (size == 0) return;  // empty input may have a null data(); memcpy forbids that
        std::memcpy(out, input_.data() + offset_, size);
        offset_ += size;
    }

    // Reads a u32 count and proves that `count` elements of at least `min_element_size`
    // encoded bytes each fit in what remains, before the caller allocates anything.
    std::uint32_t read_count(std::size_t min_element_size) {
        std::array<std::uint8_t, 4> raw{};
        read_bytes(raw.data(), raw.size());
        const std::uint32_t count = std::uint32_t{raw[0]} | std::uint32_t{raw[1]} << 8 |
                                    std::uint32_t{raw[2]} << 16 | std::uint32_t{raw[3]} << 24;
        if (static_cast<std::uint64_t>(count) * min_element_size > remaining())
            throw DecodeFailure(
                make_error(ErrorKind::malformed, "decode-length-exceeds-input",
                           "length prefix claims " + std::to_string(count) +
                               " elements of >= " + std::to_string(min_element_size) +
                               " bytes, only " + std::to_string(remaining()) + " bytes remain"));
        return count;
    }

    [[nodiscard]] std::size_t remaining() const { return input_.size() - offset_; }
    [[nodiscard]] std::size_t offset() const { return offset_; }

private:
    std::span<const std::uint8_t> input_;
    std::size_t offset_ = 0;
};

namespace encoding_detail {
template <class T>
inline constexpr bool is_byte_like = std::is_same_v<T, std::uint8_t> || std::is_same_v<T, char>;

template <class T>
void write_le(EncodeWriter& ar, T value) {
    using U = std::make_unsigned_t<T>;
    auto u = static_cast<U>(value);
    std::array<std::uint8_t, sizeof(T)> raw{};
    for (std::size_t i = 0; i < sizeof(T); ++i) raw[i] = static_cast<std::uint8_t>(u >> (8 * i));
    ar.write_bytes(raw.data(), raw.size());
}

template <class T>
T read_le(DecodeReader& ar) {
    using U = std::make_unsigned_t<T>;
    std::array<std::uint8_t, sizeof(T)> raw{};
    ar.read_bytes(raw.data(), raw.size());
    U u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) u |= static_cast<U>(U{raw[i]} << (8 * i));
    return static_cast<T>(u);
}

inline void write_count(EncodeWriter& ar, std::size_t count) {
    if (count > UINT32_MAX) throw std::length_error("sequence too long to encode");
    write_le<std::uint32_t>(ar, static_cast<std::uint32_t>(count));
}
}  // namespace encoding_detail

// --- integers, bool, floats -------------------------------------------------------------

template <class T>
requires std::is_integral_v<T> &&
    (!std::is_same_v<T, bool>)void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const T& value) {
    encoding_detail::write_le<T>(ar, value);
}
template <class T>
requires std::is_integral_v<T> &&
    (!std::is_same_v<T, bool>)void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, T& value) {
    value = encoding_detail::read_le<T>(ar);
}

inline void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const bool& value) {
    encoding_detail::write_le<std::uint8_t>(ar, value ? 1 : 0);
}
inline void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, bool& value) {
    const auto byte = encoding_detail::read_le<std::uint8_t>(ar);
    if (byte > 1)
        throw DecodeFailure(
            make_error(ErrorKind::malformed, "decode-bad-bool", "bool byte is not 0 or 1"));
    value = byte == 1;
}

inline void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const float& value) {
    encoding_detail::write_le<std::uint32_t>(ar, std::bit_cast<std::uint32_t>(value));
}
inline void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, float& value) {
    value = std::bit_cast<float>(encoding_detail::read_le<std::uint32_t>(ar));
}
inline void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const double& value) {
    encoding_detail::write_le<std::uint64_t>(ar, std::bit_cast<std::uint64_t>(value));
}
inline void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, double& value) {
    value = std::bit_cast<double>(encoding_detail::read_le<std::uint64_t>(ar));
}

// --- bulk binary32 ----------------------------------------------------------------------
// Arrays of floats without a count prefix (gradient blobs, model state, weight hashes): each
// value as its IEEE-754 binary32 bits in 4 little-endian bytes, the same bytes as the per-value
// rule above. A memcpy on little-endian machines.

// Writes `values` into `out`, which must hold exactly 4 * values.size() bytes.
inline void write_f32_le(std::span<const float> values, std::span<std::uint8_t> out) {
    if constexpr (std::endian::native == std::endian::little) {
        if (!values.empty()) std::memcpy(out.data(), values.data(), values.size() * 4);
    } else {
        for (std::size_t i = 0; i < values.size(); ++i) {
            const auto bits = std::bit_cast<std::uint32_t>(values[i]);
            for (std::size_t b = 0; b < 4; ++b)
                out[4 * i + b] = static_cast<std::uint8_t>(bits >> (8 * b));
        }
    }
}

// Reads out.size() values from `in`, which must hold exactly 4 * out.size() bytes.
inline void read_f32_le(std::span<const std::uint8_t> in, std::span<float> out) {
    if constexpr (std::endian::native == std::endian::little) {
        if (!out.empty()) std::memcpy(out.data(), in.data(), out.size() * 4);
    } else {
        for (std::size_t i = 0; i < out.size(); ++i) {
            std::uint32_t bits = 0;
            for (std::size_t b = 0; b < 4; ++b) bits |= std::uint32_t{in[4 * i + b]} << (8 * b);
            out[i] = std::bit_cast<float>(bits);
        }
    }
}

inline void append_f32_le(std::vector<std::uint8_t>& out, std::span<const float> values) {
    const std::size_t at = out.size();
    out.resize(at + values.size() * 4);
    write_f32_le(values, std::span(out).subspan(at));
}

[[nodiscard]] inline std::vector<std::uint8_t> encode_f32_le(std::span<const float> values) {
    std::vector<std::uint8_t> out;
    append_f32_le(out, values);
    return out;
}

// Enums need no rule of their own: cereal/types/common.hpp (included by cereal.hpp) encodes
// them as their underlying integer.

// --- fixed arrays: no length prefix ------------------------------------------------------

template <class T, std::size_t N>
void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const std::array<T, N>& values) {
    if constexpr (encoding_detail::is_byte_like<T>) {
        ar.write_bytes(values.data(), N);
    } else {
        for (const auto& v : values) ar(v);
    }
}
template <class T, std::size_t N>
void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, std::array<T, N>& values) {
    if constexpr (encoding_detail::is_byte_like<T>) {
        ar.read_bytes(values.data(), N);
    } else {
        for (auto& v : values) ar(v);
    }
}

// --- sequences: u32 count, bounded by the remaining input --------------------------------

template <class T, class A>
void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const std::vector<T, A>& values) {
    encoding_detail::write_count(ar, values.size());
    if constexpr (encoding_detail::is_byte_like<T>) {
        ar.write_bytes(values.data(), values.size());
    } else {
        for (const auto& v : values) ar(v);
    }
}
template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, std::vector<T, A>& values) {
    if constexpr (std::is_arithmetic_v<T>) {
        // Fixed-size elements: the count times their size must fit, so resize is bounded.
        const auto count = ar.read_count(std::is_same_v<T, bool> ? 1 : sizeof(T));
        values.resize(count);
        if constexpr (encoding_detail::is_byte_like<T>) {
            ar.read_bytes(values.data(), count);
        } else {
            for (auto& v : values) ar(v);
        }
    } else {
        // Composite elements encode to at least one byte; growing one element at a time
        // keeps memory proportional to what was actually decoded.
        const auto count = ar.read_count(1);
        values.clear();
        for (std::uint32_t i = 0; i < count; ++i) {
            T element{};
            ar(element);
            values.push_back(std::move(element));
        }
    }
}

inline void CEREAL_SAVE_FUNCTION_NAME(EncodeWriter& ar, const std::string& value) {
    encoding_detail::write_count(ar, value.size());
    ar.write_bytes(value.data(), value.size());
}
inline void CEREAL_LOAD_FUNCTION_NAME(DecodeReader& ar, std::string& value) {
    const auto count = ar.read_count(1);
    value.resize(count);
    ar.read_bytes(value.data(), count);
}

// --- cereal plumbing: names are not encoded, size tags are plain counts ---------------------

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(EncodeWriter& ar, cereal::NameValuePair<T>& nvp) {
    ar(nvp.value);
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(DecodeReader& ar, cereal::NameValuePair<T>& nvp) {
    ar(nvp.value);
}

// --- entry points -------------------------------------------------------------------------

template <class T>
[[nodiscard]] std::vector<std::uint8_t> encode(const T& value) {
    std::vector<std::uint8_t> out;
    EncodeWriter writer(out);
    writer(value);
    return out;
}

// Appends the encoding of `value` to `out` (for hashing several objects into one buffer).
template <class T>
void encode_append(std::vector<std::uint8_t>& out, const T& value) {
    EncodeWriter writer(out);
    writer(value);
}

// Decodes exactly one T from all of `input`; trailing bytes are rejected.
template <class T>
[[nodiscard]] Result<T> decode(std::span<const std::uint8_t> input) {
    try {
        DecodeReader reader(input);
        T value{};
        reader(value);
        if (reader.remaining() != 0)
            return make_error(ErrorKind::malformed, "decode-trailing-bytes",
                              std::to_string(reader.remaining()) + " bytes after the object");
        return value;
    } catch (const DecodeFailure& failure) {
        return failure.error();
    } catch (const std::bad_alloc&) {
        return make_error(ErrorKind::malformed, "decode-out-of-memory");
    }
}

}  // namespace learnchain::chain

CEREAL_SETUP_ARCHIVE_TRAITS(learnchain::chain::DecodeReader, learnchain::chain::EncodeWriter)
