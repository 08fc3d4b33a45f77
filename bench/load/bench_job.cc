// The cheapest possible job: a static binary that exits 0. The lateness and throughput
// scenarios run it so the figures measure the scheduler, not the job.
//
// Where the build allows it (KAIROS_BENCH_JOB_NOLIBC), not even the C library starts:
// static glibc reads /proc/self/exe as it starts, and the /proc entries that lookup
// creates cost the parent ~3 µs to drop when it reaps the job (`perf` of kairosd at 1,000
// runs/s: proc_invalidate_siblings_dcache, 5 % of its loop). That cost belongs to the
// job's start-up, not to the scheduler, and a dynamically linked /bin/true does not have it.
#if defined(KAIROS_BENCH_JOB_NOLIBC) && defined(__x86_64__)
extern "C" [[noreturn]] void _start() {
  asm volatile("syscall" : : "a"(231L /* exit_group */), "D"(0L));
  __builtin_unreachable();
}
#elif defined(KAIROS_BENCH_JOB_NOLIBC) && defined(__aarch64__)
extern "C" [[noreturn]] void _start() {
  register long nr asm("x8") = 94;  // exit_group
  register long code asm("x0") = 0;
  asm volatile("svc 0" : : "r"(nr), "r"(code));
  __builtin_unreachable();
}
#else
int main() { return 0; }
#endif
