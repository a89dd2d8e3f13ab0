// A minimal fixed-size thread pool running "task i of n" jobs.
//
// Determinism: callers split work into tasks whose boundaries do not depend on the
// number of threads, and combine per-task results in task order, so every result is
// bit-identical whatever --threads says.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ebm {

class ThreadPool {
 public:
  // threads <= 1: everything runs on the caller. Workers that cannot be created (memory or
  // process limits) are left out: the pool runs with fewer threads, same results.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for i in [0, count), on the workers and the calling thread; returns when
  // all are done. The first std::runtime_error or std::logic_error (ebm::Error included)
  // thrown by a task is rethrown here. std::bad_alloc is not caught (see drain()): it ends
  // the process through std::terminate, without unwinding.
  void run(std::size_t count, const std::function<void(std::size_t)>& task);

 private:
  void worker_loop();
  void drain();
  void record_error();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)>* task_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::size_t active_ = 0;
  std::size_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

// Size of one unit of work, in candidate columns (rows or examples times the samples per
// row): large enough to amortise a task's set-up, small enough that a task's activations
// (hidden x kTaskColumns floats per layer) stay in cache and that a batch or a chunk splits
// into several tasks. Task boundaries follow from it and from sizes alone, never from the
// thread count.
constexpr int kTaskColumns = 16384;

// Number of hardware threads (at least 1).
int hardware_threads();

// Training and prediction allocate the same large activation blocks over and over;
// serving them from the heap instead of fresh mmap()s avoids a page-fault storm
// (measured: 15-20% of training time spent in the kernel without it). It sets mallopt()
// for the whole process, so it is the program's choice: the library never calls it; the
// ebm tools do at start (run_main in apps/cli_common.cpp), as does the unit-test runner.
// Idempotent.
void configure_allocator();

}  // namespace ebm
