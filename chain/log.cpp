#include <learnchain/chain/log.hpp>

#include <fmt/format.h>

namespace learnchain::log {

Status set_level(std::string_view level) {
    const auto parsed = spdlog::level::from_str(std::string(level));
    // spdlog maps unknown names to "off"; only accept "off" when it was asked for.
    if (parsed == spdlog::level::off && level != "off")
        return make_error(ErrorKind::malformed, "bad-log-level",
                          fmt::format("unknown log level '{}' (trace, debug, info, warn, error, "
                                      "off)",
                                      level));
    spdlog::set_level(parsed);
    return {};
}

Progress::Progress(std::string what, std::string unit, std::uint64_t total,
                   std::chrono::milliseconds interval)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      interval_(interval),
      start_(std::chrono::steady_clock::now()),
      last_log_(start_) {}

std::string Progress::line(std::uint64_t done, std::string_view extra) const {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    const std::string eta = total_ > 0 && done >= total_ ? std::string("0s")
                            : rate > 0 && total_ > 0
                                ? fmt::format("{:.0f}s", static_cast<double>(total_ - done) / rate)
                                : std::string("?");
    std::string text = total_ > 0
                           ? fmt::format("{} {}/{} {} ({:.2f} {}/s, ETA {})", what_, done, total_,
                                         unit_, rate, unit_, eta)
                           : fmt::format("{} {} {} ({:.2f} {}/s)", what_, done, unit_, rate, unit_);
    if (!extra.empty()) text += fmt::format(" {}", extra);
    return text;
}

void Progress::update(std::uint64_t done, std::string_view extra) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log_ < interval_ && !(total_ > 0 && done >= total_)) return;
    last_log_ = now;
    spdlog::info("{}", line(done, extra));
}

}  // namespace learnchain::log
