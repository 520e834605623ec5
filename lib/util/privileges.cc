#include "util/privileges.hh"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gslbd::util {

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("dropping privileges: " + what + ": " + std::strerror(errno));
}

}  // namespace

void drop_privileges(const std::string& user, const std::string& group,
                     const std::vector<int>& keep) {
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) fail("no such user '" + user + "'");
    const uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (!group.empty()) {
        errno = 0;
        const struct group* gr = ::getgrnam(group.c_str());
        if (gr == nullptr) fail("no such group '" + group + "'");
        gid = gr->gr_gid;
    }
    if (::geteuid() != 0) {
        if (::geteuid() == uid) return;
        errno = EPERM;
        fail("not started as root, cannot switch to user '" + user + "'");
    }

    std::uint64_t mask = 0;
    for (int c : keep) mask |= std::uint64_t{1} << c;
    // Out of the bounding set first: that needs CAP_SETPCAP, which goes below.
    for (int c = 0; c <= 63; ++c) {
        if ((mask >> c) & 1) continue;
        if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
            fail("PR_CAPBSET_DROP " + std::to_string(c));
    }
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS");
    if (::setgroups(1, &gid) != 0) fail("setgroups");
    if (::setresgid(gid, gid, gid) != 0) fail("setresgid");
    if (::setresuid(uid, uid, uid) != 0) fail("setresuid");
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS");

    __user_cap_header_struct hdr{};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    __user_cap_data_struct data[2]{};
    data[0].effective = data[0].permitted = static_cast<std::uint32_t>(mask);
    data[1].effective = data[1].permitted = static_cast<std::uint32_t>(mask >> 32);
    if (::syscall(SYS_capset, &hdr, data) != 0) fail("capset");
    // Kept capabilities must survive nothing but this process: no exec gains more.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");
}

}  // namespace gslbd::util
