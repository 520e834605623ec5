#include "xfr/disk.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "xfr/ixfr.hh"

namespace gslbd::xfr {

namespace {

constexpr char kMagic[8] = {'G', 'S', 'L', 'B', 'X', 'F', 'R', '1'};

std::uint64_t fnv1a(const std::string& s, std::size_t n) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(s[i]);
        h *= 0x100000001b3ull;
    }
    return h;
}

void put(std::string& o, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) o += static_cast<char>((v >> (8 * i)) & 0xff);
}

struct Cursor {
    const std::string& s;
    std::size_t o = 0;
    std::uint64_t get(int bytes) {
        if (o + static_cast<std::size_t>(bytes) > s.size()) throw XfrError("truncated");
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(s[o++]);
        return v;
    }
    std::string take(std::size_t n) {
        if (o + n > s.size()) throw XfrError("truncated");
        std::string r = s.substr(o, n);
        o += n;
        return r;
    }
};

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

std::string copy_path(const std::string& dir, const std::string& zone) {
    std::string name = zone == "." ? "root" : zone.substr(0, zone.size() - 1);
    for (char& c : name)
        if (c == '/' || c == '\\') c = '_';
    return dir + "/" + name + ".xfr";
}

void write_copy(const std::string& dir, const std::string& zone, const zone::Contents& c,
                std::chrono::system_clock::time_point refreshed) {
    std::string o;
    std::size_t size = 64 + zone.size();
    for (const auto& rr : c.rrs) size += rr.owner.size() + rr.rdata.size() + 9;
    o.reserve(size + 8);
    o.append(kMagic, sizeof kMagic);
    put(o, zone.size(), 2);
    o += zone;
    put(o,
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(refreshed.time_since_epoch()).count()),
        8);
    put(o, c.rrs.size(), 8);
    for (const auto& rr : c.rrs) {
        put(o, rr.owner.size(), 1);
        o += rr.owner;
        put(o, rr.type, 2);
        put(o, rr.ttl, 4);
        put(o, rr.rdata.size(), 2);
        o += rr.rdata;
    }
    put(o, fnv1a(o, o.size()), 8);

    ::mkdir(dir.c_str(), 0750);  // the parent must exist; an existing dir is fine
    const std::string path = copy_path(dir, zone);
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) throw XfrError(errno_text("cannot create", tmp));
    std::size_t done = 0;
    while (done < o.size()) {
        const ssize_t w = ::write(fd, o.data() + done, o.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const std::string e = errno_text("cannot write", tmp);
            ::close(fd);
            ::unlink(tmp.c_str());
            throw XfrError(e);
        }
        done += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0) {
        const std::string e = errno_text("cannot sync", tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        throw XfrError(e);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string e = errno_text("cannot rename to", path);
        ::unlink(tmp.c_str());
        throw XfrError(e);
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);  // the rename itself
        ::close(dfd);
    }
}

std::optional<DiskCopy> read_copy(const std::string& dir, const std::string& zone) {
    const std::string path = copy_path(dir, zone);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        throw XfrError(errno_text("cannot read", path));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    try {
        if (s.size() < sizeof kMagic + 8 || std::memcmp(s.data(), kMagic, sizeof kMagic) != 0)
            throw XfrError("not a gslbd zone copy");
        Cursor tail{s, s.size() - 8};
        if (tail.get(8) != fnv1a(s, s.size() - 8)) throw XfrError("checksum mismatch (damaged)");
        Cursor c{s, sizeof kMagic};
        const std::string name = c.take(c.get(2));
        if (name != zone) throw XfrError("it holds zone " + name);
        DiskCopy d;
        d.refreshed = std::chrono::system_clock::time_point(
            std::chrono::seconds(static_cast<std::int64_t>(c.get(8))));
        const std::uint64_t n = c.get(8);
        if (n > (s.size() / 9)) throw XfrError("bad RR count");
        d.zone.rrs.reserve(n);
        for (std::uint64_t i = 0; i < n; ++i) {
            zone::Rr rr;
            rr.owner = c.take(c.get(1));
            rr.type = static_cast<std::uint16_t>(c.get(2));
            rr.ttl = static_cast<std::uint32_t>(c.get(4));
            rr.rdata = c.take(c.get(2));
            if (rr.type == zone::kTypeSOA && d.zone.rrs.empty() &&
                !zone::soa_timers(rr.rdata, d.zone.soa))
                throw XfrError("malformed SOA");
            d.zone.rrs.push_back(std::move(rr));
        }
        if (c.o != s.size() - 8) throw XfrError("trailing bytes");
        if (d.zone.rrs.empty() || d.zone.rrs.front().type != zone::kTypeSOA)
            throw XfrError("no SOA first");
        return d;
    } catch (const XfrError& e) {
        throw XfrError(path + ": " + e.what());
    }
}

}  // namespace gslbd::xfr
