// Keystore: round trip, wrong passphrase, tampering, bounds on the recorded KDF parameters,
// file mode 0600 and atomic replacement.
#include <fstream>

#include <learnchain/chain/address.hpp>
#include <learnchain/wallet/history.hpp>
#include <learnchain/wallet/keystore.hpp>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace learnchain::wallet {
namespace {

// Cheap parameters for most tests; one test uses the defaults.
constexpr ScryptParams fast{1 << 10, 8, 1};

class KeystoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("learnchain_keystore_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    static std::string read(const std::filesystem::path& p) {
        std::ifstream in(p);
        return {std::istreambuf_iterator<char>(in), {}};
    }

    std::filesystem::path dir_;
};

TEST_F(KeystoreTest, RoundTripWithDefaultParameters) {
    const auto key = chain::SecretKey::generate();
    auto sealed = seal_key(key, "correct horse");
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ((*sealed)["kdf"]["name"], "scrypt");
    EXPECT_EQ((*sealed)["kdf"]["n"], 32768);
    EXPECT_EQ((*sealed)["kdf"]["r"], 8);
    EXPECT_EQ((*sealed)["kdf"]["p"], 1);
    EXPECT_EQ((*sealed)["cipher"]["name"], "aes-256-gcm");
    EXPECT_EQ((*sealed)["address"], chain::encode_address(key.public_key()));
    // The secret appears nowhere in the file.
    EXPECT_EQ(sealed->dump().find(chain::to_hex(key.bytes())), std::string::npos);
    auto opened = open_key(*sealed, "correct horse");
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    EXPECT_EQ(opened->bytes(), key.bytes());
}

TEST_F(KeystoreTest, WrongPassphraseIsAClearError) {
    const auto key = chain::SecretKey::generate();
    const auto sealed = seal_key(key, "right", fast).value();
    EXPECT_EQ(open_key(sealed, "wrong").error().reason, "wallet-wrong-passphrase");
    EXPECT_EQ(open_key(sealed, "").error().reason, "wallet-wrong-passphrase");
    EXPECT_TRUE(open_key(sealed, "right").ok());
}

TEST_F(KeystoreTest, SealingIsRandomised) {
    const auto key = chain::SecretKey::generate();
    const auto a = seal_key(key, "p", fast).value(), b = seal_key(key, "p", fast).value();
    EXPECT_NE(a["kdf"]["salt"], b["kdf"]["salt"]);
    EXPECT_NE(a["ciphertext"], b["ciphertext"]);
}

TEST_F(KeystoreTest, TamperingIsDetected) {
    const auto key = chain::SecretKey::generate();
    const auto sealed = seal_key(key, "p", fast).value();

    auto flipped = sealed;
    auto ct = flipped["ciphertext"].get<std::string>();
    ct[0] = ct[0] == '0' ? '1' : '0';
    flipped["ciphertext"] = ct;
    EXPECT_EQ(open_key(flipped, "p").error().reason, "wallet-wrong-passphrase");

    auto weaker = sealed;
    weaker["kdf"]["n"] = 512;  // a different KDF gives a different key: the tag fails
    EXPECT_EQ(open_key(weaker, "p").error().reason, "wallet-wrong-passphrase");

    auto moved = sealed;
    moved["address"] = chain::encode_address(chain::SecretKey::generate().public_key());
    EXPECT_EQ(open_key(moved, "p").error().reason, "wallet-keystore-corrupt");
}

TEST_F(KeystoreTest, RecordedParametersAreBounded) {
    const auto sealed = seal_key(chain::SecretKey::generate(), "p", fast).value();
    for (auto [field, value] : {std::pair{"n", std::uint64_t{1} << 21},
                                {"n", 1000},
                                {"r", 0},
                                {"r", 1000},
                                {"p", 0},
                                {"p", 64}}) {
        auto bad = sealed;
        bad["kdf"][field] = value;
        EXPECT_EQ(open_key(bad, "p").error().reason, "wallet-keystore-invalid") << field;
    }
    auto no_tag = sealed;
    no_tag.erase("tag");
    EXPECT_EQ(open_key(no_tag, "p").error().reason, "wallet-keystore-invalid");
    EXPECT_EQ(open_key(json::array(), "p").error().reason, "wallet-keystore-invalid");
    EXPECT_EQ(seal_key(chain::SecretKey::generate(), "p", {1000, 8, 1}).error().reason,
              "wallet-keystore-invalid");
}

TEST_F(KeystoreTest, FileIsCreatedWithMode0600AndNeverOverwritten) {
    const auto path = dir_ / "sub" / "wallet.json";
    const auto key = chain::SecretKey::generate();
    const mode_t old_umask = ::umask(0);  // even a permissive umask gives 0600
    const Status created = create_keystore_file(path, key, "p", fast);
    ::umask(old_umask);
    ASSERT_TRUE(created.ok()) << created.error().to_string();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    ASSERT_EQ(::stat(path.parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700);

    const std::string before = read(path);
    EXPECT_EQ(create_keystore_file(path, chain::SecretKey::generate(), "p", fast).error().reason,
              "wallet-exists");
    EXPECT_EQ(read(path), before);

    auto loaded = load_keystore(path);
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(open_key(*loaded, "p")->bytes(), key.bytes());
    EXPECT_EQ(keystore_address(*loaded).value(), chain::encode_address(key.public_key()));
    EXPECT_EQ(load_keystore(dir_ / "missing.json").error().reason, "wallet-not-found");
}

TEST_F(KeystoreTest, AtomicWriteReplacesWholeFilesAndLeavesNoTemporary) {
    const auto path = dir_ / "file.json";
    {
        std::ofstream(path) << "old contents";
        ::chmod(path.c_str(), 0644);
    }
    struct stat before {};
    ASSERT_EQ(::stat(path.c_str(), &before), 0);
    ASSERT_TRUE(write_file_atomic(path, "new contents").ok());
    EXPECT_EQ(read(path), "new contents");
    struct stat after {};
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    // A new inode renamed into place: a reader holding the old file never sees a mixture.
    EXPECT_NE(before.st_ino, after.st_ino);
    EXPECT_EQ(after.st_mode & 0777, 0600);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
    EXPECT_EQ(entries, 1u);

    // A failed write leaves the old file untouched.
    EXPECT_EQ(write_file_atomic(dir_ / "missing-dir" / "x.json", "data").error().reason,
              "wallet-io-error");
    EXPECT_EQ(read(path), "new contents");
}

// A history entry with the fields these tests look at; no raw transaction or request.
HistoryEntry entry(std::string txid, std::string to, chain::Amount amount, chain::Amount fee,
                   std::uint64_t nonce, std::string memo_kind, std::uint64_t time) {
    HistoryEntry e;
    e.txid = std::move(txid);
    e.to = std::move(to);
    e.amount = amount;
    e.fee = fee;
    e.nonce = nonce;
    e.memo_kind = std::move(memo_kind);
    e.time = time;
    return e;
}

TEST_F(KeystoreTest, HistoryAppends) {
    const auto path = history_path(dir_ / "wallet.json");
    EXPECT_TRUE(load_history(path)->empty());
    ASSERT_TRUE(append_history(path, entry("aa", "lrn1x", 5, 1, 0, "none", 100)).ok());
    ASSERT_TRUE(append_history(path, entry("bb", "lrn1y", 7, 2, 1, "inference", 200)).ok());
    auto entries = load_history(path);
    ASSERT_TRUE(entries.ok());
    ASSERT_EQ(entries->size(), 2u);
    EXPECT_EQ((*entries)[1].txid, "bb");
    EXPECT_EQ((*entries)[1].memo_kind, "inference");
    EXPECT_EQ((*entries)[1].amount, 7u);
    std::ofstream(path) << "{";
    EXPECT_EQ(load_history(path).error().reason, "wallet-history-invalid");
}

}  // namespace
}  // namespace learnchain::wallet
