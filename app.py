"""Five small generative image models in one Space: cats, anime <-> real faces, handwriting, faces and cars.

UI only: each handler validates its input, calls a model's `sample` / `transfer` interface from `genmodels`, and
turns tensors into PIL images. Models load lazily, once; a tab whose weights are missing says so, and its API call
raises a clear error while the other tabs keep working.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import spaces  # noqa: E402
from PIL import Image  # noqa: E402

from genmodels import REGISTRY, WeightsError, WeightsNotFound, load, to_pil  # noqa: E402
from genmodels.base import from_pil, image_grid, psnr  # noqa: E402
from genmodels.facecrop import CROP_MODES, MAX_FACES, NO_FACE, NOT_AN_IMAGE, TOO_LARGE, centre_square, crop, find_face, read_image  # noqa: E402
from genmodels.registry import CAR_VIEWS, DOMAINS, ROOT, SPACE, WALK_AROUND, card_metrics, weights_problem  # noqa: E402
from genmodels.serving import OutputFolder, choice, flag, number, text  # noqa: E402
from genmodels.writing import MAX_CHARS, VARIETY, colorize, parse_text, write  # noqa: E402

DESCRIPTION = """# Five small generative models
Cat faces, anime <-> real face transfer, handwriting, human faces and cars: small models trained from scratch on
real data, fast enough for a free CPU. Every button is also an API endpoint and an MCP tool: see
[Use via API](?view=api)."""

TAB_MODELS = {  # tab -> the models it needs (the first is the one whose absence disables the tab)
    "Cats": ["cats", "cats-vae"],
    "Anime <-> Real": ["transfer-gan", "transfer", "transfer-classifier"],
    "Handwriting": ["handwriting"],
    "Faces": ["faces"],
    "Cars": ["cars"],
}
CAT_MODELS = {"GAN (default)": "cats", "VAE (original method)": "cats-vae"}
TRANSFER_MODELS = {"GAN (default)": "transfer-gan", "trVAE (original method)": "transfer"}
FACE_DENSITIES = {"fitted (default)": "mixture", "prior N(0, I)": "prior"}
FACE_ATTRIBUTES = {"male": ("female", "male")}  # direction -> its two ends
SHOW = 256  # side of the crop and the result as shown and returned
GIF_FRAMES = 24  # frames of an interpolation GIF, one way (it plays there and back)
MAX_SEED = 2**31 - 1
# Handlers run on a fixed pool of threads: requests of all tabs together use at most CONCURRENCY cores, and memory
# stays flat (every new thread that runs torch keeps its own buffers: 40 Gradio worker threads grew the server by
# ~0.9 GB under load). The size was chosen with bench/load.py.
CONCURRENCY = int(os.environ.get("GENMODELS_CONCURRENCY", "2"))
MODEL_THREADS = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="model")
QUEUE_SIZE = 64
LIBC = ctypes.CDLL("libc.so.6") if sys.platform == "linux" else None  # for malloc_trim
# Every output is a file written once under a fresh name inside Gradio's cache, which serves it without a copy and
# prunes it (`delete_cache`): identical concurrent requests can no longer rewrite one file while it is being sent.
OUTPUTS = OutputFolder(Path(gr.utils.get_upload_folder()) / "outputs")
DELETE_CACHE = (600, 1800)  # every 10 minutes, delete outputs and uploads older than 30 minutes
NOT_AN_UPLOAD = ("A file argument was not an upload: send the image itself (in gradio_client: handle_file(path) "
                 "or a URL).")  # fmt: skip
INTERNAL_ERROR = "Something went wrong on our side while making this. It has been logged; please try again."
log = logging.getLogger("app")
# Handwritten lines are wide: no square tiles. About's table keeps its words whole (Gradio's cells break them anywhere).
CSS = """.pixelated img { image-rendering: pixelated; }
#write-variants .thumbnail-item { aspect-ratio: 8 / 1; }
#about td, #about th { overflow-wrap: normal; word-break: normal; }"""
# Gradio hides "Use via API" under 640 px; the description points to it, so phones get it too (unscoped, in <head>).
HEAD = "<style>@media (width <= 640px) { .show-api, .show-api-divider { display: inline-flex !important; } }</style>"


def trimmed(handler, *args, **kwargs):
    """Call the handler, then hand the memory it freed back to the system (glibc keeps it otherwise)."""
    try:
        return handler(*args, **kwargs)
    finally:
        if LIBC is not None:
            LIBC.malloc_trim(0)


def friendly_errors(handler):
    """Run the handler on one of the model threads. Errors users can cause (bad arguments, unusable weights) become
    their clear message, logged as one line; anything else is a bug: its traceback goes to the log and the user gets
    a plain apology, never a server path."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return MODEL_THREADS.submit(trimmed, handler, *args, **kwargs).result()
        except gr.Error:
            raise
        except (WeightsError, ValueError) as error:
            log.warning("/%s refused: %s", handler.__name__, error)
            raise gr.Error(str(error), print_exception=False) from None
        except Exception:
            log.exception("/%s failed", handler.__name__)
            raise gr.Error(INTERNAL_ERROR, print_exception=False) from None

    return wrapper


def check_seed(seed, what: str = "the seed") -> int:
    return number(seed, 0, MAX_SEED, what, whole=True)


def check_count(n) -> int:
    """How many images a sampling endpoint makes: 1 to 64."""
    return number(n, 1, 64, "the number of images", whole=True)


# ---- handlers: one per API endpoint ------------------------------------------------------------------------------
def cat_model(model: str, spread) -> tuple:
    """The chosen cat model and its sampling option: the GAN's latent scale is its truncation, the VAE's its
    temperature."""
    name = CAT_MODELS[choice(model, CAT_MODELS, "the model")]
    spread = number(spread, 0.1, 1.5, "truncation / temperature")
    return load(name), {"truncation" if name == "cats" else "temperature": spread}


@friendly_errors
@spaces.GPU
def sample_cats(n: int = 16, seed: int = 0, truncation: float = 1.0, model: str = "GAN (default)") -> list[str]:
    """Generate 64x64 cat faces.

    Args:
        n: how many cats, 1 to 64.
        seed: a whole number from 0 to 2147483647; the same seed gives the same cats.
        truncation: 0.1 to 1.5; below 1 trades variety for quality (the VAE's temperature).
        model: "GAN (default)" or "VAE (original method)".

    Returns:
        The cats, one PNG each.
    """
    n, seed = check_count(n), check_seed(seed)
    generator, option = cat_model(model, truncation)
    return OUTPUTS.pngs(to_pil(generator.sample(n, seed=seed, **option)), f"cats-{seed}")


@friendly_errors
@spaces.GPU
def interpolate_cats(seed_a: int = 0, seed_b: int = 1, steps: int = 8, truncation: float = 1.0,
                     model: str = "GAN (default)") -> tuple[str, str]:  # fmt: skip
    """Walk through the latent space from one cat to another.

    Args:
        seed_a: the first cat's seed, 0 to 2147483647.
        seed_b: the last cat's seed, 0 to 2147483647.
        steps: how many cats in the strip, 2 to 16.
        truncation: 0.1 to 1.5; below 1 trades variety for quality (the VAE's temperature).
        model: "GAN (default)" or "VAE (original method)".

    Returns:
        A strip of the walk (PNG) and a looping GIF of it (24 frames there and back, shown 4x).
    """
    seed_a, seed_b = check_seed(seed_a, "the first seed"), check_seed(seed_b, "the second seed")
    steps = number(steps, 2, 16, "the number of steps", whole=True)
    generator, option = cat_model(model, truncation)
    strip = to_pil(image_grid(generator.interpolate(seed_a, seed_b, steps, **option).cpu(), nrow=steps))
    frames = to_pil(generator.interpolate(seed_a, seed_b, GIF_FRAMES, **option).cpu())
    stem = f"{CAT_MODELS[model]}-walk-{seed_a}-{seed_b}"
    return OUTPUTS.png(strip, stem), OUTPUTS.gif(frames, stem, scale=4)


def other(domain: str) -> str:
    return DOMAINS[1 - DOMAINS.index(domain)]


def looks_like(face_image: Image.Image) -> tuple[str, float]:
    """The domain the transfer classifier sees in a face crop, and how sure it is."""
    classifier = load("transfer-classifier")
    probs = classifier.predict(from_pil([face_image], classifier.config.resolution))[0]
    return classifier.labels[int(probs.argmax())], float(probs.max())


@friendly_errors
@spaces.GPU
def transfer(image, source: str = "auto", target: str = "anime", crop_mode: str = "Find the face",
             face: int = 1, model: str = "GAN (default)") -> tuple[str, str, str]:  # fmt: skip
    """Re-draw a face from a photo as anime, or an anime face as a photo.

    Args:
        image: a photo or an anime picture (JPEG, PNG or WebP; EXIF rotation is honoured).
        source: what the picture is: "auto" (detected), "real" or "anime".
        target: what to turn it into: "real" or "anime".
        crop_mode: "Find the face" (photos: face detection, framed like the training photos; anime pictures: the
            centre square) or "Use the whole image" (its centre square, for pictures already cut to a face).
        face: which detected face, 1 = the largest, up to 20.
        model: "GAN (default)" (a translation GAN) or "trVAE (original method)".

    Returns:
        The face that was used and the transferred face (both 256x256 PNG), and a note on what was done.
    """
    if image is None:
        raise ValueError("Upload an image first.")
    source, target = choice(source, ["auto", *DOMAINS], "the source"), choice(target, DOMAINS, "the target")
    name = TRANSFER_MODELS[choice(model, TRANSFER_MODELS, "the model")]
    picture = read_image(image)
    translator = load(name)
    anime_square = source == "anime" and crop_mode == "Find the face"  # there is no anime face detector
    box, found, note = find_face(picture, "Use the whole image" if anime_square else crop_mode, face,
                                 required=source == "real")  # fmt: skip
    notes = ["Anime picture: used its centre square (there is no anime face detector here)." if anime_square else note]
    size = translator.config.resolution
    face_image = crop(picture, box, size)
    if source == "auto":
        source, sure = looks_like(face_image)
        if found == 0 and source == "real":
            raise ValueError(NO_FACE)
        if source == target:
            raise ValueError(f"This picture already looks {source} ({sure:.0%} sure): choose \"{other(source)}\" as "
                             "what to turn it into, or say what the picture is if that guess is wrong.")  # fmt: skip
        notes.append(f"The picture looks {source} ({sure:.0%} sure).")
    elif source == target:
        raise ValueError(f"The picture is {source} and would be turned into {target}: choose \"{other(source)}\".")
    out = translator.transfer(from_pil([face_image], size), source, target)[0]
    notes.append(f"{source} -> {target} by the {model.split(' (')[0]} at {size}x{size}, shown at {SHOW}x{SHOW}.")
    result = to_pil(out).resize((SHOW, SHOW), Image.Resampling.LANCZOS)
    return OUTPUTS.png(crop(picture, box, SHOW), "face"), OUTPUTS.png(result, f"face-{target}"), " ".join(notes)


@friendly_errors
@spaces.GPU
def write_text(words: str, seed: int = 0, one_hand: bool = True, variants: int = 1, ink: str = "#1b1f3b",
               paper: str = "#ffffff", transparent: bool = False, scale: int = 2,
               variety: float = VARIETY) -> tuple[str, list[str]]:  # fmt: skip
    """Write text in generated handwriting.

    Args:
        words: the text: 0-9, A-Z, a-z, spaces and line breaks, up to 64 characters on up to 8 lines.
        seed: the handwriting's seed, 0 to 2147483647.
        one_hand: true writes every character in the same style.
        variants: how many versions, 1 to 8 (seeds seed, seed + 1, ...).
        ink: the ink colour, a CSS colour such as "navy" or "#1b1f3b".
        paper: the paper colour, a CSS colour.
        transparent: true leaves the paper out (PNG with alpha).
        scale: the size, 1 to 6 (1 = 20 px capitals).
        variety: 0.1 to 1, how far the style may stray from the average hand (lower: neater).

    Returns:
        The first version (PNG) and all the versions.
    """
    parse_text(text(words, "the text"))  # reject bad text before loading anything
    seed, variants = check_seed(seed), number(variants, 1, 8, "the number of variants", whole=True)
    one_hand, transparent = flag(one_hand, "one hand"), flag(transparent, "transparent")
    scale, variety = number(scale, 1, 6, "the size", whole=True), number(variety, 0.1, 1.0, "variety")
    ink, paper = text(ink, "the ink colour"), text(paper, "the paper colour")
    model = load("handwriting")
    images = [colorize(write(model, words, seed=(seed + i) % (MAX_SEED + 1), one_hand=one_hand, variety=variety,
                             scale=scale), ink, None if transparent else paper)
              for i in range(variants)]  # fmt: skip
    paths = OUTPUTS.pngs(images, f"handwriting-{seed}")
    return paths[0], paths


def face_options(temperature, density) -> dict:
    """How seeds become face codes: the draws' temperature and the density they come from."""
    return dict(temperature=number(temperature, 0.1, 1.5, "the temperature"),
                density=FACE_DENSITIES[choice(density, FACE_DENSITIES, "the density")])  # fmt: skip


def photo_face(photo, crop_mode, face, size: int) -> tuple:
    """An uploaded photo's face as the model sees it (a tensor at `size`), as shown (SHOW px) and a note on where it
    was found: the same finding, framing and safe decoding as the Anime <-> Real tab."""
    picture = read_image(photo)
    box, _, note = find_face(picture, crop_mode, face)
    return from_pil([crop(picture, box, size)], size), crop(picture, box, SHOW), note


def face_code(model, seed: int, photo, crop_mode, options: dict) -> tuple:
    """A face's code and where it came from: the uploaded photo's largest face, else the seed's draw."""
    if photo is None:
        return model.latents(1, seed, **options)[0], f"seed {seed}"
    face, _, note = photo_face(photo, crop_mode, 1, model.config.resolution)
    return model.codes(face.to(model.device))[0], f"your photo ({note.rstrip('.')})"


@friendly_errors
@spaces.GPU
def sample_faces(n: int = 16, seed: int = 0, temperature: float = 1.0, density: str = "fitted (default)") -> list[str]:
    """Generate 64x64 human faces.

    Args:
        n: how many faces, 1 to 64.
        seed: a whole number from 0 to 2147483647; the same seed gives the same faces.
        temperature: 0.1 to 1.5, the scale of the latent draws (lower: plainer faces).
        density: where the codes are drawn from: "fitted (default)", a Gaussian mixture fitted to the codes of the
            training faces (sharper, more faithful faces), or "prior N(0, I)", the VAE's prior.

    Returns:
        The faces, one PNG each.
    """
    n, seed, options = check_count(n), check_seed(seed), face_options(temperature, density)
    return OUTPUTS.pngs(to_pil(load("faces").sample(n, seed=seed, **options)), f"faces-{seed}")


@friendly_errors
@spaces.GPU
def morph_faces(seed_a: int = 0, seed_b: int = 1, photo_a=None, photo_b=None, steps: int = 8,
                temperature: float = 1.0, density: str = "fitted (default)",
                crop_mode: str = "Find the face") -> tuple[str, str, str]:  # fmt: skip
    """Morph one face into another, each from a seed or from an uploaded photo.

    Args:
        seed_a: the first face's seed, 0 to 2147483647 (used when photo_a is empty).
        seed_b: the last face's seed, 0 to 2147483647 (used when photo_b is empty).
        photo_a: optional photo of the first face (JPEG, PNG or WebP): its largest face is found and encoded.
        photo_b: optional photo of the last face.
        steps: how many faces in the strip, 2 to 16.
        temperature: 0.1 to 1.5, the scale of the seeds' draws.
        density: "fitted (default)" or "prior N(0, I)", where the seeds' codes are drawn from.
        crop_mode: "Find the face" (face detection, framed like the training photos) or "Use the whole image" (its
            centre square, for photos already cut to a face).

    Returns:
        A strip of the morph (PNG), a looping GIF of it (24 frames there and back, shown 4x), and a note.
    """
    seed_a, seed_b = check_seed(seed_a, "the first seed"), check_seed(seed_b, "the second seed")
    steps, options = number(steps, 2, 16, "the number of steps", whole=True), face_options(temperature, density)
    crop_mode = choice(crop_mode, CROP_MODES, "the face mode")  # checked even when no photo needs it
    model = load("faces")
    (a, from_a), (b, to_b) = (face_code(model, seed, photo, crop_mode, options)
                                    for seed, photo in ((seed_a, photo_a), (seed_b, photo_b)))  # fmt: skip
    strip = to_pil(image_grid(model.morph(a, b, steps).cpu(), nrow=steps))
    frames = to_pil(model.morph(a, b, GIF_FRAMES).cpu())
    return OUTPUTS.png(strip, "faces-morph"), OUTPUTS.gif(frames, "faces-morph", scale=4), f"From {from_a} to {to_b}."


@friendly_errors
@spaces.GPU
def edit_face(attribute: str = "male", amount: float = 1.5, steps: int = 7, seed: int = 0, photo=None,
              temperature: float = 1.0, density: str = "fitted (default)",
              crop_mode: str = "Find the face") -> tuple[str, str]:  # fmt: skip
    """Move a face along an attribute's direction in the latent space, from -amount to +amount.

    Args:
        attribute: the direction: "male" (female <-> male, fitted to the training faces' labels).
        amount: 0.25 to 3, how far to go each way; 1 is the distance between the average female and male codes.
        steps: how many faces in the strip, 3 to 15; the middle one (odd steps) is the face unchanged.
        seed: the face's seed, 0 to 2147483647 (used when photo is empty).
        photo: optional photo (JPEG, PNG or WebP) whose largest face is edited.
        temperature: 0.1 to 1.5, the scale of the seed's draw.
        density: "fitted (default)" or "prior N(0, I)", where the seed's code is drawn from.
        crop_mode: "Find the face" or "Use the whole image", as for morph_faces.

    Returns:
        The strip from -amount to +amount (PNG) and a note.
    """
    attribute = choice(attribute, FACE_ATTRIBUTES, "the attribute")
    amount, steps = number(amount, 0.25, 3.0, "the amount"), number(steps, 3, 15, "the number of steps", whole=True)
    seed, crop_mode = check_seed(seed), choice(crop_mode, CROP_MODES, "the face mode")
    model = load("faces")
    code, source = face_code(model, seed, photo, crop_mode, face_options(temperature, density))
    faces = model.draw(model.edit(code, attribute, [amount * (2 * i / (steps - 1) - 1) for i in range(steps)]))
    low, high = FACE_ATTRIBUTES[attribute]
    note = f"{source}: {low} (-{amount:g}) on the left to {high} (+{amount:g}) on the right."
    return OUTPUTS.png(to_pil(image_grid(faces.cpu(), nrow=steps)), f"faces-{attribute}"), note


@friendly_errors
@spaces.GPU
def reconstruct_face(photo, crop_mode: str = "Find the face", face: int = 1) -> tuple[str, str, str]:
    """Encode a face from a photo and decode it again: what the Faces model keeps of it.

    Args:
        photo: a photo (JPEG, PNG or WebP; EXIF rotation is honoured).
        crop_mode: "Find the face" (face detection, framed like the training photos) or "Use the whole image" (its
            centre square, for photos already cut to a face).
        face: which detected face, 1 = the largest, up to 20.

    Returns:
        The face that was used and its reconstruction (both 256x256 PNG), and a note with the reconstruction's PSNR.
    """
    if photo is None:
        raise ValueError("Upload a photo first.")
    model = load("faces")
    size = model.config.resolution
    original, shown, note = photo_face(photo, crop_mode, face, size)
    recon = model.reconstruct(original.to(model.device)).cpu()
    result = to_pil(recon[0]).resize((SHOW, SHOW), Image.Resampling.LANCZOS)
    note += f" Reconstructed at {size}x{size} with a PSNR of {psnr(recon, original)[0]:.1f} dB; shown at {SHOW}x{SHOW}."
    return OUTPUTS.png(shown, "face"), OUTPUTS.png(result, "face-reconstructed"), note


@friendly_errors
@spaces.GPU
def sample_cars(view: str = "front-left", n: int = 8, seed: int = 0, truncation: float = 1.0) -> list[str]:
    """Generate 64x64 cars seen from a chosen viewpoint.

    Args:
        view: front, front-left, front-right, side-left, side-right, rear-left, rear-right or rear (left/right: the
            way the car's nose points in the picture).
        n: how many cars, 1 to 64.
        seed: a whole number from 0 to 2147483647; the same seed gives the same cars.
        truncation: 0.1 to 1.5; below 1 trades variety for quality.

    Returns:
        The cars, one PNG each.
    """
    view = choice(view, CAR_VIEWS, "the viewpoint")
    n, seed, truncation = check_count(n), check_seed(seed), number(truncation, 0.1, 1.5, "the truncation")
    images = load("cars").sample(n, seed=seed, labels=[view] * n, truncation=truncation)
    return OUTPUTS.pngs(to_pil(images), f"cars-{view}-{seed}")


@friendly_errors
@spaces.GPU
def walk_around_car(seed: int = 0, truncation: float = 1.0) -> tuple[str, str]:
    """Walk around one car: the same latent code drawn in all eight viewpoints, in the order someone walking around
    it sees them (front, front-left, side-left, rear-left, rear, rear-right, side-right, front-right).

    Args:
        seed: the car's seed, 0 to 2147483647.
        truncation: 0.1 to 1.5; below 1 trades variety for quality.

    Returns:
        The eight views as a strip (PNG) and a looping GIF of the walk (shown 4x).
    """
    seed, truncation = check_seed(seed), number(truncation, 0.1, 1.5, "the truncation")
    views = load("cars").relabel(WALK_AROUND, seed=seed, truncation=truncation).cpu()
    strip = to_pil(image_grid(views, nrow=len(WALK_AROUND)))
    return OUTPUTS.png(strip, f"car-walk-{seed}"), OUTPUTS.gif(to_pil(views), f"car-walk-{seed}", scale=4, bounce=False,
                                                              duration_ms=400)  # fmt: skip


# ---- UI ----------------------------------------------------------------------------------------------------------
def readable_uploads(image: gr.Image) -> gr.Image:
    """Gradio opens an upload before the handler runs: make a file it cannot open a clear message, not "Error".
    (Wrapping the instance's method rather than subclassing: a subclass makes Gradio write an app.pyi stub.)"""
    preprocess = image.preprocess

    def safe_preprocess(payload):
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            message = TOO_LARGE
        except Exception:
            message = NOT_AN_IMAGE
        log.warning("upload refused: %s", message)
        raise gr.Error(message, print_exception=False)

    image.preprocess = safe_preprocess
    return image


def weights_notice(tab: str, problems: dict[str, WeightsError | None]) -> None:
    """A visible note on a tab whose models cannot run here: not trained yet, or what is wrong with their weights."""
    problem = next((problems[name] for name in TAB_MODELS[tab] if problems[name] is not None), None)
    if isinstance(problem, WeightsNotFound):
        gr.Markdown(f"⚠️ **Not trained yet.** {problem} This tab will work once they are added (`weights/` or the "
                    "Hub repo in `spaces.yaml`).")  # fmt: skip
    elif problem is not None:
        gr.Markdown(f"⚠️ **This model cannot run.** {problem}")


def action(label: str, elem_id: str, enabled: bool) -> gr.Button:
    """A tab's main button (off when the tab's model cannot run)."""
    return gr.Button(label, variant="primary", elem_id=elem_id, interactive=enabled)


def samples_gallery(label: str, elem_id: str) -> gr.Gallery:
    """A gallery of 64x64 samples, shown with crisp pixels, each image and all of them downloadable."""
    return gr.Gallery(label=label, elem_id=elem_id, columns=8, format="png", elem_classes="pixelated", scale=3,
                      buttons=["download", "download_all", "fullscreen"])


def pixel_image(label: str, elem_id: str) -> gr.Image:
    """An output image of 64x64 tiles, shown with crisp pixels."""
    return gr.Image(label=label, elem_id=elem_id, format="png", type="pil", elem_classes="pixelated")


def face_upload(label: str, elem_id: str, height: int | None = 160) -> gr.Image:
    """A photo input: an upload, the webcam or the clipboard, read by the server as a file (`readable_uploads`)."""
    return readable_uploads(gr.Image(type="filepath", elem_id=elem_id, image_mode=None, label=label, height=height,
                                     sources=["upload", "webcam", "clipboard"]))  # fmt: skip


def ready(tab: str, problems: dict[str, WeightsError | None]) -> bool:
    """Whether the tab's main model can run (its buttons are disabled otherwise)."""
    return problems[TAB_MODELS[tab][0]] is None


def handlers_check_arguments(demo: gr.Blocks) -> None:
    """Let every handler see the raw values it was sent and check them itself (see `genmodels.serving`): Gradio's
    own preprocessing of plain values rounds 1.5 to 2, lets NaN through and answers 'abc', null or a missing
    argument with a bare "Error". Uploads keep Gradio's preprocessing (`readable_uploads`). Instance attributes,
    not subclasses, so the components stay stock Gradio."""
    plain = (gr.Number, gr.Slider, gr.Radio, gr.Dropdown, gr.Checkbox, gr.Textbox, gr.ColorPicker)
    for fn in demo.fns.values():
        for component in fn.inputs:
            if isinstance(component, plain):
                component.preprocess = lambda payload: payload
    preprocess_data = demo.preprocess_data

    async def preprocess_checked(block_fn, inputs, state, explicit_call=False):
        names = [component.label or type(component).__name__ for component in block_fn.inputs]
        if len(inputs) != len(names):
            raise gr.Error(f"/{block_fn.api_name} takes {len(names)} arguments ({', '.join(names)}); it was sent "
                           f"{len(inputs)}.", print_exception=False)  # fmt: skip
        try:
            return await preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as error:  # a file argument that is not an upload of this server
            log.warning("/%s refused its arguments: %s", block_fn.api_name, type(error).__name__)
            raise gr.Error(NOT_AN_UPLOAD, print_exception=False) from None

    demo.preprocess_data = preprocess_checked


@friendly_errors
def inspect_upload(upload) -> tuple:
    """As soon as a picture arrives: a file that cannot be read is removed with its message (no broken-image icon
    waiting for the Transfer button); a readable one sets "Turn it into" to the other domain than it looks."""
    if not isinstance(upload, dict) or not upload.get("path"):
        return gr.update(), gr.update(), ""
    try:
        picture = read_image(upload["path"])
        source, sure = looks_like(crop(picture, centre_square(*picture.size), 64))
    except ValueError as error:
        log.warning("upload refused: %s", error)
        return None, gr.update(), f"⚠️ {error}"
    except WeightsError:  # no classifier: leave the choice to the user
        return gr.update(), gr.update(), ""
    note = f"This picture looks {source} ({sure:.0%} sure): it will be turned into {other(source)}."
    return gr.update(), other(source), note


def seed_row(label: str = "Seed", value: int = 0):
    with gr.Row():
        seed = gr.Number(value=value, label=label, precision=0, minimum=0, maximum=MAX_SEED, scale=4)
        dice = gr.Button("Random", scale=1)
    dice.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private")
    return seed


def about(problems: dict[str, WeightsError | None]) -> str:
    rows = []
    for name, spec in REGISTRY.items():
        metrics = ", ".join(f"{k} = {v:.4g}" for k, v in card_metrics(name).items()) or "not measured yet"
        status = "ready" if problems[name] is None else "not available"
        data = ", ".join(SPACE["models"][name]["datasets"]) or "converted, not trained here"
        rows.append(f"| `{name}` | {spec.description} | {data} | {status} | {metrics} |")
    return ("| model | what it is | trained on | status | measured |\n|---|---|---|---|---|\n" + "\n".join(rows)
            + "\n\nMetrics come from each model card (`weights/<name>/README.md`), written by `python -m train.evaluate`.")  # fmt: skip


def build() -> gr.Blocks:
    problems = {name: weights_problem(name) for name in REGISTRY}  # config.json and safetensors headers only: ~0.1 s
    with gr.Blocks(title=SPACE["space"]["title"], delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Tab("Cats"):
            weights_notice("Cats", problems)
            with gr.Row():
                with gr.Column(scale=1):
                    cat_model = gr.Radio(list(CAT_MODELS), value="GAN (default)", label="Model")
                    cat_n = gr.Slider(1, 64, value=16, step=1, label="Number of images")
                    cat_seed = seed_row()
                    cat_trunc = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Truncation / temperature")
                    cat_go = action("Generate cats", "cats-go", ready("Cats", problems))
                cat_out = samples_gallery("Cats", "cats-out")
            gr.Examples([[16, 42, 0.7, "GAN (default)"], [64, 2026, 1.0, "GAN (default)"],
                         [16, 42, 1.0, "VAE (original method)"]],
                        [cat_n, cat_seed, cat_trunc, cat_model], label="Examples")  # fmt: skip
            cat_go.click(sample_cats, [cat_n, cat_seed, cat_trunc, cat_model], cat_out, api_name="sample_cats")
            with gr.Accordion("Walk from one cat to another (latent interpolation)", open=True):
                with gr.Row():
                    with gr.Column(scale=1):
                        walk_a, walk_b = seed_row("From seed"), seed_row("To seed", 1)
                        walk_steps = gr.Slider(2, 16, value=8, step=1, label="Steps in the strip")
                        walk_go = action("Walk", "walk-go", ready("Cats", problems))
                    with gr.Column(scale=3):
                        walk_strip = pixel_image("Strip", "walk-strip")
                        walk_gif = gr.Image(label="Animation", elem_id="walk-gif", type="filepath", height=256)
            walk_go.click(interpolate_cats, [walk_a, walk_b, walk_steps, cat_trunc, cat_model], [walk_strip, walk_gif],
                          api_name="interpolate_cats")  # fmt: skip

        with gr.Tab("Anime <-> Real"):
            weights_notice("Anime <-> Real", problems)
            with gr.Row():
                with gr.Column():
                    tr_image = face_upload("Photo or anime picture", "transfer-in", height=None)
                    with gr.Row():
                        tr_source = gr.Radio(["auto", *DOMAINS], value="auto", label="The picture is")
                        tr_target = gr.Radio(DOMAINS, value="anime", label="Turn it into")
                    with gr.Row():
                        tr_mode = gr.Radio(CROP_MODES, value="Find the face", label="Face")
                        tr_face = gr.Number(value=1, minimum=1, maximum=MAX_FACES, precision=0,
                                            label="Which face (1 = largest)")  # fmt: skip
                    tr_model = gr.Radio(list(TRANSFER_MODELS), value="GAN (default)", label="Model")
                    tr_go = action("Transfer", "transfer-go", ready("Anime <-> Real", problems))
                with gr.Column():
                    with gr.Row():
                        tr_crop = gr.Image(label="Face used", elem_id="transfer-crop", format="png", type="pil")
                        tr_out = gr.Image(label="Transferred", elem_id="transfer-out", format="png", type="pil")
                    tr_note = gr.Markdown(elem_id="transfer-note")
            tr_inputs = [tr_image, tr_source, tr_target, tr_mode, tr_face, tr_model]
            examples = sorted((ROOT / "docs" / "examples").glob("*.png"))
            if examples:  # made by our own models (python -m train.sample_grid --model transfer --examples)
                gr.Examples([[str(e), "auto", "real" if "anime" in e.name else "anime", "Use the whole image", 1,
                              "GAN (default)"] for e in examples], tr_inputs, label="Examples (drawn by our models)")  # fmt: skip
            tr_go.click(transfer, tr_inputs, [tr_crop, tr_out, tr_note], api_name="transfer")
            tr_image.upload(inspect_upload, tr_image, [tr_image, tr_target, tr_note], preprocess=False,
                            api_visibility="private")  # fmt: skip

        with gr.Tab("Handwriting"):
            weights_notice("Handwriting", problems)
            with gr.Row():
                with gr.Column(scale=1):
                    hw_text = gr.Textbox(value="Hello World 2026", lines=2, max_length=MAX_CHARS,
                                         label=f"Text: 0-9, A-Z, a-z, spaces, line breaks; up to {MAX_CHARS} characters")  # fmt: skip
                    hw_seed = seed_row("Handwriting seed")
                    hw_hand = gr.Checkbox(value=True, label="One hand (every character in the same style)")
                    hw_variants = gr.Slider(1, 8, value=4, step=1, label="Variants (seed, seed + 1, ...)")
                    hw_variety = gr.Slider(0.1, 1.0, value=VARIETY, step=0.05, label="Variety (lower: neater, more uniform)")
                    with gr.Accordion("Ink, paper and size", open=False):
                        with gr.Row():
                            hw_ink = gr.ColorPicker(value="#1b1f3b", label="Ink")
                            hw_paper = gr.ColorPicker(value="#ffffff", label="Paper")
                        hw_transparent = gr.Checkbox(value=False, label="Transparent background (PNG with alpha)")
                        hw_scale = gr.Slider(1, 6, value=2, step=1, label="Size (1 = 20 px capitals)")
                    hw_go = action("Write", "write-go", ready("Handwriting", problems))
                with gr.Column(scale=2):
                    hw_out = gr.Image(label="Written", elem_id="write-out", format="png", type="pil")
                    hw_gallery = gr.Gallery(label="Variants", elem_id="write-variants", columns=1, height="auto",
                                            object_fit="contain", format="png",
                                            buttons=["download", "download_all", "fullscreen"])  # fmt: skip
            hw_inputs = [hw_text, hw_seed, hw_hand, hw_variants, hw_ink, hw_paper, hw_transparent, hw_scale, hw_variety]
            gr.Examples([["Dear Ada\nThank you", 7], ["Gradio 6 on a CPU", 42],
                         ["ABCDEFGHIJKLM\nnopqrstuvwxyz\n0123456789", 3]], [hw_text, hw_seed], label="Examples")
            gr.on([hw_go.click, hw_text.submit], write_text, hw_inputs, [hw_out, hw_gallery], api_name="write")

        with gr.Tab("Faces"):
            weights_notice("Faces", problems)
            faces_ready = ready("Faces", problems)
            with gr.Row():
                with gr.Column(scale=1):
                    face_n = gr.Slider(1, 64, value=16, step=1, label="Number of faces")
                    face_seed = seed_row()
                    face_temp = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Temperature (lower: plainer faces)")
                    face_density = gr.Radio(list(FACE_DENSITIES), value="fitted (default)", label="Draw codes from",
                                            info="fitted: a mixture fitted to the training faces' codes")  # fmt: skip
                    face_go = action("Generate faces", "faces-go", faces_ready)
                face_out = samples_gallery("Faces", "faces-out")
            face_options = [face_temp, face_density]
            gr.Examples([[16, 42, 0.8], [64, 7, 1.0]], [face_n, face_seed, face_temp], label="Examples")
            face_go.click(sample_faces, [face_n, face_seed, *face_options], face_out, api_name="sample_faces")
            with gr.Accordion("Morph one face into another (a seed or your photo at each end)", open=True):
                with gr.Row():
                    with gr.Column(scale=1):
                        morph_a, morph_b = seed_row("From seed", 3), seed_row("To seed", 11)
                        with gr.Row():
                            morph_photo_a = face_upload("or from a photo", "morph-photo-a")
                            morph_photo_b = face_upload("or to a photo", "morph-photo-b")
                        morph_steps = gr.Slider(2, 16, value=8, step=1, label="Steps in the strip")
                        morph_mode = gr.Radio(CROP_MODES, value="Find the face", label="Face in the photos")
                        morph_go = action("Morph", "morph-go", faces_ready)
                    with gr.Column(scale=3):
                        morph_strip = pixel_image("Strip", "morph-strip")
                        morph_gif = gr.Image(label="Animation", elem_id="morph-gif", type="filepath", height=256)
                        morph_note = gr.Markdown(elem_id="morph-note")
            morph_go.click(morph_faces, [morph_a, morph_b, morph_photo_a, morph_photo_b, morph_steps, *face_options,
                                         morph_mode], [morph_strip, morph_gif, morph_note], api_name="morph_faces")  # fmt: skip
            with gr.Accordion("Attribute slider (female <-> male)", open=True):
                with gr.Row():
                    with gr.Column(scale=1):
                        edit_attribute = gr.Dropdown(list(FACE_ATTRIBUTES), value="male", label="Attribute")
                        edit_amount = gr.Slider(0.25, 3.0, value=1.5, step=0.25, label="How far each way",
                                                info="1 = from the average female face's code to the average male's")  # fmt: skip
                        edit_steps = gr.Slider(3, 15, value=7, step=1, label="Steps in the strip")
                        edit_seed = seed_row("Face seed", 5)
                        edit_photo = face_upload("or a photo", "edit-photo")
                        edit_mode = gr.Radio(CROP_MODES, value="Find the face", label="Face in the photo")
                        edit_go = action("Edit", "edit-go", faces_ready)
                    with gr.Column(scale=3):
                        edit_strip = pixel_image("From less to more", "edit-strip")
                        edit_note = gr.Markdown(elem_id="edit-note")
            edit_go.click(edit_face, [edit_attribute, edit_amount, edit_steps, edit_seed, edit_photo, *face_options,
                                      edit_mode], [edit_strip, edit_note], api_name="edit_face")  # fmt: skip
            with gr.Accordion("Reconstruct your photo (what the model keeps of a face)", open=True):
                with gr.Row():
                    with gr.Column():
                        rec_photo = face_upload("Photo", "reconstruct-in", height=None)
                        with gr.Row():
                            rec_mode = gr.Radio(CROP_MODES, value="Find the face", label="Face")
                            rec_face = gr.Number(value=1, minimum=1, maximum=MAX_FACES, precision=0,
                                                 label="Which face (1 = largest)")  # fmt: skip
                        rec_go = action("Reconstruct", "reconstruct-go", faces_ready)
                    with gr.Column():
                        with gr.Row():
                            rec_crop = gr.Image(label="Face used", elem_id="reconstruct-crop", format="png", type="pil")
                            rec_out = gr.Image(label="Reconstructed", elem_id="reconstruct-out", format="png", type="pil")
                        rec_note = gr.Markdown(elem_id="reconstruct-note")
            rec_inputs = [rec_photo, rec_mode, rec_face]
            faces_drawn = sorted((ROOT / "docs" / "examples").glob("real-*.png"))
            if faces_drawn:  # faces drawn by the transfer model, already cut to a face
                gr.Examples([[str(e), "Use the whole image", 1] for e in faces_drawn], rec_inputs,
                            label="Examples (drawn by our models)")  # fmt: skip
            rec_go.click(reconstruct_face, rec_inputs, [rec_crop, rec_out, rec_note], api_name="reconstruct_face")

        with gr.Tab("Cars"):
            weights_notice("Cars", problems)
            with gr.Row():
                with gr.Column(scale=1):
                    car_view = gr.Dropdown(CAR_VIEWS, value="front-left", label="Viewpoint (left/right: where the nose points)")
                    car_n = gr.Slider(1, 64, value=8, step=1, label="Number of cars")
                    car_seed = seed_row()
                    car_trunc = gr.Slider(0.1, 1.5, value=1.0, step=0.05, label="Truncation (lower: plainer, cleaner cars)")
                    car_go = action("Generate cars", "cars-go", ready("Cars", problems))
                car_out = samples_gallery("Cars", "cars-out")
            gr.Examples([["front-left", 8, 42], ["rear", 16, 7], ["side-right", 8, 3]], [car_view, car_n, car_seed],
                        label="Examples")  # fmt: skip
            car_go.click(sample_cars, [car_view, car_n, car_seed, car_trunc], car_out, api_name="sample_cars")
            with gr.Accordion("Walk around a car (one car in all eight views)", open=True):
                with gr.Row():
                    with gr.Column(scale=1):
                        around_seed = seed_row("Car seed", 4)
                        around_go = action("Walk around", "around-go", ready("Cars", problems))
                    with gr.Column(scale=3):
                        around_strip = pixel_image("Front, front-left, side-left, rear-left, rear, rear-right, "
                                                   "side-right, front-right", "around-strip")  # fmt: skip
                        around_gif = gr.Image(label="Animation", elem_id="around-gif", type="filepath", height=256)
            around_go.click(walk_around_car, [around_seed, car_trunc], [around_strip, around_gif], api_name="walk_around_car")

        with gr.Tab("About"):
            gr.Markdown(about(problems), elem_id="about")
    handlers_check_arguments(demo)
    return demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)


def unknown_endpoint(request, error):
    """An API name this app does not have: a 404 that says where the list is, not a 500 and a traceback."""
    from fastapi.responses import JSONResponse

    log.warning("unknown endpoint: %s", request.url.path)
    return JSONResponse({"error": "No such endpoint here; the list is at /gradio_api/info."}, status_code=404)


def galleries_as_images(server) -> None:
    """MCP tools answer a gallery with text by default; give MCP clients each of its pictures as an image."""
    postprocess = server.postprocess_output_data

    def flattened(data, root_url):
        flat = []
        for output in data:
            gallery = isinstance(output, list) and all(isinstance(item, dict) and "image" in item for item in output)
            flat += [item["image"] for item in output] if gallery else [output]
        return postprocess(flat, root_url)

    server.postprocess_output_data = flattened


def serve(block: bool = True, **options):
    """Launch `demo` with the app's look, error handling and MCP server (every endpoint a tool, at /gradio_api/mcp/);
    `options` go to `launch` (host, port, quiet)."""
    from gradio.route_utils import FnIndexInferError

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo.launch(css=CSS, head=HEAD, theme=gr.themes.Soft(), mcp_server=True, prevent_thread_lock=True,
                app_kwargs={"exception_handlers": {FnIndexInferError: unknown_endpoint}}, **options)  # fmt: skip
    galleries_as_images(demo.mcp_server_obj)
    if block:
        demo.block_thread()


demo = build()

if __name__ == "__main__":
    # Host and port follow Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, defaulting to 127.0.0.1:7860.
    serve(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
