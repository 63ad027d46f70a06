// The explorer page in a real browser: headless Chromium (Debian's package) loads the page a
// mining node serves on --explorer-port, runs its script against the node's API, and the DOM it
// leaves holds the node's real figures: the loss plot's points are getmodelinfo's losses, the
// held-out plot's its per-block held-out figures, the chain table the node's height, a block's
// page its proposer, a worker's page its balance. The browser logs no console message, and a
// screenshot is kept (explorer.png beside the test). The listener serves only pages: a
// state-changing method is not reachable from it.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <utility>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

constexpr const char* chromium = "/usr/bin/chromium";

// Runs a shell command; its standard output.
std::string run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return out;
    std::array<char, 4096> buffer{};
    while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
        out.append(buffer.data(), n);
    ::pclose(pipe);
    return out;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

class Explorer : public Functional {
protected:
    // The DOM once the page's script has run for `budget_ms` of virtual time; the browser's
    // console messages go to `console`.
    std::string dom(const std::string& url, const std::filesystem::path& console,
                    int budget_ms = 8000) {
        return run(std::string(chromium) +
                   " --headless --no-sandbox --disable-gpu --no-first-run"
                   " --enable-logging=stderr --v=0 --virtual-time-budget=" +
                   std::to_string(budget_ms) + " --dump-dom '" + url + "' 2>>" + console.string());
    }
};

TEST_F(Explorer, TheExplorerShowsTheNodesRealFiguresWithoutErrors) {
    if (!std::filesystem::exists(chromium)) GTEST_SKIP() << "no " << chromium;
    Daemon& a = daemon("a");
    const std::uint16_t port = free_port();
    a.start({"--mine", "--explorer-port=" + std::to_string(port)});
    const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/";
    ASSERT_TRUE(eventually([&] { return a.height() >= 4; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    // A proposal under way when mining stopped may still land: wait for the tip to settle.
    std::string tip = a.tip();
    ASSERT_TRUE(eventually(
        [&] {
            std::this_thread::sleep_for(1500ms);
            const std::string now = a.tip();
            return std::exchange(tip, now) == now;
        },
        30s));

    const std::filesystem::path console = root_ / "console.log";
    const std::string page = dom(base, console);
    ASSERT_NE(page.find("loss-point"), std::string::npos) << page.substr(0, 2000);

    // Every point of the loss plot is a loss the node reports, and every reported loss is
    // plotted; every point of the held-out plot is a figure the node reports for that block.
    const json model = a.must("getmodelinfo", json::array({60}));
    std::map<std::uint64_t, double> reported, reported_held_out;
    for (const auto& entry : model["losses"]) {
        const auto height = entry["height"].get<std::uint64_t>();
        if (entry["loss"].is_number()) reported[height] = entry["loss"].get<double>();
        if (entry.contains("held_out")) reported_held_out[height] = entry["held_out"].get<double>();
    }
    const auto plotted = [&](const std::string& html, const std::string& kind) {
        const std::regex point("class=\"" + kind +
                               R"re(" data-height="(\d+)" data-value="([^"]+)")re");
        std::map<std::uint64_t, double> out;
        for (auto it = std::sregex_iterator(html.begin(), html.end(), point);
             it != std::sregex_iterator(); ++it)
            out[std::stoull((*it)[1].str())] = std::stod((*it)[2].str());
        return out;
    };
    const auto losses = plotted(page, "loss-point");
    ASSERT_EQ(losses.size(), reported.size());
    for (const auto& [height, loss] : reported) {
        ASSERT_TRUE(losses.contains(height)) << "height " << height;
        EXPECT_DOUBLE_EQ(losses.at(height), loss) << "height " << height;
    }
    EXPECT_LT(reported.rbegin()->second, reported.begin()->second) << "the loss falls";
    const auto held_out = plotted(page, "held-out-point");
    ASSERT_FALSE(held_out.empty()) << "the tip's held-out accuracy at least";
    for (const auto& [height, figure] : held_out) {
        ASSERT_TRUE(reported_held_out.contains(height)) << "height " << height;
        EXPECT_DOUBLE_EQ(reported_held_out.at(height), figure) << "height " << height;
    }
    const std::string height_row = "<th>height</th><td>" + std::to_string(a.height()) + "</td>";
    EXPECT_NE(page.find(height_row), std::string::npos);
    EXPECT_EQ(page.find("class=\"error\""), std::string::npos) << "the status line shows an error";
    EXPECT_NE(page.find("12+34=⟶"), std::string::npos) << "a sample from the tip model";

    // A block's page and a worker's page, reached by their links.
    const json block = a.must("getblock", json::array({a.tip(), 1}));
    const std::string block_page = dom(base + "#block=" + a.tip(), console);
    EXPECT_NE(block_page.find("Block " + std::to_string(a.height())), std::string::npos);
    EXPECT_NE(block_page.find(block["proposer"].get<std::string>()), std::string::npos);
    const std::string worker = mining_address(a);
    const json account = a.must("getaccount", json::array({worker}));
    const std::string worker_page = dom(base + "#worker=" + worker, console);
    EXPECT_NE(worker_page.find("<th>immature</th><td>" + account["immature"].get<std::string>()),
              std::string::npos)
        << account.dump();

    // No console message at all: the page logs nothing itself, so any is an error or warning.
    const std::string messages = read_file(console);
    EXPECT_EQ(messages.find("CONSOLE"), std::string::npos) << messages;

    // Kept for people: tests/explorer.png in the build tree.
    const std::filesystem::path shot = std::filesystem::current_path() / "explorer.png";
    run(std::string(chromium) +
        " --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars"
        " --window-size=1280,1100 --virtual-time-budget=8000 --screenshot=" +
        shot.string() + " '" + base + "' 2>/dev/null");
    EXPECT_GT(std::filesystem::file_size(shot), 10'000u);
    std::cout << "  screenshot " << shot.string() << "\n";

    // Only pages: an unlisted method is not found, and JSON-RPC is refused without credentials.
    EXPECT_EQ(run("curl -s -o /dev/null -w '%{http_code}' " + base + "api/stop"), "404");
    EXPECT_EQ(run("curl -s -o /dev/null -w '%{http_code}' -X POST -d "
                  "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stop\"}' " +
                  base),
              "401");
    EXPECT_TRUE(a.call("getblockchaininfo").ok()) << "still up";
    EXPECT_EQ(a.terminate(), 0);
}

}  // namespace
}  // namespace learnchain::functional
