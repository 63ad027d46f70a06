#include <cerrno>
#include <cstring>
#include <string>

#include <learnchain/chain/file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace learnchain {
namespace {

Error errno_error(std::string_view reason, std::string_view what, const std::filesystem::path& path,
                  int error_number) {
    std::string detail(what);
    detail += " ";
    detail += path.string();
    detail += ": ";
    detail += std::strerror(error_number);
    return make_error(ErrorKind::local, std::string(reason), std::move(detail));
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                         std::string_view reason) {
    const std::filesystem::path dir =
        path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string temp_name = ".";
    temp_name += path.filename().string();
    temp_name += ".tmp.";
    temp_name += std::to_string(::getpid());
    const std::filesystem::path temp = dir / temp_name;
    // O_EXCL after unlink: never write through a link someone planted at the temporary name.
    ::unlink(temp.c_str());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error(reason, "cannot create", temp, errno);
    // The umask can only remove bits; fchmod makes the mode exactly 0600 before any byte lands.
    bool written = ::fchmod(fd, 0600) == 0 && write_all(fd, contents) && ::fsync(fd) == 0;
    int saved = errno;
    if (::close(fd) != 0 && written) {
        written = false;
        saved = errno;
    }
    if (!written) {
        ::unlink(temp.c_str());
        return errno_error(reason, "cannot write", temp, saved);
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        saved = errno;
        ::unlink(temp.c_str());
        return errno_error(reason, "cannot rename onto", path, saved);
    }
    // The rename is durable only once the directory entry is.
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        (void)::fsync(dir_fd);
        ::close(dir_fd);
    }
    return {};
}

}  // namespace learnchain
