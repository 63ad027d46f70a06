// The project's one convention for results and errors.
//
// A fallible operation returns Result<T> (or Status when there is no value). A failure
// carries a kind, a short stable reason code ("bad-tx-nonce-too-low", "decode-truncated") and
// a human-readable detail. This mirrors Bitcoin Core's ValidationState: the kind decides what a
// failure costs (whether a block is condemned, whether a peer is scored), the reason is the
// stable contract that tests, RPC callers and logs match on, and the detail is for people.
// Hot paths never throw; exceptions stay inside decoders and are converted at their edge.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace learnchain {

// Who is at fault for a failure. Set where the error is made; code that acts on a failure
// switches over it with no default (as Bitcoin Core's MaybePunishNodeForBlock does over
// BlockValidationResult), so a new kind cannot be forgotten anywhere.
enum class ErrorKind : std::uint8_t {
    invalid,    // breaks a consensus rule: invalid for every node, forever
    fraud,      // breaks a consensus rule that only recomputing claimed work shows (a faked
                // micro-batch): invalid as `invalid` is, but a node that sampled past it relays
                // it in good faith, so its sender is not at fault; a fraud proof shows it
    mutated,    // bytes that do not match what their hash commits to (a body against its
                // header): the sender's fault, never the committed object's
    malformed,  // input that does not decode or parse
    missing,    // needs something this node does not have yet (a parent block)
    conflict,   // fine on its own, not against the current state (a used nonce, a spent balance)
    policy,     // refused by this node's limits or policy, nobody's fault (a full queue, a
                // duplicate, a block ahead of our clock)
    local,      // the node's own failure: I/O, resources, a device, a bug
};

[[nodiscard]] constexpr std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid:
            return "invalid";
        case ErrorKind::fraud:
            return "fraud";
        case ErrorKind::mutated:
            return "mutated";
        case ErrorKind::malformed:
            return "malformed";
        case ErrorKind::missing:
            return "missing";
        case ErrorKind::conflict:
            return "conflict";
        case ErrorKind::policy:
            return "policy";
        case ErrorKind::local:
            return "local";
    }
    return "local";
}

struct Error {
    ErrorKind kind = ErrorKind::local;
    std::string reason;  // stable, kebab-case code
    std::string detail;  // free text for logs and users

    [[nodiscard]] std::string to_string() const {
        return detail.empty() ? reason : reason + ": " + detail;
    }
    // The same failure with `prefix` put before the detail ("work item 3: ...").
    [[nodiscard]] Error prefixed(std::string_view prefix) const {
        return Error{kind, reason, std::string(prefix) + (detail.empty() ? "" : ": " + detail)};
    }
};

[[nodiscard]] inline Error make_error(ErrorKind kind, std::string reason, std::string detail = {}) {
    return Error{kind, std::move(reason), std::move(detail)};
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
    [[nodiscard]] ErrorKind kind() const { return error_.kind; }

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
