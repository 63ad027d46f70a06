// Locks the compiler can check: a mutex and scoped locks annotated for Clang's thread-safety
// analysis (-Wthread-safety, on in the clang build), as Bitcoin Core's sync.h. A member guarded
// by a mutex is declared GUARDED_BY(mutex) (PT_GUARDED_BY for what a pointer points to), a
// function that needs a lock held REQUIRES(mutex), one that takes it itself EXCLUDES(mutex);
// the analysis then rejects code that touches guarded state without the lock. Other compilers
// see plain std::mutex code.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define LEARNCHAIN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LEARNCHAIN_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) LEARNCHAIN_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY LEARNCHAIN_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) LEARNCHAIN_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) LEARNCHAIN_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) LEARNCHAIN_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) LEARNCHAIN_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) LEARNCHAIN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) LEARNCHAIN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) LEARNCHAIN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) LEARNCHAIN_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) LEARNCHAIN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) LEARNCHAIN_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) LEARNCHAIN_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS LEARNCHAIN_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace learnchain {

class CAPABILITY("mutex") Mutex {
public:
    void lock() ACQUIRE() { mutex_.lock(); }
    void unlock() RELEASE() { mutex_.unlock(); }
    [[nodiscard]] bool try_lock() TRY_ACQUIRE(true) { return mutex_.try_lock(); }

private:
    std::mutex mutex_;
};

// Holds `mutex` for its scope; also what a condition variable waits with.
class SCOPED_CAPABILITY UniqueLock {
public:
    explicit UniqueLock(Mutex& mutex) ACQUIRE(mutex) : lock_(mutex) {}
    ~UniqueLock() RELEASE() = default;
    UniqueLock(const UniqueLock&) = delete;
    UniqueLock& operator=(const UniqueLock&) = delete;

    // Releases the mutex for the caller's wait and takes it back (condition_variable_any).
    void unlock() RELEASE() { lock_.unlock(); }
    void lock() ACQUIRE() { lock_.lock(); }

private:
    std::unique_lock<Mutex> lock_;
};

// Waits on `cv` until `done()` (re-checked under the lock), as std::condition_variable::wait.
// `done` runs with the lock held; annotate it REQUIRES(mutex).
template <class Done>
void wait_until(std::condition_variable_any& cv, UniqueLock& lock,
                Done&& done) NO_THREAD_SAFETY_ANALYSIS {
    while (!done()) cv.wait(lock);
}

}  // namespace learnchain

#define LEARNCHAIN_CONCAT_(a, b) a##b
#define LEARNCHAIN_CONCAT(a, b) LEARNCHAIN_CONCAT_(a, b)
// LOCK(mutex): holds `mutex` until the end of the enclosing scope.
#define LOCK(mutex) ::learnchain::UniqueLock LEARNCHAIN_CONCAT(lock_, __COUNTER__)(mutex)
