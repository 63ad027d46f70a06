// The project's one convention for results and errors.
//
// A fallible operation returns Result<T> (or Status when there is no value). A failure
// carries a short, stable reason code ("bad-tx-nonce-too-low", "decode-truncated") that
// tests and peers can match on, and a human-readable detail for logs. This mirrors
// Bitcoin Core's ValidationState: the reason is the contract, the detail is for people.
// Hot paths never throw; exceptions stay inside decoders and are converted at their edge.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace learnchain {

struct Error {
    std::string reason;  // stable, kebab-case code
    std::string detail;  // free text for logs and users

    [[nodiscard]] std::string to_string() const {
        return detail.empty() ? reason : reason + ": " + detail;
    }
};

[[nodiscard]] inline Error make_error(std::string reason, std::string detail = {}) {
    return Error{std::move(reason), std::move(detail)};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    [[nodiscard]] T& value() & {
        assert(ok());
        return std::get<0>(state_);
    }
    [[nodiscard]] const T& value() const& {
        assert(ok());
        return std::get<0>(state_);
    }
    [[nodiscard]] T&& value() && {
        assert(ok());
        return std::get<0>(std::move(state_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    [[nodiscard]] const Error& error() const {
        assert(!ok());
        return std::get<1>(state_);
    }

private:
    std::variant<T, Error> state_;
};

// A result with no value: success, or an Error.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error error)
        : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    [[nodiscard]] const Error& error() const {
        assert(!ok_);
        return error_;
    }
    [[nodiscard]] const std::string& reason() const { return error_.reason; }

private:
    Error error_;
    bool ok_ = true;
};

[[nodiscard]] inline Status ok_status() {
    return {};
}

}  // namespace learnchain

// Propagates a failed Status or Result<T> from the enclosing function.
#define LEARNCHAIN_TRY(expr)                                                     \
    do {                                                                         \
        auto&& learnchain_try_result_ = (expr);                                  \
        if (!learnchain_try_result_.ok()) return learnchain_try_result_.error(); \
    } while (0)
