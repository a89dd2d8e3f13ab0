#include "ebm/thread_pool.h"

#include <malloc.h>

#include <new>
#include <stdexcept>
#include <system_error>

namespace ebm {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void configure_allocator() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

ThreadPool::ThreadPool(int threads) {
  // A thread that cannot be created (a memory or process limit: ulimit -v, a batch
  // system's cgroup) means fewer workers, not a failure: results do not depend on the
  // thread count. Letting the exception escape would destroy joinable threads parked on
  // wake_ (std::terminate, or a hang in pthread_cond_destroy).
  for (int i = 1; i < threads; ++i) {
    try {
      workers_.emplace_back([this] { worker_loop(); });
    } catch (const std::system_error&) {
      break;
    } catch (const std::bad_alloc&) {
      break;
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::drain() {
  for (;;) {
    const std::size_t i = next_.fetch_add(1);
    if (i >= count_) return;
    // Errors (ebm::Error and the other runtime and logic errors) travel to the caller. An
    // allocation failure (std::bad_alloc) is deliberately not caught: Eigen's
    // DenseStorage::resize frees a matrix's buffer before it allocates the new one, so
    // unwinding from a failed resize would free that buffer a second time (heap corruption,
    // "double free or corruption"). Uncaught, it ends in std::terminate without unwinding;
    // the tools' terminate handler prints the one-line "out of memory" error.
    try {
      (*task_)(i);
    } catch (const std::runtime_error&) {
      record_error();
    } catch (const std::logic_error&) {
      record_error();
    }
  }
}

void ThreadPool::record_error() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_) error_ = std::current_exception();
  next_.store(count_);  // stop handing out tasks
}

void ThreadPool::worker_loop() {
  std::size_t seen_generation = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
      ++active_;
    }
    drain();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --active_;
    }
    done_.notify_all();
  }
}

void ThreadPool::run(std::size_t count, const std::function<void(std::size_t)>& task) {
  if (workers_.empty() || count <= 1) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_.store(0);
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::unique_lock<std::mutex> lock(mutex_);
  // Wait until every task was handed out and every worker that joined has finished.
  done_.wait(lock, [&] { return active_ == 0 && next_.load() >= count_; });
  task_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace ebm
