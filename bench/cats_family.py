"""Why the cats tab's default model is a GAN: the cost of 16 64x64 images from the GAN generator versus a compact
diffusers UNet2DModel with a fast sampler, on this CPU. Not run in CI.

    python bench/cats_family.py [--threads 2]

A diffusion model needs one UNet pass per sampling step (20 with DPM-Solver++, a fast scheduler); the GAN needs
one generator pass in all. The UNet here is small for a 64x64 diffusion model (about the size of the diffusers
training example's), untrained: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import median_ms  # noqa: E402  (bench/bench.py, beside this script)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=20, help="diffusion sampling steps (DPM-Solver++: about 20)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    from diffusers import UNet2DModel

    from genmodels.gan import Generator

    gan = Generator(resolution=64, latent_dim=128, base_channels=64, last_channels=32).eval()  # the shipped shape
    unet = UNet2DModel(sample_size=64, block_out_channels=(64, 128, 128, 256), layers_per_block=2,
                       down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D")).eval()  # fmt: skip
    x, t = torch.randn(16, 3, 64, 64), torch.full((16,), 500)
    with torch.no_grad():
        gan_ms = median_ms(lambda: gan.sample(16, seed=0), 5)
        unet_ms = median_ms(lambda: unet(x, t).sample, 5)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    print(f"torch {torch.__version__}, {options.threads} threads, 16 images at 64x64, fp32")
    print("| model | parameters (M) | passes | ms for 16 images |\n|---|---|---|---|")
    print(f"| GAN generator | {count(gan):.1f} | 1 | {gan_ms:.0f} |")
    print(f"| UNet2DModel + {options.steps}-step sampler | {count(unet):.1f} | {options.steps} | "
          f"{unet_ms * options.steps:.0f} ({unet_ms:.0f} per pass) |")  # fmt: skip


if __name__ == "__main__":
    main()
