// etcd v3 through its JSON gateway (grpc-gateway): each RPC is a POST of a JSON message to
// /v3/<service>/<method>; keys and values are base64, 64-bit integers are JSON strings,
// fields at their default value are left out. Streams (watch) answer with one JSON object
// per line. Errors of unary calls come back as a non-200 status with {"code", "message"}
// (gRPC status codes), errors inside a stream as {"error": {...}}.
#include "cluster/etcd.hh"

#include <curl/curl.h>

#include <mutex>

#include <nlohmann/json.hpp>

namespace gslbd::cluster::etcd {

namespace {

using json = nlohmann::json;

// gRPC status codes the gateway passes through
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcPermissionDenied = 7;
constexpr int kGrpcOutOfRange = 11;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcUnauthenticated = 16;

void curl_global() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::int64_t i64(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return 0;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (it->is_string()) {
        try {
            return std::stoll(it->get<std::string>());
        } catch (const std::exception&) {
        }
    }
    throw Error(Error::Kind::Protocol, std::string("field '") + field + "' is not an integer");
}

std::int64_t header_revision(const json& j) {
    auto it = j.find("header");
    return it != j.end() && it->is_object() ? i64(*it, "revision") : 0;
}

KeyValue kv_of(const json& j) {
    KeyValue kv;
    kv.key = base64_decode(j.value("key", ""));
    kv.value = base64_decode(j.value("value", ""));
    kv.create_revision = i64(j, "create_revision");
    kv.mod_revision = i64(j, "mod_revision");
    kv.lease = i64(j, "lease");
    return kv;
}

Error::Kind kind_of_code(int code, const std::string& message) {
    if (code == kGrpcUnavailable) return Error::Kind::Unavailable;
    if (code == kGrpcUnauthenticated || code == kGrpcPermissionDenied) return Error::Kind::Auth;
    if (code == kGrpcOutOfRange || message.find("compacted") != std::string::npos)
        return Error::Kind::Compacted;
    return Error::Kind::Rejected;
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto& c = reinterpret_cast<unsigned char&>(end.back());
        if (c < 0xff) {
            ++c;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key (etcd's convention for "to the end")
}

std::string base64_encode(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string base64_decode(std::string_view in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    out.reserve(in.size() / 4 * 3);
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        const int v = val(c);
        if (v < 0) throw Error(Error::Kind::Protocol, "bad base64 in an etcd answer");
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

struct Client::Impl {
    Options opts;
    std::size_t current = 0;  ///< endpoint index that answered last
    std::string token;        ///< auth token ("" = none yet)
    CURL* easy = nullptr;     ///< unary calls (keeps its connections between calls)
    CURL* watch_easy = nullptr;

    explicit Impl(Options o) : opts(std::move(o)) {
        curl_global();
        easy = curl_easy_init();
        if (easy == nullptr) throw std::runtime_error("curl_easy_init failed");
    }
    ~Impl() {
        if (easy != nullptr) curl_easy_cleanup(easy);
        if (watch_easy != nullptr) curl_easy_cleanup(watch_easy);
    }

    // Options every request shares: TLS, no proxy, no signals (we run in a thread).
    void common(CURL* h, const std::string& url, curl_slist* headers, const std::string& body) {
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(opts.connect_timeout.count()));
        if (!opts.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opts.ca_file.c_str());
        if (!opts.cert_file.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, opts.cert_file.c_str());
        if (!opts.key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, opts.key_file.c_str());
    }

    curl_slist* headers(bool with_token) const {
        curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        if (with_token && !token.empty())
            h = curl_slist_append(h, ("Authorization: " + token).c_str());
        return h;
    }

    // One POST to one endpoint. Returns the HTTP status, 0 when the transfer failed
    // (connect, timeout), with the curl error in `err`.
    long post_once(const std::string& endpoint, const std::string& path, const std::string& body,
                   std::string& out, std::string& err, bool with_token) {
        curl_easy_reset(easy);
        curl_slist* hdrs = headers(with_token);
        common(easy, endpoint + path, hdrs, body);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout.count()));
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &out);
        const CURLcode rc = curl_easy_perform(easy);
        curl_slist_free_all(hdrs);
        if (rc != CURLE_OK) {
            err = curl_easy_strerror(rc);
            return 0;
        }
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        return status;
    }

    void authenticate(const std::string& endpoint) {
        std::string out, err;
        const json req = {{"name", opts.user}, {"password", opts.password}};
        const long status =
            post_once(endpoint, "/v3/auth/authenticate", req.dump(), out, err, false);
        if (status == 0) throw Error(Error::Kind::Unavailable, endpoint + ": " + err);
        auto j = json::parse(out, nullptr, false);
        if (status != 200 || j.is_discarded() || !j.contains("token")) {
            std::string msg = j.is_discarded() ? out : j.value("message", out);
            throw Error(status >= 500 ? Error::Kind::Unavailable : Error::Kind::Auth,
                        "etcd authentication as '" + opts.user + "' failed: " + msg);
        }
        token = j["token"].get<std::string>();
    }

    bool auth_enabled() const { return !opts.user.empty(); }

    // A unary RPC with endpoint fail-over and one re-authentication on an expired token.
    json call(const std::string& path, const json& req) {
        const std::string body = req.dump();
        std::string last_error = "no endpoint";
        const std::size_t n = opts.endpoints.size();
        for (std::size_t tried = 0; tried < n; ++tried) {
            const std::size_t idx = (current + tried) % n;
            const std::string& ep = opts.endpoints[idx];
            for (int auth_try = 0; auth_try < 2; ++auth_try) {
                try {
                    if (auth_enabled() && token.empty()) authenticate(ep);
                } catch (const Error& e) {
                    if (e.kind() == Error::Kind::Auth) throw;
                    last_error = e.what();
                    break;  // next endpoint
                }
                std::string out, err;
                const long status = post_once(ep, path, body, out, err, true);
                if (status == 0) {
                    last_error = ep + ": " + err;
                    break;
                }
                auto j = json::parse(out, nullptr, false);
                if (status == 200 && !j.is_discarded() && j.is_object()) {
                    current = idx;
                    return j;
                }
                int code = 0;
                std::string message = out;
                if (!j.is_discarded() && j.is_object()) {
                    // {"code", "message"} or {"error": "..."} or {"error": {"code", "message"}}
                    // (gateway versions differ): never let an odd shape throw a type error
                    const json& e = j.contains("error") && j["error"].is_object() ? j["error"] : j;
                    if (auto c = e.find("code"); c != e.end() && c->is_number_integer())
                        code = c->get<int>();
                    if (auto m = e.find("message"); m != e.end() && m->is_string())
                        message = m->get<std::string>();
                    else if (auto m2 = j.find("error"); m2 != j.end())
                        message = m2->is_string() ? m2->get<std::string>() : m2->dump();
                }
                const auto kind = kind_of_code(code, message);
                if (kind == Error::Kind::Auth && auth_enabled() && auth_try == 0 &&
                    message.find("token") != std::string::npos) {
                    token.clear();  // expired or from a restarted member: log in again
                    continue;
                }
                if (kind == Error::Kind::Unavailable || status == 503 || status == 502) {
                    last_error = ep + ": " + message;
                    break;
                }
                current = idx;
                if (code == kGrpcNotFound) throw Error(Error::Kind::Rejected, message);
                throw Error(kind, ep + path + ": " + message);
            }
        }
        throw Error(Error::Kind::Unavailable, "etcd unreachable (" + last_error + ")");
    }
};

Client::Client(Options opts) {
    if (opts.endpoints.empty()) throw std::invalid_argument("etcd: no endpoints");
    for (auto& e : opts.endpoints)
        while (!e.empty() && e.back() == '/') e.pop_back();
    impl_ = std::make_unique<Impl>(std::move(opts));
}

Client::~Client() = default;

const std::string& Client::endpoint() const noexcept {
    return impl_->opts.endpoints[impl_->current];
}

std::int64_t Client::lease_grant(std::int64_t ttl_seconds) {
    auto j = impl_->call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}});
    if (j.contains("error") && !j["error"].get<std::string>().empty())
        throw Error(Error::Kind::Rejected, "lease grant: " + j["error"].get<std::string>());
    const std::int64_t id = i64(j, "ID");
    if (id == 0) throw Error(Error::Kind::Protocol, "lease grant answered without an ID");
    return id;
}

std::int64_t Client::lease_keepalive(std::int64_t id) {
    auto j = impl_->call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}});
    auto it = j.find("result");
    if (it == j.end() || !it->is_object()) {
        if (auto e = j.find("error"); e != j.end())
            throw Error(Error::Kind::Unavailable, "lease keepalive: " + e->dump());
        throw Error(Error::Kind::Protocol, "lease keepalive answered without a result");
    }
    return i64(*it, "TTL");
}

void Client::lease_revoke(std::int64_t id) {
    try {
        impl_->call("/v3/lease/revoke", json{{"ID", std::to_string(id)}});
    } catch (const Error& e) {
        if (e.kind() != Error::Kind::Rejected) throw;  // "lease not found" is fine
    }
}

std::int64_t Client::put(std::string_view key, std::string_view value, std::int64_t lease) {
    json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    if (lease != 0) req["lease"] = std::to_string(lease);
    return header_revision(impl_->call("/v3/kv/put", req));
}

std::int64_t Client::del(std::string_view key, bool prefix) {
    json req = {{"key", base64_encode(key)}};
    if (prefix) req["range_end"] = base64_encode(prefix_end(key));
    return header_revision(impl_->call("/v3/kv/deleterange", req));
}

std::int64_t Client::txn(const std::vector<Op>& ops) {
    json success = json::array();
    for (const auto& op : ops) {
        if (op.kind == Op::Kind::Put) {
            json p = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
            if (op.lease != 0) p["lease"] = std::to_string(op.lease);
            success.push_back({{"request_put", p}});
        } else {
            json d = {{"key", base64_encode(op.key)}};
            if (op.kind == Op::Kind::DeletePrefix)
                d["range_end"] = base64_encode(prefix_end(op.key));
            success.push_back({{"request_delete_range", d}});
        }
    }
    return header_revision(impl_->call("/v3/kv/txn", json{{"success", success}}));
}

RangeResult Client::range_prefix(std::string_view prefix, std::int64_t revision, std::size_t page) {
    RangeResult r;
    r.revision = revision;
    std::string from(prefix);
    const std::string end = base64_encode(prefix_end(prefix));
    for (;;) {
        json req = {
            {"key", base64_encode(from)}, {"range_end", end}, {"limit", std::to_string(page)}};
        if (r.revision != 0) req["revision"] = std::to_string(r.revision);
        auto j = impl_->call("/v3/kv/range", req);
        if (r.revision == 0) r.revision = header_revision(j);
        auto it = j.find("kvs");
        if (it != j.end() && it->is_array()) {
            for (const auto& kv : *it) r.kvs.push_back(kv_of(kv));
        }
        if (!j.value("more", false) || r.kvs.empty()) break;
        from = r.kvs.back().key;
        from.push_back('\0');  // the next key after the last one we have
    }
    return r;
}

namespace {

struct WatchState {
    const std::function<bool(const std::vector<WatchEvent>&, std::int64_t)>* on_events;
    const std::function<void(std::int64_t)>* on_created;
    const std::atomic<bool>* stop;
    std::string buf;
    bool created = false;
    bool stopped = false;  // by the callback or the flag
    bool compacted = false;
    bool canceled = false;
    std::string error;  // an error object in the stream
};

// One line of the stream.
void watch_line(WatchState& st, std::string_view line) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    if (auto e = j.find("error"); e != j.end()) {
        st.error = e->is_object() ? e->value("message", e->dump()) : e->dump();
        if (st.error.find("compacted") != std::string::npos) st.compacted = true;
        st.canceled = true;
        return;
    }
    auto rit = j.find("result");
    if (rit == j.end() || !rit->is_object()) return;
    const json& r = *rit;
    const std::int64_t rev = header_revision(r);
    if (r.value("created", false)) {
        st.created = true;
        if (*st.on_created) (*st.on_created)(rev);
    }
    if (i64(r, "compact_revision") != 0) st.compacted = true;
    if (r.value("canceled", false)) {
        st.canceled = true;
        if (st.error.empty()) st.error = r.value("cancel_reason", "canceled");
        return;
    }
    auto evs = r.find("events");
    if (evs == r.end() || !evs->is_array() || evs->empty()) return;
    std::vector<WatchEvent> out;
    out.reserve(evs->size());
    for (const auto& e : *evs) {
        WatchEvent ev;
        ev.type =
            e.value("type", "PUT") == "DELETE" ? WatchEvent::Type::Delete : WatchEvent::Type::Put;
        if (auto kv = e.find("kv"); kv != e.end()) ev.kv = kv_of(*kv);
        out.push_back(std::move(ev));
    }
    if (!(*st.on_events)(out, rev)) st.stopped = true;
}

size_t watch_write(char* data, size_t size, size_t n, void* user) {
    auto& st = *static_cast<WatchState*>(user);
    st.buf.append(data, size * n);
    std::size_t start = 0;
    for (;;) {
        const auto nl = st.buf.find('\n', start);
        if (nl == std::string::npos) break;
        try {
            watch_line(st, std::string_view(st.buf).substr(start, nl - start));
        } catch (const Error&) {
            st.error = "unreadable watch event";
            st.canceled = true;
        }
        start = nl + 1;
        if (st.stopped || st.canceled) return 0;  // abort the transfer
    }
    st.buf.erase(0, start);
    return size * n;
}

int watch_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& st = *static_cast<WatchState*>(user);
    if (st.stop->load(std::memory_order_relaxed)) {
        st.stopped = true;
        return 1;
    }
    return 0;
}

}  // namespace

WatchEnd Client::watch(
    std::string_view prefix, std::int64_t start_revision,
    const std::function<bool(const std::vector<WatchEvent>&, std::int64_t)>& on_events,
    const std::atomic<bool>& stop, const std::function<void(std::int64_t)>& on_created) {
    Impl& im = *impl_;
    json create = {{"key", base64_encode(prefix)},
                   {"range_end", base64_encode(prefix_end(prefix))}};
    if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
    const std::string body = json{{"create_request", create}}.dump();
    if (im.watch_easy == nullptr) im.watch_easy = curl_easy_init();
    CURL* h = im.watch_easy;
    std::string last_error = "no endpoint";
    const std::size_t n = im.opts.endpoints.size();
    for (std::size_t tried = 0; tried < n; ++tried) {
        if (stop.load()) return WatchEnd::Stopped;
        const std::size_t idx = (im.current + tried) % n;
        const std::string& ep = im.opts.endpoints[idx];
        if (im.auth_enabled() && im.token.empty()) {
            try {
                im.authenticate(ep);
            } catch (const Error& e) {
                if (e.kind() == Error::Kind::Auth) throw;
                last_error = e.what();
                continue;
            }
        }
        WatchState st{&on_events, &on_created, &stop, {}, false, false, false, false, {}};
        curl_easy_reset(h);
        curl_slist* hdrs = im.headers(true);
        im.common(h, ep + "/v3/watch", hdrs, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &st);
        // a member that vanishes without a FIN (power, network) is noticed by TCP keepalive
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 2L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 1L);
        const CURLcode rc = curl_easy_perform(h);
        curl_slist_free_all(hdrs);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (st.stopped) return WatchEnd::Stopped;
        if (st.compacted) return WatchEnd::Compacted;
        if (st.created) {
            im.current = idx;
            if (st.canceled && st.error.find("token") != std::string::npos) im.token.clear();
            return WatchEnd::Broken;
        }
        // never registered: try the next member
        if (rc != CURLE_OK) {
            last_error = ep + ": " + curl_easy_strerror(rc);
        } else {
            last_error = ep + ": watch refused (HTTP " + std::to_string(status) + ") " +
                         (st.error.empty() ? st.buf : st.error);
            if (status == 401 || status == 403 ||
                st.error.find("permission denied") != std::string::npos)
                throw Error(Error::Kind::Auth, last_error);
            if (st.error.find("token") != std::string::npos) im.token.clear();
        }
    }
    throw Error(Error::Kind::Unavailable, "etcd watch: no member accepted it (" + last_error + ")");
}

}  // namespace gslbd::cluster::etcd
