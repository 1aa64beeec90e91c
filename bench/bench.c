/*
 * segops-bench — the libsegops benchmark program. bench/run.sh drives it; each
 * scenario runs in its own process so RSS and CPU figures belong to it alone.
 *
 *   segops-bench enqueue --url U --key K --threads T [--calls N] [--samples S] [--rate R]
 *   segops-bench e2e     --url U --key K --threads T [--events N]
 *   segops-bench slow    --url U --key K --threads T [--seconds S]
 * --in-flight N (any mode but sink) sets max_in_flight (default: the library's).
 *   segops-bench burst   --url U --key K [--events N]
 *   segops-bench props   --url U --key K [--calls N]
 *   segops-bench pacing  --url U --key K --rate R [--seconds S]   (pacing.c)
 *   segops-bench sink    --port-file F
 *
 * --spool DIR (enqueue, e2e, slow, burst, props) gives every client a spool: a
 * fresh sub-directory of DIR each (DIR must exist; the caller removes it).
 * Results are printed as key=value lines on stdout. `sink` is a minimal HTTP
 * server that answers every batch without parsing it, to measure what the
 * client can do when the dev server is the bottleneck.
 */
#include <segops/segops.h>

#include "pacing.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define USER_IDS 1024

/* A realistic event: ~80-byte payload object, short ids. */
static const char EVENT_TYPE[] = "order_placed";
static const char PAYLOAD[] = "{\"order_id\":\"ord-8812734\",\"amount\":42.5,\"currency\":\"EUR\","
                              "\"items\":3,\"gift\":false}";
static char user_ids[USER_IDS][16];

static struct {
    const char *url;
    const char *key;
    int threads;
    long calls;
    long samples;
    long events;
    double seconds;
    const char *port_file;
    long rate;          /* enqueue: calls/s per thread of the paced (steady-state) pass; 0 = none */
    const char *spool;  /* a directory for the clients' spools; NULL = memory only */
    uint32_t in_flight; /* --in-flight: max_in_flight; 0 = the default */
} arg = {NULL, NULL, 1, 1000000, 400000, 1000000, 10.0, NULL, 0, NULL, 0};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Resident set now, in bytes (ru_maxrss only ever grows). */
static long current_rss_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void die(const char *what) __attribute__((noreturn));

static void die(const char *what) {
    fprintf(stderr, "segops-bench: %s\n", what);
    exit(1);
}

static void quiet_errors(const segops_error_info_t *e, void *u) {
    (void)e;
    (void)u;
}

/* ---------------------------------------------------------- dev server stats */

typedef struct server_stats {
    uint64_t events_received;
    uint64_t batch_requests;
    uint64_t max_events_per_request;
    uint64_t bytes_received;
} server_stats_t;

static size_t on_stats_body(char *data, size_t size, size_t nmemb, void *userp) {
    char *buf = userp;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n < 1024) {
        memcpy(buf + have, data, n);
        buf[have + n] = '\0';
    }
    return n;
}

static uint64_t json_u64(const char *json, const char *name) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(json, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static server_stats_t fetch_server_stats(const char *base_url) {
    char url[512], body[1024] = "";
    snprintf(url, sizeof url, "%s/_dev/stats", base_url);
    CURL *h = curl_easy_init();
    if (!h) die("curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stats_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(h) != CURLE_OK) die("GET /_dev/stats failed");
    curl_easy_cleanup(h);
    server_stats_t s = {json_u64(body, "events_received"), json_u64(body, "batch_requests"),
                        json_u64(body, "max_events_per_request"), json_u64(body, "bytes_received")};
    return s;
}

/* ---------------------------------------------------------------- client */

static segops_client_t *make_client(size_t max_queue_events, size_t max_queue_bytes) {
    segops_options_t *o;
    if (segops_options_new(&o) != SEGOPS_OK) die("segops_options_new");
    segops_options_set_api_url(o, arg.url);
    segops_options_set_api_key(o, arg.key);
    segops_options_set_on_error(o, quiet_errors, NULL);
    if (max_queue_events) segops_options_set_max_queue_events(o, max_queue_events);
    if (max_queue_bytes) segops_options_set_max_queue_bytes(o, max_queue_bytes);
    if (arg.in_flight && segops_options_set_max_in_flight(o, arg.in_flight) != SEGOPS_OK)
        die("--in-flight must be 1..16");
    if (arg.spool) {
        /* A spool_dir of its own per client: what one leaves is not the next one's backlog. */
        static int clients;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/client-%d", arg.spool, ++clients);
        if (segops_options_set_spool_dir(o, dir) != SEGOPS_OK) die("segops_options_set_spool_dir");
    }
    segops_client_t *c;
    if (segops_client_new(o, &c) != SEGOPS_OK) die("segops_client_new");
    segops_options_free(o);
    return c;
}

static void print_client_stats(const segops_client_t *cc) {
    segops_stats_t st;
    segops_client_stats((segops_client_t *)cc, &st);
    printf("client_enqueued=%" PRIu64 "\nclient_delivered=%" PRIu64 "\nclient_dropped=%" PRIu64
           "\nrequests=%" PRIu64 "\nbytes_sent=%" PRIu64 "\npending=%" PRIu64
           "\npending_bytes=%" PRIu64 "\nrejected_queue_full=%" PRIu64 "\n",
           st.enqueued, st.delivered, st.dropped, st.requests, st.bytes_sent, st.pending,
           st.pending_bytes, st.rejected_queue_full);
    if (arg.spool)
        printf("spooled=%" PRIu64 "\nspool_write_failures=%" PRIu64 "\n", st.spooled,
               st.spool_write_failures);
}

/* ---------------------------------------------------------------- enqueue */

static segops_client_t *client;
static pthread_barrier_t barrier;
static pthread_mutex_t floor_lock = PTHREAD_MUTEX_INITIALIZER;
static char floor_bytes[256];
static size_t floor_len;
static void *volatile floor_sink;

/* The floor: what any thread-safe queue of copied events must at least pay. */
static inline void floor_op(void) {
    pthread_mutex_lock(&floor_lock);
    char *p = malloc(floor_len);
    if (p) memcpy(p, floor_bytes, floor_len);
    floor_sink = p; /* keeps the compiler from eliding the allocation */
    pthread_mutex_unlock(&floor_lock);
    free(p);
}

static inline void track_op(size_t i) {
    if (segops_track(client, user_ids[i % USER_IDS], EVENT_TYPE, PAYLOAD) != SEGOPS_OK)
        die("segops_track failed during enqueue (queue overflow?)");
}

typedef struct worker_arg {
    int index;
    bool floor;
    long calls;
    long samples;
    int64_t start_ns, end_ns;
    uint32_t *lat;        /* per-call latency samples, ns */
    uint64_t max_pending; /* paced pass: the largest queue seen (thread 0 samples it) */
    long vcsw, ivcsw;     /* paced pass: this thread's context switches while measured */
} worker_arg_t;

static void *enqueue_thread(void *p) {
    worker_arg_t *w = p;
    size_t base = (size_t)w->index * 7919;
    if (arg.rate > 0) {
        /* Steady state, paced like a server handling requests: every 1 ms tick
         * the thread makes rate/1000 calls, then sleeps to the next tick, so
         * the worker and the server run while it sleeps. A late tick does not
         * make the next ones catch up in a burst. */
        long per_tick = arg.rate / 1000 > 0 ? arg.rate / 1000 : 1;
        long warm = per_tick * 200; /* 0.2 s: the connection and the free lists settle */
        struct timespec tick;
        pthread_barrier_wait(&barrier);
        w->start_ns = now_ns();
        clock_gettime(CLOCK_MONOTONIC, &tick);
        struct rusage ru0, ru1;
        for (long i = 0; i < warm + w->samples; i++) {
            if (i == warm) getrusage(RUSAGE_THREAD, &ru0);
            if (i % per_tick == 0) {
                tick.tv_nsec += 1000000;
                if (tick.tv_nsec >= 1000000000) tick.tv_sec++, tick.tv_nsec -= 1000000000;
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec > tick.tv_sec ||
                    (now.tv_sec == tick.tv_sec && now.tv_nsec > tick.tv_nsec))
                    tick = now; /* late: no catching up */
                else
                    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
            }
            int64_t t0 = now_ns();
            w->floor ? floor_op() : track_op(base + i); /* the floor paced the same way */
            int64_t t1 = now_ns();
            if (i >= warm)
                w->lat[i - warm] = (uint32_t)(t1 - t0 < UINT32_MAX ? t1 - t0 : UINT32_MAX);
            if (!w->floor && w->index == 0 && i % 4096 == 0) {
                segops_stats_t st;
                segops_client_stats(client, &st);
                if (st.pending > w->max_pending) w->max_pending = st.pending;
            }
        }
        w->end_ns = now_ns();
        getrusage(RUSAGE_THREAD, &ru1);
        w->vcsw = ru1.ru_nvcsw - ru0.ru_nvcsw;    /* blocked: a lock or a syscall slept */
        w->ivcsw = ru1.ru_nivcsw - ru0.ru_nivcsw; /* preempted by another thread */
        return NULL;
    }
    /* Warm up the code paths and this thread's malloc arena. */
    for (long i = 0; i < 2000; i++) w->floor ? floor_op() : track_op(base + i);
    pthread_barrier_wait(&barrier);
    /* Throughput: no timer inside the loop. */
    w->start_ns = now_ns();
    if (w->floor)
        for (long i = 0; i < w->calls; i++) floor_op();
    else
        for (long i = 0; i < w->calls; i++) track_op(base + i);
    w->end_ns = now_ns();
    pthread_barrier_wait(&barrier);
    /* Latency: one timer pair per call. */
    for (long i = 0; i < w->samples; i++) {
        int64_t t0 = now_ns();
        if (w->floor)
            floor_op();
        else
            track_op(base + i);
        int64_t t1 = now_ns();
        w->lat[i] = (uint32_t)(t1 - t0 < UINT32_MAX ? t1 - t0 : UINT32_MAX);
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *sorted, size_t n, double q) {
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* Median cost of one clock_gettime pair, measured the way the samples are taken. */
static uint32_t timer_overhead_ns(void) {
    enum { N = 200000 };
    static uint32_t d[N];
    for (int i = 0; i < N; i++) {
        int64_t t0 = now_ns();
        int64_t t1 = now_ns();
        d[i] = (uint32_t)(t1 - t0);
    }
    qsort(d, N, sizeof d[0], cmp_u32);
    return pct(d, N, 0.5);
}

/* Runs one measured pass (track or floor) and prints its figures under prefix. */
static void enqueue_pass(bool floor, const char *prefix, uint32_t timer_ns) {
    int t = arg.threads;
    worker_arg_t w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    long per_samples = arg.samples / t;
    pthread_barrier_init(&barrier, NULL, (unsigned)t);
    long faults0 = minor_faults();
    for (int i = 0; i < t; i++) {
        w[i] = (worker_arg_t){i, floor, arg.calls / t, per_samples, 0, 0, NULL, 0, 0, 0};
        w[i].lat = malloc(sizeof(uint32_t) * (size_t)per_samples);
        if (!w[i].lat) die("out of memory");
        pthread_create(&tid[i], NULL, enqueue_thread, &w[i]);
    }
    for (int i = 0; i < t; i++) pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&barrier);
    long faults = minor_faults() - faults0;

    int64_t first = w[0].start_ns, last = w[0].end_ns;
    size_t n = (size_t)per_samples * (size_t)t;
    uint32_t *all = malloc(sizeof(uint32_t) * n);
    if (!all) die("out of memory");
    for (int i = 0; i < t; i++) {
        first = w[i].start_ns < first ? w[i].start_ns : first;
        last = w[i].end_ns > last ? w[i].end_ns : last;
        memcpy(all + (size_t)i * (size_t)per_samples, w[i].lat,
               sizeof(uint32_t) * (size_t)per_samples);
        free(w[i].lat);
    }
    qsort(all, n, sizeof all[0], cmp_u32);
    long calls = (arg.calls / t) * t;
    double secs = (double)(last - first) / 1e9;
    if (arg.rate > 0) { /* paced: the rate is given, the queue is what matters */
        calls = 0;
        secs = 0;
        long vcsw = 0, ivcsw = 0;
        for (int i = 0; i < t; i++) vcsw += w[i].vcsw, ivcsw += w[i].ivcsw;
        printf("%s_rate_per_thread=%ld\n%s_max_pending=%" PRIu64 "\n", prefix, arg.rate, prefix,
               w[0].max_pending);
        printf("%s_voluntary_switches=%ld\n%s_involuntary_switches=%ld\n", prefix, vcsw, prefix,
               ivcsw);
    }
    /* Net = raw minus the median timer pair, clamped at 0. */
    uint32_t p50 = pct(all, n, 0.5), p99 = pct(all, n, 0.99), p999 = pct(all, n, 0.999);
#define NET(x) ((x) > timer_ns ? (x)-timer_ns : 0)
    if (calls > 0) {
        printf("%s_calls_per_s=%.0f\n", prefix, (double)calls / secs);
        printf("%s_mean_ns=%.1f\n", prefix, secs * 1e9 * t / (double)calls);
    }
    /* Page faults (first touch of new heap) are what the tail latencies pay for. */
    printf("%s_faults_per_call=%.3f\n", prefix, (double)faults / (double)(calls + (long)n));
    printf("%s_p50_ns=%u\n%s_p99_ns=%u\n%s_p999_ns=%u\n", prefix, NET(p50), prefix, NET(p99),
           prefix, NET(p999));
    printf("%s_raw_p50_ns=%u\n%s_raw_p99_ns=%u\n%s_raw_p999_ns=%u\n", prefix, p50, prefix, p99,
           prefix, p999);
#undef NET
    free(all);
}

static int run_enqueue(void) {
    uint32_t timer_ns = timer_overhead_ns();
    printf("threads=%d\ntimer_overhead_ns=%u\n", arg.threads, timer_ns);
    int len = snprintf(floor_bytes, sizeof floor_bytes, "%s%s%s", user_ids[0], EVENT_TYPE, PAYLOAD);
    floor_len = (size_t)len;
    printf("floor_bytes=%zu\n", floor_len);
    long rate = arg.rate; /* the unpaced passes first */
    arg.rate = 0;
    enqueue_pass(true, "floor", timer_ns);
    /* A queue that never overflows: the bounds are not what is measured here. */
    client = make_client(10000000, (size_t)4 << 30);
    enqueue_pass(false, "track", timer_ns);
    print_client_stats(client);
    segops_shutdown(client, 0); /* drop the backlog: delivery is not measured here */
    segops_client_free(client);
    if (rate > 0) {
        /* Steady state: the producer is paced below what the worker delivers,
         * so the queue stays short and freed events are reused. A new client,
         * so the burst's backlog is not in the way. */
        arg.rate = rate;
        client = make_client(10000000, (size_t)4 << 30);
        enqueue_pass(false, "steady", timer_ns);
        segops_stats_t st;
        segops_client_stats(client, &st);
        printf("steady_pending_end=%" PRIu64 "\nsteady_enqueued=%" PRIu64 "\n", st.pending,
               st.enqueued);
        segops_shutdown(client, 0);
        segops_client_free(client);
        /* The floor paced the same way: what waking from each tick's sleep costs
         * any code on this machine, whatever it does. */
        enqueue_pass(true, "steady_floor", timer_ns);
    }
    return 0;
}

/* ---------------------------------------------------------------- end to end */

static atomic_long queue_full_retries;
static atomic_bool stop_producers;

typedef struct producer {
    int index;
    long events; /* < 0: until stop_producers */
    long tracked;
} producer_t;

/* Tracks events; a full queue (default bound) makes it back off 200 us and retry. */
static void *producer_thread(void *p) {
    producer_t *pr = p;
    size_t base = (size_t)pr->index * 7919;
    for (long i = 0; pr->events < 0 || i < pr->events; i++) {
        if (atomic_load_explicit(&stop_producers, memory_order_relaxed)) break;
        segops_err_t err;
        while ((err = segops_track(client, user_ids[(base + i) % USER_IDS], EVENT_TYPE, PAYLOAD)) ==
               SEGOPS_E_QUEUE_FULL) {
            atomic_fetch_add_explicit(&queue_full_retries, 1, memory_order_relaxed);
            if (atomic_load_explicit(&stop_producers, memory_order_relaxed)) return NULL;
            sleep_us(200);
        }
        if (err != SEGOPS_OK) die("segops_track failed");
        pr->tracked++;
    }
    return NULL;
}

static void start_producers(producer_t *pr, pthread_t *tid, long per_thread) {
    for (int i = 0; i < arg.threads; i++) {
        pr[i] = (producer_t){i, per_thread, 0};
        pthread_create(&tid[i], NULL, producer_thread, &pr[i]);
    }
}

static int run_e2e(void) {
    producer_t pr[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    long per = arg.events / arg.threads;
    client = make_client(0, 0); /* default options */
    server_stats_t before = fetch_server_stats(arg.url);
    double cpu0 = cpu_seconds();
    int64_t t0 = now_ns();
    start_producers(pr, tid, per);
    for (int i = 0; i < arg.threads; i++) pthread_join(tid[i], NULL);
    int64_t t_tracked = now_ns();
    if (segops_flush(client, 120000) != SEGOPS_OK) die("flush timed out");
    int64_t t1 = now_ns();
    double cpu = cpu_seconds() - cpu0;
    server_stats_t after = fetch_server_stats(arg.url);
    uint64_t delivered = after.events_received - before.events_received;
    double secs = (double)(t1 - t0) / 1e9;
    printf("threads=%d\nevents=%ld\n", arg.threads, per * arg.threads);
    printf("wall_s=%.3f\ntrack_phase_s=%.3f\n", secs, (double)(t_tracked - t0) / 1e9);
    printf("server_delivered=%" PRIu64 "\nevents_per_s=%.0f\n", delivered,
           (double)delivered / secs);
    printf("cpu_s=%.3f\ncpu_ns_per_event=%.0f\n", cpu, cpu * 1e9 / (double)delivered);
    printf("server_requests=%" PRIu64 "\nserver_max_events_per_request=%" PRIu64 "\n",
           after.batch_requests - before.batch_requests, after.max_events_per_request);
    printf("queue_full_retries=%ld\n", atomic_load(&queue_full_retries));
    print_client_stats(client);
    segops_shutdown(client, 10000);
    printf("maxrss_kb=%ld\n", maxrss_kb());
    segops_client_free(client);
    return delivered == (uint64_t)(per * arg.threads) ? 0 : 1;
}

/* ---------------------------------------------------------------- slow server */

static int run_slow(void) {
    producer_t pr[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    client = make_client(0, 0); /* default options */
    start_producers(pr, tid, -1);
    sleep_us(1000000); /* let the backlog form; then measure a steady window */
    server_stats_t a = fetch_server_stats(arg.url);
    int64_t t0 = now_ns();
    sleep_us((long)(arg.seconds * 1e6));
    server_stats_t b = fetch_server_stats(arg.url);
    int64_t t1 = now_ns();
    atomic_store(&stop_producers, true);
    for (int i = 0; i < arg.threads; i++) pthread_join(tid[i], NULL);
    double secs = (double)(t1 - t0) / 1e9;
    uint64_t n = b.events_received - a.events_received;
    uint64_t reqs = b.batch_requests - a.batch_requests;
    printf("threads=%d\nwindow_s=%.3f\nserver_delivered=%" PRIu64 "\nevents_per_s=%.0f\n",
           arg.threads, secs, n, (double)n / secs);
    printf("server_requests=%" PRIu64 "\nevents_per_request=%.1f\n", reqs,
           reqs ? (double)n / (double)reqs : 0.0);
    printf("server_max_events_per_request=%" PRIu64 "\n", b.max_events_per_request);
    print_client_stats(client);
    segops_shutdown(client, 0);
    segops_client_free(client);
    return 0;
}

/* ---------------------------------------------------------------- burst memory */

static int run_burst(void) {
    /* Room for the whole burst: the bound is not what is measured. */
    client = make_client((size_t)arg.events * 2, (size_t)1 << 30);
    long rss0 = current_rss_bytes(), max0 = maxrss_kb();
    int64_t t0 = now_ns();
    for (long i = 0; i < arg.events; i++)
        if (segops_track(client, user_ids[i % USER_IDS], EVENT_TYPE, PAYLOAD) != SEGOPS_OK)
            die("segops_track failed during burst");
    int64_t t1 = now_ns();
    long rss1 = current_rss_bytes(), max1 = maxrss_kb();
    segops_stats_t st;
    segops_client_stats(client, &st);
    size_t own = strlen(user_ids[0]) + strlen(EVENT_TYPE) + strlen(PAYLOAD) +
                 strlen("2024-01-01T00:00:00.000Z");
    double per = (double)(rss1 - rss0) / (double)arg.events;
    double enc = (double)st.pending_bytes / (double)(st.pending ? st.pending : 1);
    printf("events=%ld\ntrack_s=%.3f\n", arg.events, (double)(t1 - t0) / 1e9);
    printf("rss_delta_bytes=%ld\nmaxrss_delta_kb=%ld\n", rss1 - rss0, max1 - max0);
    printf("rss_bytes_per_event=%.1f\n", per);
    printf("pending=%" PRIu64 "\npending_bytes=%" PRIu64 "\nencoded_bytes_per_event=%.1f\n",
           st.pending, st.pending_bytes, enc);
    printf("own_string_bytes=%zu\noverhead_bytes_per_event=%.1f\n", own, per - (double)own);
    segops_shutdown(client, 0);
    segops_client_free(client);
    return 0;
}

/* ---------------------------------------------------------------- props */

/* The same payload two ways, with dynamic values: the builder (typed setters,
 * then segops_track_props, which does not re-validate) against snprintf of the
 * text (then segops_track, which validates it). %.17g gives the same text as the
 * builder for these amounts (checked before timing). The text path does not
 * escape order_id, which a real caller would have to: it is favoured. */
#define PROPS_FORMAT                                                                               \
    "{\"order_id\":\"%s\",\"amount\":%.17g,\"currency\":\"EUR\",\"items\":%ld,\"gift\":%s}"

static char order_ids[USER_IDS][16]; /* the dynamic string, the same both ways */

static double props_amount(long i) { return (double)(i % 100000) + 0.5; }

static int format_text(char *buf, size_t len, long i) {
    return snprintf(buf, len, PROPS_FORMAT, order_ids[i % USER_IDS], props_amount(i), i % 10,
                    i & 1 ? "true" : "false");
}

static void build_props(segops_props_t *p, long i) {
    segops_props_clear(p);
    if (segops_props_set_string(p, "order_id", order_ids[i % USER_IDS]) != SEGOPS_OK ||
        segops_props_set_double(p, "amount", props_amount(i)) != SEGOPS_OK ||
        segops_props_set_string(p, "currency", "EUR") != SEGOPS_OK ||
        segops_props_set_int(p, "items", i % 10) != SEGOPS_OK ||
        segops_props_set_bool(p, "gift", i & 1) != SEGOPS_OK)
        die("segops_props_set_* failed");
}

static volatile size_t props_sink;

/* ns per call of one pass: 0 text+track, 1 builder+track, 2 text only, 3 builder only. */
static double props_pass(int how, segops_props_t *p, long calls) {
    segops_client_t *c = how < 2 ? make_client(10000000, (size_t)4 << 30) : NULL;
    char text[256];
    int64_t t0 = now_ns();
    for (long i = 0; i < calls; i++) {
        const char *user = user_ids[i % USER_IDS];
        if (how == 0 || how == 2) {
            format_text(text, sizeof text, i);
            if (how == 0 && segops_track(c, user, EVENT_TYPE, text) != SEGOPS_OK)
                die("segops_track failed");
            props_sink += (size_t)text[9];
        } else {
            build_props(p, i);
            if (how == 1 && segops_track_props(c, user, EVENT_TYPE, p) != SEGOPS_OK)
                die("segops_track_props failed");
            props_sink += segops_props_json(p, NULL)[9];
        }
    }
    double ns = (double)(now_ns() - t0) / (double)calls;
    if (c) {
        segops_shutdown(c, 0); /* the backlog is not what is measured */
        segops_client_free(c);
    }
    return ns;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_props(void) {
    segops_props_t *p;
    if (segops_props_new(&p) != SEGOPS_OK) die("segops_props_new");
    for (int i = 0; i < USER_IDS; i++)
        snprintf(order_ids[i], sizeof order_ids[i], "ord-%07d", i * 7919);
    char text[256];
    for (long i = 0; i < 100000; i += 7) { /* the same bytes both ways */
        format_text(text, sizeof text, i);
        build_props(p, i);
        if (strcmp(text, segops_props_json(p, NULL)) != 0) die("the two payloads differ");
    }
    printf("props_payload=%s\nprops_payload_bytes=%zu\n", text, strlen(text));
    /* Alternating rounds, medians: both sides see the same machine noise. */
    enum { ROUNDS = 5 };
    double ns[4][ROUNDS];
    long calls = arg.calls;
    for (int r = 0; r < ROUNDS; r++)
        for (int how = 0; how < 4; how++) ns[how][r] = props_pass(how, p, calls);
    const char *names[4] = {"props_text_track_ns", "props_builder_track_ns", "props_text_format_ns",
                            "props_builder_build_ns"};
    double med[4];
    for (int how = 0; how < 4; how++) {
        qsort(ns[how], ROUNDS, sizeof ns[how][0], cmp_double);
        med[how] = ns[how][ROUNDS / 2];
        printf("%s=%.1f\n", names[how], med[how]);
    }
    printf("props_calls=%ld\nprops_rounds=%d\n", calls, ROUNDS);
    printf("props_ratio=%.3f\n", med[1] / med[0]); /* builder / text, < 1: builder faster */
    segops_props_free(p);
    return 0;
}

/* ---------------------------------------------------------------- sink server */

static atomic_ullong sink_events, sink_requests, sink_bytes, sink_max;

/* Reads one HTTP request from fd into *buf; returns the body offset or -1. */
static long read_request(int fd, char **buf, size_t *cap, size_t *len, size_t *body_len) {
    for (;;) {
        char *end = *len ? memmem(*buf, *len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t head = (size_t)(end - *buf) + 4;
            size_t cl = 0;
            for (char *p = *buf; p < end; p++)
                if ((*p == 'C' || *p == 'c') && strncasecmp(p, "content-length:", 15) == 0) {
                    cl = strtoul(p + 15, NULL, 10);
                    break;
                }
            while (*len < head + cl) {
                if (*cap < head + cl + 1) {
                    *cap = head + cl + 1;
                    *buf = realloc(*buf, *cap);
                    if (!*buf) return -1;
                }
                ssize_t r = read(fd, *buf + *len, *cap - *len);
                if (r <= 0) return -1;
                *len += (size_t)r;
            }
            *body_len = cl;
            return (long)head;
        }
        if (*len == *cap) {
            *cap = *cap * 2;
            *buf = realloc(*buf, *cap);
            if (!*buf) return -1;
        }
        ssize_t r = read(fd, *buf + *len, *cap - *len);
        if (r <= 0) return -1;
        *len += (size_t)r;
    }
}

static void *sink_conn(void *p) {
    int fd = (int)(intptr_t)p;
    size_t cap = 1 << 20, len = 0, body_len;
    char *buf = malloc(cap);
    long head;
    while (buf && (head = read_request(fd, &buf, &cap, &len, &body_len)) >= 0) {
        char resp[512], json[400];
        if (strncmp(buf, "GET", 3) == 0) {
            snprintf(json, sizeof json,
                     "{\"batch_requests\":%llu,\"events_received\":%llu,"
                     "\"max_events_per_request\":%llu,\"bytes_received\":%llu}",
                     sink_requests, sink_events, sink_max, sink_bytes);
        } else {
            /* Count events by their first key: cheap, and the client always writes it. */
            unsigned long long n = 0;
            const char *b = buf + head, *e = b + body_len;
            while ((b = memmem(b, (size_t)(e - b), "{\"user_id\":", 11))) n++, b += 11;
            atomic_fetch_add(&sink_events, n);
            atomic_fetch_add(&sink_requests, 1);
            atomic_fetch_add(&sink_bytes, body_len);
            unsigned long long m = atomic_load(&sink_max);
            while (n > m && !atomic_compare_exchange_weak(&sink_max, &m, n)) {
            }
            snprintf(json, sizeof json, "{\"queued\":%llu,\"skipped\":0}", n);
        }
        int rl = snprintf(resp, sizeof resp,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n%s",
                          strlen(json), json);
        if (write(fd, resp, (size_t)rl) != rl) break;
        size_t used = (size_t)head + body_len;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    free(buf);
    close(fd);
    return NULL;
}

static int run_sink(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(s, (struct sockaddr *)&sa, sl) != 0 || listen(s, 64) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &sl) != 0)
        die("sink: cannot listen");
    printf("SEGOPS_DEV_SERVER_PORT=%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    if (arg.port_file) {
        FILE *f = fopen(arg.port_file, "w");
        if (!f) die("sink: cannot write the port file");
        fprintf(f, "%u\n", ntohs(sa.sin_port));
        fclose(f);
    }
    for (;;) {
        int fd = accept(s, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
    return 0; /* not reached: the script kills the sink */
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: segops-bench enqueue|e2e|slow|burst|props|pacing|sink [options] (see "
              "bench.c)\n",
              stderr);
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--url"))
            arg.url = v;
        else if (!strcmp(k, "--key"))
            arg.key = v;
        else if (!strcmp(k, "--threads"))
            arg.threads = atoi(v);
        else if (!strcmp(k, "--calls"))
            arg.calls = atol(v);
        else if (!strcmp(k, "--samples"))
            arg.samples = atol(v);
        else if (!strcmp(k, "--events"))
            arg.events = atol(v);
        else if (!strcmp(k, "--seconds"))
            arg.seconds = atof(v);
        else if (!strcmp(k, "--port-file"))
            arg.port_file = v;
        else if (!strcmp(k, "--rate"))
            arg.rate = atol(v);
        else if (!strcmp(k, "--spool"))
            arg.spool = v;
        else if (!strcmp(k, "--in-flight"))
            arg.in_flight = (uint32_t)atol(v);
        else
            die("unknown option");
    }
    if (arg.threads < 1 || arg.threads > MAX_THREADS) die("--threads must be 1..64");
    for (int i = 0; i < USER_IDS; i++) snprintf(user_ids[i], sizeof user_ids[i], "user-%06d", i);
    const char *mode = argv[1];
    if (!strcmp(mode, "sink")) return run_sink();
    if (!arg.key) arg.key = getenv("SEGOPS_BENCH_KEY");
    if (!arg.url || !arg.key) die("--url and --key (or SEGOPS_BENCH_KEY) are required");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(mode, "enqueue")) return run_enqueue();
    if (!strcmp(mode, "e2e")) return run_e2e();
    if (!strcmp(mode, "slow")) return run_slow();
    if (!strcmp(mode, "burst")) return run_burst();
    if (!strcmp(mode, "props")) return run_props();
    if (!strcmp(mode, "pacing")) return bench_pacing_run(arg.url, arg.key, arg.rate, arg.seconds);
    die("unknown scenario");
    return 2;
}
