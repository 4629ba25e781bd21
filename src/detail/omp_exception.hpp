// Exceptions never leave an OpenMP region (CONVENTIONS.md; faiss's omp_capture_exception idiom):
// an exception escaping a parallel region calls std::terminate. The body of each iteration
// that can throw (a LOWDIM_CHECK, an allocation) runs through OmpExceptions::run, which keeps
// the first exception; the other iterations still run (cheaply: they see the flag and return),
// and rethrow() after the region throws it on the calling thread.
#ifndef LOWDIM_DETAIL_OMP_EXCEPTION_HPP
#define LOWDIM_DETAIL_OMP_EXCEPTION_HPP

#include <atomic>
#include <exception>
#include <mutex>

namespace lowdim::detail {

class OmpExceptions {
 public:
  /// Runs fn(); an exception it throws (std::bad_alloc included) is kept, not propagated.
  /// Once one is kept, later calls skip fn.
  template <class Fn>
  void run(Fn&& fn) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      fn();
    } catch (...) {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  /// After the parallel region: throws the kept exception, if any.
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace lowdim::detail

#endif
