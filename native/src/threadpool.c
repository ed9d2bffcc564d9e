/*
 * A small persistent thread pool for sofar_parallel_for (native builds: pthreads; the threaded WebAssembly
 * build: workers that JavaScript starts, each running sofar_wasm_worker; serial in the single-threaded
 * WebAssembly build or with SOFAR_NO_THREADS).
 *
 * A job's tasks are cut into one contiguous range per thread, and each range into a few chunks that halve in
 * size (1/2, 1/4, 1/8, 1/8 of it). Each thread claims the chunks of its own range from the front, largest
 * first; a thread with none left takes what is left of the others' from the back, smallest first (from
 * atomic words, so a worker that is slow to wake, or slowed by another tenant of a shared machine, only
 * means the others take more chunks, and the last chunks, small, leave little for one thread to wait on).
 * The same thread thus computes the same pixels layer after layer, and finds the maps it wrote for them
 * still in its core's cache (4-8 % faster whole models at 2 threads than one shared queue).
 * Which thread runs a chunk never changes a result: tasks are independent and each output is computed by
 * exactly one task; the thread's index only picks its scratch slot. Workers spin briefly after each job
 * (kernel calls come in quick succession during an inference), then sleep on a condition variable. A
 * second caller arriving while the pool is busy (another thread using the kernels) runs its job serially.
 *
 * The work word: generation (24 bits) | parts (8: threads allowed to join) | chunks (16) | 0 (16); a range
 * word: generation | 0 | the range's end chunk | its next chunk (the owner moves next up, a thief end
 * down). A claim is a compare-and-swap on a range
 * word that checks the generation, so a worker that wakes late can never claim (or run) a chunk of a job
 * other than the one the words describe; the job's fields and range words, written before the work word
 * was published (release), are read after loading it (acquire), and stay valid until the caller has seen
 * every chunk done.
 */
#include "internal.h"

static int n_threads = 1;

#if (defined(__wasm__) && defined(__wasm_atomics__)) || !(defined(__wasm__) || defined(SOFAR_NO_THREADS))

/* What both threaded pools share: the job, its work word, and how a thread claims and runs its chunks. */

#define CHUNKS_PER_THREAD 4

#define W_GEN(w) ((uint32_t)((w) >> 40))
#define W_PARTS(w) ((unsigned)(((w) >> 32) & 0xff))
#define W_CHUNKS(w) ((unsigned)(((w) >> 16) & 0xffff))
#define W_NEXT(w) ((unsigned)((w)&0xffff))
#define W_MAKE(gen, parts, chunks) (((uint64_t)(gen) << 40) | ((uint64_t)(parts) << 32) | ((uint64_t)(chunks) << 16))

static struct {
  uint64_t work; /* atomic: the work word */
  /* the job, written by the caller before it publishes the work word */
  sofar_task_fn fn;
  void *ctx;
  size_t ntasks;
  size_t parts, per;                      /* threads the tasks are split between; chunks in each one's range */
  uint32_t done;                          /* atomic: chunks finished */
  uint32_t generation;                    /* caller only */
  uint32_t chunks_run[SOFAR_MAX_THREADS]; /* atomic: chunks each thread index has run (a statistic) */
  /* the chunks cut into one range per part: generation | 0 | the range's end | its next chunk */
  uint64_t range_work[SOFAR_MAX_THREADS]; /* atomic */
} job;

/*
 * Claims the next chunk of job `gen` for thread `index`; returns 0 when there is none for it. Thread t
 * takes the chunks of its own range first, from the front (range t: the same pixels layer after layer, so
 * what it wrote stays in its core's cache for the next layer's reads), then what is left of the others',
 * from the back.
 */
static int claim(uint32_t gen, int index, unsigned *chunk) {
  const uint64_t w = __atomic_load_n(&job.work, __ATOMIC_ACQUIRE);
  if (W_GEN(w) != gen || (unsigned)index >= W_PARTS(w)) return 0;
  const unsigned ranges = W_PARTS(w);
  for (unsigned k = 0; k < ranges; k++) {
    uint64_t *rw = &job.range_work[((unsigned)index + k) % ranges];
    uint64_t r = __atomic_load_n(rw, __ATOMIC_ACQUIRE);
    while (W_GEN(r) == gen && W_NEXT(r) < W_CHUNKS(r)) {
      /* the owner's next chunk, or a thief's: the range's last (its end moved down by one) */
      const uint64_t taken = k == 0 ? r + 1 : r - ((uint64_t)1 << 16);
      if (__atomic_compare_exchange_n(rw, &r, taken, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        *chunk = k == 0 ? W_NEXT(r) : W_CHUNKS(r) - 1;
        return 1;
      }
    }
  }
  return 0;
}

/* Chunks thread `index` (0: the caller) has run since the module started (wraps at 2^32): who did the work. */
uint32_t sofar_chunks_run(int index) {
  if (index < 0 || index >= SOFAR_MAX_THREADS) return 0;
  return __atomic_load_n(&job.chunks_run[index], __ATOMIC_RELAXED);
}

/* Chunk c's tasks: the j-th of its range's `per` chunks, which halve in size (the last two equal). */
static void chunk_tasks(unsigned c, size_t *begin, size_t *end) {
  const size_t r = c / job.per, j = c % job.per;
  const size_t first = job.ntasks * r / job.parts, len = job.ntasks * (r + 1) / job.parts - first;
  *begin = first + len - (len >> j);
  *end = j + 1 == job.per ? first + len : first + len - (len >> (j + 1));
}

static void run_chunks(uint32_t gen, int index) {
  unsigned c;
  while (claim(gen, index, &c)) {
    size_t begin, end;
    chunk_tasks(c, &begin, &end);
    if (begin < end) job.fn(job.ctx, begin, end, index);
    __atomic_fetch_add(&job.chunks_run[index], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&job.done, 1, __ATOMIC_RELEASE);
  }
}

/*
 * Whether job `gen` still has chunks not done (another thread's, once this one has none left to claim). A
 * worker out of chunks waits for them, awake, before its idle spin starts: a long step's tail (the stem's last
 * chunk, up to a few hundred us) would otherwise use up the spin, and the next step, posted a moment later,
 * would wait for the worker to wake (20-40 us on a 2-vCPU VM: native/bench/bench.c pool).
 */
static int job_running(uint32_t gen) {
  const uint64_t w = __atomic_load_n(&job.work, __ATOMIC_ACQUIRE);
  return W_GEN(w) == gen && __atomic_load_n(&job.done, __ATOMIC_ACQUIRE) < W_CHUNKS(w);
}

/*
 * Writes a job for up to `threads` threads and returns the work word that publishes it (the caller
 * stores it with release, wakes the workers, runs chunks itself and waits until `job.done` reaches
 * W_CHUNKS of the word). parts <= ntasks keeps slot indices below sofar_slots(ntasks).
 */
static uint64_t post_job(size_t ntasks, sofar_task_fn fn, void *ctx, int threads) {
  const size_t parts = sofar_min((size_t)threads, ntasks);
  /* chunks a range: at most CHUNKS_PER_THREAD, none empty (the smallest range has 2^(per-1) tasks or more) */
  size_t per = 1;
  while (per < CHUNKS_PER_THREAD && (ntasks / parts) >> per) per++;
  const size_t chunks = parts * per;
  job.fn = fn;
  job.ctx = ctx;
  job.ntasks = ntasks;
  job.parts = parts;
  job.per = per;
  __atomic_store_n(&job.done, 0, __ATOMIC_RELAXED);
  job.generation = (job.generation + 1) & 0xffffff;
  for (size_t r = 0; r < parts; r++) /* published with the work word (release) */
    __atomic_store_n(&job.range_work[r], W_MAKE(job.generation, 0, (r + 1) * per) | (r * per), __ATOMIC_RELAXED);
  return W_MAKE(job.generation, parts, chunks);
}

#endif

#if defined(__wasm__) && defined(__wasm_atomics__)

/*
 * The threaded WebAssembly build (linear memory shared by every instance). JavaScript instantiates the
 * module once per worker on the same memory, sets each worker instance's __stack_pointer to
 * sofar_wasm_worker_stack(index) and calls sofar_wasm_worker(index) there, which returns only when
 * sofar_wasm_worker_quit(index) is called. The calling thread (a browser's main thread may not block)
 * spins until its job is done; idle workers spin briefly, then sleep in memory.atomic.wait32 on `seq`.
 * Workers that have not started yet (or never do) cost nothing but their share: the caller claims every
 * chunk nobody else takes, with the same work word as the pthreads pool.
 */
#define SPIN_ROUNDS 20000
#define WORKER_STACK (256 * 1024)


static struct {
  uint32_t seq;     /* atomic: bumped on every job and quit request; what sleeping workers wait on */
  uint32_t sleepers; /* atomic: workers in (or about to enter) atomic.wait */
  uint32_t busy;    /* atomic: a parallel_for is running (a second, nested or concurrent, runs serially) */
  uint32_t quit[SOFAR_MAX_THREADS]; /* atomic */
} pool;

static _Alignas(16) unsigned char worker_stacks[SOFAR_MAX_THREADS - 1][WORKER_STACK];

/**
 * Prepares worker `index` (1 <= index < 16) before JavaScript starts it: clears a quit request left from
 * an earlier worker of that index, and returns the top of its stack (0 for an invalid index).
 */
__attribute__((export_name("sofar_wasm_worker_stack"))) uintptr_t sofar_wasm_worker_stack(int index) {
  if (index < 1 || index >= SOFAR_MAX_THREADS) return 0;
  __atomic_store_n(&pool.quit[index], 0, __ATOMIC_SEQ_CST);
  return (uintptr_t)worker_stacks[index - 1] + WORKER_STACK;
}

/** Chunks thread `index` (0: the caller) has run since the module started (wraps at 2^32): who did the work. */
__attribute__((export_name("sofar_wasm_chunks_run"))) uint32_t sofar_wasm_chunks_run(int index) {
  return sofar_chunks_run(index);
}

/** Asks worker `index` to return from sofar_wasm_worker (it finishes the chunk it is running first). */
__attribute__((export_name("sofar_wasm_worker_quit"))) void sofar_wasm_worker_quit(int index) {
  if (index < 1 || index >= SOFAR_MAX_THREADS) return;
  __atomic_store_n(&pool.quit[index], 1, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(&pool.seq, 1, __ATOMIC_SEQ_CST);
  __builtin_wasm_memory_atomic_notify((int *)&pool.seq, (unsigned)-1);
}

/** Worker `index`'s loop (1 <= index < 16); returns after sofar_wasm_worker_quit(index). */
__attribute__((export_name("sofar_wasm_worker"))) void sofar_wasm_worker(int index) {
  if (index < 1 || index >= SOFAR_MAX_THREADS) return;
  for (;;) {
    const uint32_t seq = __atomic_load_n(&pool.seq, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&pool.quit[index], __ATOMIC_SEQ_CST)) return;
    const uint32_t gen = W_GEN(__atomic_load_n(&job.work, __ATOMIC_ACQUIRE));
    run_chunks(gen, index);
    while (job_running(gen)) {}
    int spins = 0;
    while (__atomic_load_n(&pool.seq, __ATOMIC_SEQ_CST) == seq && ++spins < SPIN_ROUNDS) {}
    if (spins < SPIN_ROUNDS) continue;
    __atomic_fetch_add(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&pool.seq, __ATOMIC_SEQ_CST) == seq) __builtin_wasm_memory_atomic_wait32((int *)&pool.seq, (int)seq, -1);
    __atomic_fetch_sub(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
  }
}

void sofar_set_threads(int threads) {
  if (threads < 1) threads = 1;
  if (threads > SOFAR_MAX_THREADS) threads = SOFAR_MAX_THREADS;
  __atomic_store_n(&n_threads, threads, __ATOMIC_SEQ_CST);
}

int sofar_threads(void) { return __atomic_load_n(&n_threads, __ATOMIC_SEQ_CST); }

void sofar_parallel_for(size_t ntasks, sofar_task_fn fn, void *ctx) {
  if (!ntasks) return;
  const int threads = sofar_threads();
  uint32_t idle = 0;
  if (threads <= 1 || ntasks == 1 || !__atomic_compare_exchange_n(&pool.busy, &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    fn(ctx, 0, ntasks, 0);
    return;
  }
  const uint64_t word = post_job(ntasks, fn, ctx, threads);
  __atomic_store_n(&job.work, word, __ATOMIC_RELEASE);
  __atomic_fetch_add(&pool.seq, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&pool.sleepers, __ATOMIC_SEQ_CST)) __builtin_wasm_memory_atomic_notify((int *)&pool.seq, (unsigned)-1);
  run_chunks(W_GEN(word), 0);
  while (__atomic_load_n(&job.done, __ATOMIC_ACQUIRE) != W_CHUNKS(word)) {}
  __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE);
}

#elif defined(__wasm__) || defined(SOFAR_NO_THREADS)

void sofar_set_threads(int threads) { (void)threads; n_threads = 1; }
uint32_t sofar_chunks_run(int index) { (void)index; return 0; }
int sofar_threads(void) { return n_threads; }
void sofar_parallel_for(size_t ntasks, sofar_task_fn fn, void *ctx) {
  if (ntasks) fn(ctx, 0, ntasks, 0);
}

#else

#include <pthread.h>
#include <sched.h>

#if SOFAR_X86
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ROUNDS 4000 /* pause rounds before a worker sleeps or the caller yields: 50-100 us on the AMD hosts, 38 us on
                            the Intel one (a pause 9.4 ns; 16000 rounds there: no faster, native/STATUS.md) */


struct worker {
  pthread_t thread;
  int index;   /* 1.. */
  int running; /* guarded by call_lock */
  int quit;    /* atomic */
  uint32_t start_generation;
};

static struct {
  pthread_mutex_t call_lock; /* one parallel_for (or set_threads) at a time */
  pthread_mutex_t mutex;     /* for sleeping workers */
  pthread_cond_t wake;
  struct worker workers[SOFAR_MAX_THREADS];
} pool = {.call_lock = PTHREAD_MUTEX_INITIALIZER, .mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Waits, awake, for the last chunks of job `gen` (see job_running); yields after SPIN_ROUNDS, as the caller
   does, for a caller descheduled on a busy machine. */
static void wait_job_end(uint32_t gen) {
  for (int spins = 0; job_running(gen);) {
    if (++spins < SPIN_ROUNDS) CPU_RELAX();
    else sched_yield();
  }
}

static void *worker_main(void *arg) {
  struct worker *self = (struct worker *)arg;
  uint32_t seen = self->start_generation;
  for (;;) {
    uint32_t gen;
    int spins = 0;
    while ((gen = W_GEN(__atomic_load_n(&job.work, __ATOMIC_ACQUIRE))) == seen) {
      if (__atomic_load_n(&self->quit, __ATOMIC_ACQUIRE)) return NULL;
      if (++spins < SPIN_ROUNDS) {
        CPU_RELAX();
        continue;
      }
      pthread_mutex_lock(&pool.mutex);
      while (W_GEN(__atomic_load_n(&job.work, __ATOMIC_ACQUIRE)) == seen && !__atomic_load_n(&self->quit, __ATOMIC_ACQUIRE))
        pthread_cond_wait(&pool.wake, &pool.mutex);
      pthread_mutex_unlock(&pool.mutex);
      spins = 0;
    }
    seen = gen;
    run_chunks(gen, self->index);
    wait_job_end(gen);
  }
}

void sofar_set_threads(int threads) {
  if (threads < 1) threads = 1;
  if (threads > SOFAR_MAX_THREADS) threads = SOFAR_MAX_THREADS;
  pthread_mutex_lock(&pool.call_lock);
  for (int i = threads; i < SOFAR_MAX_THREADS; i++) { /* stop the workers beyond the new count */
    struct worker *wk = &pool.workers[i];
    if (!wk->running) continue;
    pthread_mutex_lock(&pool.mutex);
    __atomic_store_n(&wk->quit, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);
    pthread_join(wk->thread, NULL);
    wk->running = 0;
  }
  int have = 1;
  for (int i = 1; i < threads; i++) { /* start the missing ones */
    struct worker *wk = &pool.workers[i];
    if (!wk->running) {
      wk->index = i;
      wk->quit = 0;
      wk->start_generation = W_GEN(__atomic_load_n(&job.work, __ATOMIC_ACQUIRE));
      if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) break;
      wk->running = 1;
    }
    have = i + 1;
  }
  n_threads = have;
  pthread_mutex_unlock(&pool.call_lock);
}

int sofar_threads(void) { return n_threads; }

void sofar_parallel_for(size_t ntasks, sofar_task_fn fn, void *ctx) {
  if (!ntasks) return;
  if (n_threads <= 1 || ntasks == 1 || pthread_mutex_trylock(&pool.call_lock) != 0) {
    fn(ctx, 0, ntasks, 0);
    return;
  }
  /* n_threads is stable while call_lock is held */
  const uint64_t word = post_job(ntasks, fn, ctx, n_threads);
  pthread_mutex_lock(&pool.mutex);
  __atomic_store_n(&job.work, word, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mutex);
  run_chunks(W_GEN(word), 0);
  int spins = 0;
  while (__atomic_load_n(&job.done, __ATOMIC_ACQUIRE) != W_CHUNKS(word)) {
    if (++spins < SPIN_ROUNDS) CPU_RELAX();
    else sched_yield();
  }
  pthread_mutex_unlock(&pool.call_lock);
}

#endif
