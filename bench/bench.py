"""Latency, cold start and peak memory of every endpoint; prints a Markdown table. Not run in CI.

    HF_HUB_OFFLINE=1 python bench/bench.py            # the bundled weights
    HF_HUB_OFFLINE=1 python bench/bench.py --tiny     # tiny random weights (plumbing only, before models exist)
    HF_HUB_OFFLINE=1 python bench/bench.py --cold-start --baseline 6ef59c7   # where start-up time goes, then vs now

- model: the model call alone (`sample` / `transfer` / `write`), in-process, median of --repeats;
- handler: the app's handler (validation, model, PIL conversion, PNG/GIF files), in-process; for /transfer and
  /reconstruct_face that is the whole path from a 1024x768 JPEG on disk: decode, face detection, crop, the model,
  upscale; /morph_faces makes its strip and its 24-frame GIF;
- client: the same request through gradio_client against `python app.py` in a subprocess;
- cold start: subprocess start to the first answer of that endpoint; peak RSS: the server's VmHWM at the end.

--cold-start splits `python app.py`'s start, up to the first answer of /sample_cats, into phases (interpreter,
imports of gradio, torch and genmodels, building the UI, launching the server, the first request), for the working
tree and for the --baseline commit (extracted with `git archive`) in alternating runs, and prints the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def endpoints(photo: str, large_photo: str):
    """(api_name, model name, handler args, model-only call) for every endpoint (/transfer three times: the GAN on a
    1024x768 and on a 6000x4000 photo, the trVAE on the 1024x768 one)."""
    import torch
    from PIL import Image

    from genmodels import load
    from genmodels.base import from_pil
    from genmodels.registry import WALK_AROUND
    from genmodels.writing import write

    text = "TheQuickBrownFox0123456789abcXYZ"  # 32 characters, every one a glyph
    face = from_pil([Image.open(photo)], 64)

    def moved(name: str):  # the model call of /transfer: the 64x64 face crop (at the model's side) to anime
        return load(name).transfer(torch.nn.functional.interpolate(face, load(name).config.resolution), "real", "anime")

    return [
        ("/sample_cats", "cats", (16, 0, 1.0, "GAN (default)"), lambda: load("cats").sample(16, seed=0)),
        ("/sample_cats", "cats-vae", (16, 0, 1.0, "VAE (original method)"), lambda: load("cats-vae").sample(16, seed=0)),
        ("/interpolate_cats", "cats", (0, 1, 8, 1.0, "GAN (default)"), lambda: load("cats").interpolate(0, 1, 8)),
        ("/transfer", "transfer-gan", (photo, "real", "anime", "Find the face", 1, "GAN (default)"),
         lambda: moved("transfer-gan")),
        ("/transfer", "transfer-gan", (large_photo, "real", "anime", "Find the face", 1, "GAN (default)"),
         lambda: moved("transfer-gan")),
        ("/transfer", "transfer", (photo, "real", "anime", "Find the face", 1, "trVAE (original method)"),
         lambda: moved("transfer")),
        ("/write", "handwriting", (text, 0, True, 1), lambda: write(load("handwriting"), text, seed=0)),
        ("/sample_faces", "faces", (16, 0, 1.0, "fitted (default)"), lambda: load("faces").sample(16, seed=0, density="mixture")),
        ("/morph_faces", "faces", (0, 1, None, None, 16, 1.0, "fitted (default)", "Find the face"),
         lambda: load("faces").morph(*load("faces").latents(2, 0, density="mixture"), 16 + 24)),
        ("/edit_face", "faces", ("male", 1.5, 7, 0, None, 1.0, "fitted (default)", "Find the face"),
         lambda: load("faces").draw(load("faces").edit(load("faces").latents(1, 0)[0], "male", [0.0] * 7))),
        ("/reconstruct_face", "faces", (photo, "Find the face", 1), lambda: load("faces").reconstruct(face)),
        ("/sample_cars", "cars", ("front-left", 16, 0, 1.0), lambda: load("cars").sample(16, seed=0, labels=["front-left"] * 16)),
        ("/walk_around_car", "cars", (0, 1.0), lambda: load("cars").relabel(WALK_AROUND, seed=0)),
    ]  # fmt: skip


def with_photo(args: tuple, wrap) -> tuple:
    """`args` with the photo path (the only .jpg argument) passed through `wrap` (handle_file)."""
    return tuple(wrap(a) if isinstance(a, str) and a.endswith(".jpg") else a for a in args)


def make_photo(path: str, size: tuple[int, int] = (1024, 768)) -> None:
    """A JPEG 'photo' (1024x768 unless `size` says otherwise): a face drawn by our transfer model (docs/examples),
    enlarged to half the short side, on a plain wall; the first example the face detector finds, so the benchmark
    covers the whole path."""
    from PIL import Image

    from genmodels.facecrop import detect_faces

    side = size[1] // 2
    for example in sorted((ROOT / "docs" / "examples").glob("real-*.png")):
        photo = Image.new("RGB", size, (142, 150, 160))
        photo.paste(Image.open(example).convert("RGB").resize((side, side), Image.Resampling.LANCZOS), ((size[0] - side) // 2, size[1] // 5))
        if detect_faces(photo):
            photo.save(path, quality=90)
            return
    raise SystemExit("no example face in docs/examples/real-*.png is found by the face detector")


def serve(port: int) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port))
    return subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def first_answer(port: int, api_name: str, args, started: float, timeout: float = 180) -> float:
    from gradio_client import Client, handle_file

    args = with_photo(args, handle_file)
    while time.time() - started < timeout:
        try:
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict(*args, api_name=api_name)
            return time.time() - started
        except Exception:
            time.sleep(0.05)
    raise TimeoutError(f"{api_name} did not answer in {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `python app.py` in stages, each stage's end printed as a time stamp; run in the tree being measured.
STAGES = """
import json, time
def done(stage): print(json.dumps([stage, time.time()]), flush=True)
done("interpreter")
import gradio; done("import gradio")
import torch; done("import torch")
import genmodels; done("import genmodels (diffusers)")
import app; done("build the UI")
app.serve(block=False, quiet=True); done("launch the server")
app.demo.block_thread()
"""


def cold_start_phases(tree: Path) -> dict[str, float]:
    """One start of the app in `tree`: seconds spent in each stage, up to the first answer of /sample_cats."""
    port = free_port()
    started = time.time()
    server = subprocess.Popen([sys.executable, "-c", STAGES], cwd=tree, env=dict(os.environ, GRADIO_SERVER_PORT=str(port)),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        answered = started + first_answer(port, "/sample_cats", (16, 0, 1.0, "GAN (default)"), started)
    finally:
        server.terminate()
        out, _ = server.communicate()
    phases, last = {}, started
    for stage, stamp in (json.loads(line) for line in out.splitlines() if line.startswith("[")):
        phases[stage], last = stamp - last, stamp
    phases["first request (/sample_cats, 16 cats)"] = answered - last
    phases["total: start to first answer"] = answered - started
    return phases


def cold_start(baseline: str, repeats: int) -> None:
    """Median stage times of the working tree and of the `baseline` commit, measured in alternating runs."""
    trees = {"now": ROOT}
    if baseline:
        folder = Path(tempfile.mkdtemp(prefix="baseline-"))
        archive = subprocess.run(["git", "archive", baseline], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        trees = {baseline: folder, **trees}
    runs = {name: [] for name in trees}
    for _ in range(repeats):
        for name, tree in trees.items():
            runs[name].append(cold_start_phases(tree))
    stages = list(runs["now"][0])
    print(f"cold start of `python app.py`, seconds, median of {repeats} runs each")
    print("| stage | " + " | ".join(trees) + " |\n|---|" + "---|" * len(trees))
    for stage in stages:
        cells = [f"{statistics.median(run.get(stage, 0.0) for run in runs[name]):.2f}" for name in trees]
        print(f"| {stage} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="benchmark tiny random weights")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--only", nargs="+", metavar="API_NAME", help="measure only these endpoints, e.g. /transfer")
    parser.add_argument("--cold-start", action="store_true", help="only the cold start, stage by stage")
    parser.add_argument("--baseline", default="", metavar="COMMIT", help="--cold-start: also measure this commit")
    options = parser.parse_args()
    if options.cold_start:
        return cold_start(options.baseline, options.repeats)
    if options.tiny:
        from genmodels.registry import REGISTRY, save_tiny

        folder = Path(tempfile.mkdtemp())
        for name in REGISTRY:
            save_tiny(name, folder / name)
        os.environ["GENMODELS_WEIGHTS_DIR"] = str(folder)

    import torch
    from gradio_client import Client, handle_file

    import app
    from genmodels.registry import available

    photo, large_photo = str(Path(tempfile.mkdtemp()) / "photo.jpg"), str(Path(tempfile.mkdtemp()) / "large.jpg")
    make_photo(photo)
    make_photo(large_photo, (6000, 4000))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {'tiny' if options.tiny else 'bundled'} weights")
    rows = ["| endpoint (model) | model ms | handler ms | client ms | cold start s | server peak RSS MiB |", "|---|---|---|---|---|---|"]
    for api_name, name, args, model_call in endpoints(photo, large_photo):
        if options.only and api_name not in options.only:
            continue
        if not available(name):
            rows.append(f"| {api_name} ({name}) | no weights | | | | |")
            continue
        handler = {f"/{fn.api_name}": fn.fn for fn in app.demo.fns.values() if fn.api_name}[api_name]
        handler_args = args  # the handler reads the photo from its path, as in the app
        port = free_port()
        started = time.time()
        server = serve(port)
        try:
            cold = first_answer(port, api_name, args, started)
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            remote = with_photo(args, handle_file)
            client_ms = median_ms(lambda: client.predict(*remote, api_name=api_name), max(options.repeats // 4, 3))
            peak = next(line for line in Path(f"/proc/{server.pid}/status").read_text().splitlines() if line.startswith("VmHWM"))
        finally:
            server.terminate()
            server.wait()
        what = f"{api_name} ({name}{', 6000x4000 photo' if large_photo in args else ''})"
        rows.append(f"| {what} | {median_ms(model_call, options.repeats):.1f} | "
                    f"{median_ms(lambda: handler(*handler_args), options.repeats):.1f} | {client_ms:.1f} | {cold:.1f} | "
                    f"{int(peak.split()[1]) // 1024} |")  # fmt: skip
    print("\n".join(rows))


if __name__ == "__main__":
    main()
