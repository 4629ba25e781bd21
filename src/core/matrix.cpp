#include <lowdim/matrix.hpp>

#include <cmath>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lowdim {

void hint_huge_pages(void* data, std::size_t bytes) noexcept {
#ifdef MADV_HUGEPAGE
  constexpr std::uintptr_t page = 4096;
  if (bytes < (std::size_t{4} << 20)) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

template <class T>
std::optional<NonFinite> find_non_finite(ConstMatrixView<T> m) {
  // Rows are scanned in parallel; the first offending row in order wins.
  std::int64_t first_row = m.rows();
#pragma omp parallel for schedule(static) reduction(min : first_row) if (m.size() > (1 << 16))
  for (std::int64_t i = 0; i < m.rows(); ++i) {
    const T* row = m.row(i);
    bool bad = false;
    for (std::int64_t j = 0; j < m.cols(); ++j) bad |= !std::isfinite(row[j]);
    if (bad && i < first_row) first_row = i;
  }
  if (first_row == m.rows()) return std::nullopt;
  for (std::int64_t j = 0;; ++j)
    if (!std::isfinite(m(first_row, j))) return NonFinite{first_row, j, static_cast<double>(m(first_row, j))};
}

template <class T>
void check_finite(ConstMatrixView<T> m, std::string_view context) {
  if (const auto bad = find_non_finite(m))
    LOWDIM_THROW(invalid_argument, "{}: non-finite value {} at row {}, column {}", context, bad->value, bad->row,
                 bad->col);
}

#define LOWDIM_INSTANTIATE(T)                                                       \
  template LOWDIM_API std::optional<NonFinite> find_non_finite<T>(ConstMatrixView<T>); \
  template LOWDIM_API void check_finite<T>(ConstMatrixView<T>, std::string_view);
LOWDIM_INSTANTIATE(float)
LOWDIM_INSTANTIATE(double)
#undef LOWDIM_INSTANTIATE

}  // namespace lowdim
