"""Threads by the hundred: what a turn of the run loop costs with N threads blocked, and what
creating N threads costs, natively and under ``ecs-kernel run``.

    python -m bench.bench_threads [--counts 1,100,300,900] [--sleeps K] [--repeat R]
                                  [--baseline CHECKOUT] [--quick]

Rows (one static C program, built here with gcc):

    pipe N     N threads blocked reading their own pipes; the main thread makes K usleep(1)
               calls, each a blocking call and so a turn of the run loop: microseconds per call
    unix N     the same, each reader on a UNIX stream socketpair
    tcp N      the same, each reader on a TCP connection over loopback
    futex N    the same, the threads blocked in pthread_cond_wait (futex)
    spawn N    N threads created (each mallocs) while the others wait: milliseconds for all

Each figure is the guest's own (CLOCK_MONOTONIC around the loop), the best of ``--repeat`` runs,
the runners interleaved in every round so a busy machine slows them alike. ``--baseline``: an
older checkout's ``ecs-kernel run`` in the same rounds (``git worktree add /tmp/old <commit>``).
ecs-kernel runs with ``--pids`` above N. docs/measurements.md ("Threads by the hundred") has the
figures and what is left.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import bench
from bench.bench_real import ROOT, _env, runners

THREADS_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;

static void *reader(void *p) { char c; read((int)(long)p, &c, 1); return 0; }
static void *sleeper(void *p) {
    void *x = malloc(100);
    pthread_mutex_lock(&m);
    while (!go) pthread_cond_wait(&cv, &m);
    pthread_mutex_unlock(&m);
    free(x);
    return p;
}
/* a TCP connection over loopback: fds[0] the accepted end, fds[1] the client's */
static int tcp_pair(int fds[2]) {
    static int l = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (l < 0) {
        l = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) return -1;
    }
    getsockname(l, (struct sockaddr *)&a, &al);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fds[1], (struct sockaddr *)&a, sizeof a)) return -1;
    fds[0] = accept(l, 0, 0);
    return fds[0] < 0 ? -1 : 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const char *mode = argv[1];
    int n = atoi(argv[2]), k = argc > 3 ? atoi(argv[3]) : 0;
    int (*fds)[2] = calloc(n + 1, sizeof *fds);
    pthread_t *th = calloc(n + 1, sizeof *th);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        if (!strcmp(mode, "pipe") && pipe(fds[i]) == 0)
            pthread_create(&th[i], 0, reader, (void *)(long)fds[i][0]);
        else if (!strcmp(mode, "unix") && socketpair(AF_UNIX, SOCK_STREAM, 0, fds[i]) == 0)
            pthread_create(&th[i], 0, reader, (void *)(long)fds[i][0]);
        else if (!strcmp(mode, "tcp") && tcp_pair(fds[i]) == 0)
            pthread_create(&th[i], 0, reader, (void *)(long)fds[i][0]);
        else
            pthread_create(&th[i], 0, sleeper, 0);
    }
    double t1 = now();
    if (!strcmp(mode, "spawn")) {
        printf("%.0f\n", (t1 - t0) * 1e9);
    } else {
        usleep(100000);  /* (the threads block) */
        t0 = now();
        for (int i = 0; i < k; i++) usleep(1);
        printf("%.0f\n", (now() - t0) / k * 1e9);
    }
    pthread_mutex_lock(&m);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m);
    for (int i = 0; i < n; i++)
        if (fds[i][1]) write(fds[i][1], "x", 1);
    for (int i = 0; i < n; i++) pthread_join(th[i], 0);
    return 0;
}
"""
MODES = ("pipe", "unix", "tcp", "futex", "spawn")


def build(d: Path) -> Path:
    (d / "threads.c").write_text(THREADS_C)
    exe = d / "threads"
    subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(exe), str(d / "threads.c")],
                   check=True, capture_output=True)
    return exe


def run_once(runner, exe: Path, mode: str, n: int, sleeps: int) -> float:
    """The guest's figure, in seconds (per usleep, or for all N creations)."""
    prefix, checkout = runner
    if checkout:  # ecs-kernel run: room for the threads
        prefix = prefix[:-1] + ["--pids", str(max(1024, 2 * n + 64)), "--"]
    p = subprocess.run(prefix + [str(exe), mode, str(n), str(sleeps)], capture_output=True,
                       cwd=checkout or str(ROOT), env=_env(checkout) if checkout else {},
                       timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"{mode} {n}: status {p.returncode}: "
                           f"{p.stderr.decode(errors='replace')[-400:]}")
    return float(p.stdout.split()[-1]) * 1e-9


def measure(exe: Path, counts, sleeps: int, repeat: int, baseline: str | None) -> list[dict]:
    rs = {k: v for k, v in runners(baseline).items() if v is not None and k != "qemu-user"}
    rows = []
    for mode in MODES:
        for n in counts:
            best: dict[str, float] = {}
            for _ in range(repeat):
                for name, runner in rs.items():
                    t = run_once(runner, exe, mode, n, sleeps)
                    best[name] = min(best.get(name, t), t)
            rows.append({"mode": mode, "n": n, **best})
            print(render(rows[-1:], header=not rows[:-1], baseline=baseline), flush=True)
    return rows


def _fmt(mode: str, t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:.1f} ms" if mode == "spawn" else f"{t * 1e6:.0f} us"


def render(rows: list[dict], header: bool = True, baseline: str | None = None) -> str:
    lines = []
    if header:
        lines.append("| row | native | ecs-kernel | ecs-kernel / native |"
                     + (" baseline ecs-kernel | ecs-kernel / baseline |" if baseline else ""))
        lines.append("|---|---|---|---|" + ("---|---|" if baseline else ""))
    for r in rows:
        e, n, b = r["ecs-kernel"], r["native"], r.get("ecs-kernel baseline")
        line = (f"| {r['mode']} {r['n']} | {_fmt(r['mode'], n)} | {_fmt(r['mode'], e)} | "
                f"{e / n:.1f}x |")
        if baseline:
            line += f" {_fmt(r['mode'], b)} | {e / b:.2f}x |" if b else " - | - |"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = bench.parser(__doc__, "threads", whole=True)
    ap.add_argument("--counts", default="1,100,300,900", help="thread counts, comma-separated")
    ap.add_argument("--sleeps", type=int, default=500, help="usleep(1) calls per run")
    ap.add_argument("--repeat", type=int, default=1, help="best of this many rounds")
    ap.add_argument("--baseline", metavar="CHECKOUT", help="an older checkout to run beside")
    ap.add_argument("--quick", action="store_true", help="counts 1,20 and 20 sleeps (a smoke run)")
    args = ap.parse_args(argv)
    try:
        counts = [int(x) for x in args.counts.split(",")]
    except ValueError:
        ap.error("--counts: integers separated by commas")
    if args.quick:
        counts, args.sleeps = [1, 20], 20
    if any(n < 0 for n in counts) or args.sleeps < 1 or args.repeat < 1:
        ap.error("--counts >= 0, --sleeps >= 1, --repeat >= 1")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:  # the guest's /tmp is its own
        exe = build(Path(d))
        measure(exe, counts, args.sleeps, args.repeat,
                str(Path(args.baseline).resolve()) if args.baseline else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
