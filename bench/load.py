"""Load test: N concurrent gradio_client clients x M mixed requests over every endpoint, against `python app.py` on
loopback. Not run in CI.

    HF_HUB_OFFLINE=1 python bench/load.py                       # 32 clients x 10 requests, the bundled weights
    HF_HUB_OFFLINE=1 python bench/load.py --concurrency 1 2 4   # the queue's concurrency, one server each

Each run starts with a burst: every client sends the same default /write and /interpolate_cats at once (identical
requests once shared output files). Then each client sends the rest of its M requests, rotating through the endpoints whose
models are here. Every answer is checked whole: each PNG decodes fully, each GIF has all its frames. Prints errors,
p50/p95 per endpoint, throughput, and the server's RSS at start-up, its peak, and a minute after the load (--settle).
The whole run is bounded by --timeout; requests still pending then count as errors.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from bench import ROOT, first_answer, make_photo  # noqa: E402  (bench/bench.py, beside this script)


def requests(photo: str) -> list[tuple[str, str, tuple, int]]:
    """(api_name, model, arguments, expected files) for the mixed part; seeds vary per request (the {} slot)."""
    return [
        ("/sample_cats", "cats", (16, "{}", 1.0, "GAN (default)"), 16),
        ("/sample_cats", "cats-vae", (8, "{}", 1.0, "VAE (original method)"), 8),
        ("/interpolate_cats", "cats", ("{}", 1, 8, 1.0, "GAN (default)"), 2),
        ("/transfer", "transfer-gan", (photo, "auto", "anime", "Find the face", 1, "GAN (default)"), 2),
        ("/write", "handwriting", ("Hello World 2026", "{}", True, 4, "#1b1f3b", "#ffffff", False, 2, 0.7), 5),
        ("/sample_faces", "faces", (16, "{}", 1.0), 16),
        ("/sample_cars", "cars", ("front-left", 8, "{}", 1.0), 8),
    ]  # fmt: skip


BURST = [("/write", "handwriting", ("Hello World 2026", 0, True, 4, "#1b1f3b", "#ffffff", False, 2, 0.7), 5),
         ("/interpolate_cats", "cats", (0, 1, 8, 1.0, "GAN (default)"), 2)]  # fmt: skip


def whole_files(result) -> int:
    """Open every file in an answer completely; a truncated PNG or a GIF short of frames raises. Returns the count."""
    from PIL import Image

    paths = []
    for item in result if isinstance(result, (list, tuple)) else [result]:
        if isinstance(item, dict):
            paths.append(item["image"])
        elif isinstance(item, (list, tuple)):
            paths += [i["image"] for i in item]
        elif isinstance(item, str) and os.path.isfile(item):
            paths.append(item)
    for path in paths:
        with Image.open(path) as image:
            for frame in range(getattr(image, "n_frames", 1)):
                image.seek(frame)
                image.load()
            if path.endswith(".gif") and image.n_frames < 24:  # PIL merges only identical neighbours
                raise ValueError(f"GIF with {image.n_frames} frames")
    return len(paths)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field))
    return int(line.split()[1]) / 1024


def run(concurrency: int, clients: int, per_client: int, timeout: float, settle: float, photo: str, port: int) -> dict:
    from gradio_client import Client, handle_file

    from genmodels.registry import weights_problem

    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GENMODELS_CONCURRENCY=str(concurrency))
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        first_answer(port, "/sample_cats", (1, 0, 1.0, "GAN (default)"), time.time())
        started_mib = rss_mib(server.pid)
        usable = [r for r in requests(photo) if weights_problem(r[1]) is None]
        skipped = sorted({r[0] for r in requests(photo)} - {r[0] for r in usable})
        burst = [r for r in BURST if weights_problem(r[1]) is None]
        url = f"http://127.0.0.1:{port}/"
        times, errors, peak = defaultdict(list), [], [started_mib]
        deadline = time.time() + timeout
        done = threading.Event()

        def watch_memory():
            while not done.wait(0.1):
                peak.append(rss_mib(server.pid))

        def call(client, api_name: str, args: tuple, files: int):
            args = tuple(handle_file(a) if a == photo else a for a in args)
            start = time.perf_counter()
            try:
                result = client.submit(*args, api_name=api_name).result(timeout=max(deadline - time.time(), 0.1))
                got = whole_files(result)
                if got != files:
                    raise ValueError(f"{got} files, {files} expected")
                times[api_name].append(time.perf_counter() - start)
            except Exception as error:
                errors.append(f"{api_name}: {type(error).__name__}: {str(error)[:160]}")

        def client_run(index: int):
            client = Client(url, verbose=False)
            ready.wait()
            for api_name, _, args, files in burst[:per_client]:  # everyone at once, the same request
                call(client, api_name, args, files)
            for k in range(per_client - len(burst)):
                api_name, _, args, files = usable[(index + k) % len(usable)]
                call(client, api_name, tuple(index * 1000 + k if a == "{}" else a for a in args), files)

        ready = threading.Event()
        threading.Thread(target=watch_memory, daemon=True).start()
        threads = [threading.Thread(target=client_run, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(2)  # let every client fetch the config, then release them together
        began = time.perf_counter()
        ready.set()
        for thread in threads:
            thread.join(max(deadline - time.time(), 0))
        elapsed = time.perf_counter() - began
        done.set()
        total = clients * per_client
        answered = sum(map(len, times.values()))
        errors += [f"unanswered: {total - answered - len(errors)}"] if total - answered - len(errors) > 0 else []
        time.sleep(settle)
        after_mib = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait()
    log.seek(0)
    tracebacks = log.read().count("Traceback")
    return dict(concurrency=concurrency, total=total, errors=errors, times=times, elapsed=elapsed, skipped=skipped,
                started=started_mib, peak=max(peak), after=after_mib, tracebacks=tracebacks)  # fmt: skip


def report(r: dict, settle: float) -> str:
    answered = sum(map(len, r["times"].values()))
    lines = [f"\n## concurrency {r['concurrency']}: {len(r['errors'])} errors in {r['total']} requests, "
             f"{answered / r['elapsed']:.2f} requests/s over {r['elapsed']:.1f} s; tracebacks in the server log: "
             f"{r['tracebacks']}",
             f"server RSS: {r['started']:.0f} MiB at start-up, peak {r['peak']:.0f} MiB, {r['after']:.0f} MiB "
             f"{settle:.0f} s after the load",
             "| endpoint | requests | p50 ms | p95 ms |", "|---|---|---|---|"]  # fmt: skip
    for api_name, values in sorted(r["times"].items()):
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
        lines.append(f"| {api_name} | {len(values)} | {1000 * statistics.median(values):.0f} | {1000 * p95:.0f} |")
    if r["skipped"]:
        lines.append(f"not loaded (no weights here): {', '.join(r['skipped'])}")
    lines += [f"- {e}" for e in r["errors"][:20]]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10, help="requests per client, the identical burst included")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[int(os.environ.get("GENMODELS_CONCURRENCY", 2))])
    parser.add_argument("--timeout", type=float, default=600, help="bound on each run's load, seconds")
    parser.add_argument("--settle", type=float, default=60, help="seconds after the load before the last RSS reading")
    parser.add_argument("--port", type=int, default=7871)
    options = parser.parse_args()
    photo = str(Path(tempfile.mkdtemp()) / "photo.jpg")
    make_photo(photo)
    print(f"{options.clients} clients x {options.requests} requests (the first {len(BURST)} identical for all)")
    failed = False
    for concurrency in options.concurrency:
        result = run(concurrency, options.clients, options.requests, options.timeout, options.settle, photo, options.port)
        print(report(result, options.settle), flush=True)
        failed |= bool(result["errors"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
