// Fuzz target: the control API's JSON bodies, without HTTP (ctl/api_request.hh), and the
// explain trace for requests that pass (against the fixed topology of topology.hh). Byte 0
// picks the call: 0..3 POST /api/v1/backends/{enable,disable,drain,weight}, 4 explain,
// 5 POST /api/v1/shift. The
// only way to refuse a body is RequestError with a 4xx status; any other exception, a
// crash or a leak is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ctl/api_request.hh"
#include "ctl/explain.hh"
#include "fuzz_common.hh"
#include "topology.hh"

using namespace gslbd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static const char* const verbs[] = {"enable", "disable", "drain", "weight"};
    const unsigned call = data[0] % 6;
    const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const nlohmann::json j = ctl::parse_json_body(body);
        if (call < 4) {
            const ctl::BackendsRequest br = ctl::parse_backends_request(verbs[call], j);
            if (br.selector.record) FUZZ_CHECK(br.selector.record->back() == '.');
            if (call != 3) FUZZ_CHECK(br.weight == 0);
            FUZZ_CHECK(br.weight <= 1000000);
            (void)br.selector.describe();
        } else if (call == 5) {
            const ctl::ShiftParams p = ctl::parse_shift_request(j);
            FUZZ_CHECK(p.share >= 1 && p.share <= 100 && p.step >= 1 && p.step <= 100);
            FUZZ_CHECK(p.interval >= 0.1 && p.interval <= 86400 && p.restore_after >= 0);
            (void)p.selector.describe();
        } else {
            const ctl::ExplainRequest er = ctl::parse_explain_request(j);
            FUZZ_CHECK(!er.name.empty() && er.client.family != 0);
            // As the API thread calls it: not an RCU reader (explain() becomes one).
            const nlohmann::json trace = ctl::explain(fuzz::fixed_snapshot(data[0] / 6), er);
            (void)trace.dump();
        }
    } catch (const ctl::RequestError& e) {
        FUZZ_CHECK(e.status() >= 400 && e.status() < 500);
    }
    return 0;
}
