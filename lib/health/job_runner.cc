#include "health/job_runner.hh"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace gslbd::health {

namespace {
constexpr std::chrono::milliseconds kJobMargin{50};
}

struct JobRunner::Shared {
    struct Job {
        std::uint64_t serial;
        std::shared_ptr<const ProbeSpec> spec;
        util::IpAddr addr;
        std::optional<util::IpAddr> source;
        SteadyClock::time_point deadline;
    };
    Work work;
    std::function<void()> wakeup;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> queue;
    std::vector<std::pair<std::uint64_t, JobOutcome>> done;
    bool stop = false;

    void run() {
        for (;;) {
            Job job;
            {
                std::unique_lock lk(mu);
                cv.wait(lk, [this] { return stop || !queue.empty(); });
                if (stop) return;
                job = std::move(queue.front());
                queue.pop_front();
            }
            // the loop has timed it out already: do not start work nobody waits for
            if (SteadyClock::now() >= job.deadline) continue;
            JobOutcome o = work(*job.spec, job.addr, job.source, job.deadline);
            {
                std::lock_guard lk(mu);
                if (stop) return;
                done.emplace_back(job.serial, std::move(o));
                wakeup();  // under the lock: ~JobRunner replaces it under the lock
            }
        }
    }
};

JobRunner::JobRunner(const RunnerContext& ctx, std::string name, std::size_t threads, Work work)
    : shared_(std::make_shared<Shared>()), source_(ctx.source), name_(name), threads_(threads) {
    shared_->work = std::move(work);
    shared_->wakeup = ctx.wakeup;
    name.resize(std::min<std::size_t>(name.size(), 15));  // the kernel's limit
    for (std::size_t i = 0; i < threads; ++i) {
        std::thread t([s = shared_] { s->run(); });
        pthread_setname_np(t.native_handle(), name.c_str());
        t.detach();
    }
}

JobRunner::~JobRunner() {
    {
        std::lock_guard lk(shared_->mu);
        shared_->stop = true;
        shared_->queue.clear();
        // the wakeup may point at a prober that is going away: threads finishing late
        // must not call it
        shared_->wakeup = [] {};
    }
    shared_->cv.notify_all();
}

void JobRunner::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                      const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    const auto now = SteadyClock::now();
    const std::uint64_t serial = next_serial_++;
    pending_.emplace(serial, Pending{token, now});
    deadlines_.emplace(now + timeout, serial);
    {
        std::lock_guard lk(shared_->mu);
        // the job's own deadline comes a little earlier, so that its reason ("query timed
        // out", "script stopped") is back before the loop's plain timeout
        const auto margin = std::min<std::chrono::milliseconds>(timeout / 10, kJobMargin);
        shared_->queue.push_back(Shared::Job{serial, std::move(spec), addr,
                                             source_[addr.family == 4 ? 0 : 1],
                                             now + timeout - margin});
    }
    shared_->cv.notify_one();
}

void JobRunner::process(SteadyClock::time_point now, std::vector<ProbeResult>& out) {
    std::vector<std::pair<std::uint64_t, JobOutcome>> done;
    {
        std::lock_guard lk(shared_->mu);
        done.swap(shared_->done);
    }
    for (auto& [serial, o] : done) {
        auto it = pending_.find(serial);
        if (it == pending_.end()) continue;  // timed out or cancelled
        out.push_back(ProbeResult{
            it->second.token, o.kind, std::move(o.detail),
            std::chrono::duration_cast<std::chrono::microseconds>(now - it->second.start)});
        pending_.erase(it);
    }
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
        const std::uint64_t serial = deadlines_.top().second;
        deadlines_.pop();
        auto it = pending_.find(serial);
        if (it == pending_.end()) continue;
        bool queued = false;
        {
            std::lock_guard lk(shared_->mu);
            for (auto q = shared_->queue.begin(); q != shared_->queue.end(); ++q) {
                if (q->serial != serial) continue;
                shared_->queue.erase(q);
                queued = true;
                break;
            }
        }
        out.push_back(ProbeResult{
            it->second.token, ErrorKind::Timeout,
            queued ? fmt::format("not started within the timeout: all {} {} threads were busy",
                                 threads_, name_)
                   : std::string("no result within the timeout"),
            std::chrono::duration_cast<std::chrono::microseconds>(now - it->second.start)});
        pending_.erase(it);
    }
}

std::optional<SteadyClock::time_point> JobRunner::deadline() const {
    // finished jobs wake the loop through the eventfd; only timeouts need a timer
    while (!deadlines_.empty() && !pending_.count(deadlines_.top().second)) {
        deadlines_.pop();  // drop entries of finished jobs
    }
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.top().first;
}

void JobRunner::cancel_all() {
    pending_.clear();
    deadlines_ = {};
    std::lock_guard lk(shared_->mu);
    shared_->queue.clear();
    shared_->done.clear();
}

}  // namespace gslbd::health
