"""The handwriting text parser, the baseline layout and the colours."""

import pytest
import torch

from genmodels import build_tiny
from genmodels.writing import CAP, MAX_CHARS, MAX_LINES, X_HEIGHT, colorize, parse_text, write


@pytest.mark.parametrize(("text", "lines"), [("Hello World", ["Hello World"]), ("abc 123", ["abc 123"]), ("Z", ["Z"]),
                                             (" padded ", ["padded"]), ("two\nlines\r\n", ["two", "lines"])])  # fmt: skip
def test_allowed_text(text, lines):
    assert parse_text(text) == lines


@pytest.mark.parametrize(("text", "named"), [("héllo!", "'!', 'é'"), ("a-b", "'-'"), ("tab\there", "'\\t'")])
def test_rejected_characters_are_named(text, named):
    with pytest.raises(ValueError, match="only letters A-Z, a-z, digits 0-9, spaces and line breaks") as error:
        parse_text(text)
    assert named in str(error.value)


def test_length_limits_and_empty_text():
    parse_text("a" * MAX_CHARS)
    parse_text("\n".join(["a" * (MAX_CHARS // MAX_LINES)] * MAX_LINES))  # line breaks do not count as characters
    with pytest.raises(ValueError, match=f"limit is {MAX_CHARS}"):
        parse_text("a" * (MAX_CHARS + 1))
    with pytest.raises(ValueError, match=f"limit is {MAX_LINES}"):
        parse_text("\n".join("a" * (MAX_LINES + 1)))
    for empty in ("   ", "\n \n", "", None):
        with pytest.raises(ValueError, match="Type some text"):
            parse_text(empty)


def test_write_is_deterministic_by_seed_and_spaces_widen_the_line():
    model = build_tiny("handwriting")
    line = write(model, "ab", seed=3)
    assert line.dim() == 3 and line.shape[0] == 1 and 0 <= line.min() and line.max() <= 1
    torch.testing.assert_close(write(model, "ab", seed=3), line, rtol=0, atol=0)
    assert not torch.equal(write(model, "ab", seed=4), line)
    assert write(model, "a b", seed=3).shape[2] > line.shape[2]
    assert write(model, "a\nb", seed=3).shape[1] > line.shape[1]  # a second line adds height
    assert not torch.equal(write(model, "ab", seed=3, variety=1.0), line)  # variety scales the style latent


def test_one_hand_shares_the_style_latent():
    model = build_tiny("handwriting")
    latents = []
    model.register_forward_pre_hook(lambda module, args: latents.append(args[0].clone()))
    write(model, "abc", seed=5, one_hand=True)
    write(model, "abc", seed=5, one_hand=False)
    one, many = latents
    assert one.shape == many.shape == (3, model.config.latent_dim)
    assert torch.equal(one[0], one[1]) and torch.equal(one[0], one[2])  # one hand: every glyph the same style
    assert not torch.equal(many[0], many[1]) and not torch.equal(many[1], many[2])


class SolidGlyphs(torch.nn.Module):
    """A stand-in generator whose every glyph is a solid 20x20 square of ink: what is left to see is the layout."""

    config = type("Config", (), {"latent_dim": 4})()

    def latents(self, n, seed, truncation=1.0):
        return torch.zeros(n, 4)

    def label_ids(self, chars):
        return torch.zeros(len(chars), dtype=torch.long)

    def forward(self, z, y):
        glyphs = -torch.ones(len(z), 1, 28, 28)
        glyphs[:, :, 4:24, 4:24] = 1
        return glyphs


def ink_rows(page: torch.Tensor) -> tuple[int, int]:
    rows = (page[0] > 0.5).any(dim=1).nonzero()
    return int(rows.min()), int(rows.max()) + 1


def test_glyphs_share_a_baseline_with_ascenders_and_descenders():
    model, scale = SolidGlyphs(), 2
    cap = CAP * scale
    top_a, base_a = ink_rows(write(model, "a", scale=scale))  # x-height letter
    top_capital, base_capital = ink_rows(write(model, "A", scale=scale))
    top_g, bottom_g = ink_rows(write(model, "g", scale=scale))  # descender
    assert base_a == base_capital  # one baseline
    assert base_capital - top_capital == cap and base_a - top_a == round(cap * X_HEIGHT)
    assert top_g == top_a and bottom_g > base_a + cap // 4  # g starts at the x-line and hangs below the baseline


def test_colours_and_transparency():
    coverage = torch.zeros(1, 10, 20)
    coverage[:, 4:6, 5:15] = 1
    image = colorize(coverage, ink="#102030", paper="rgba(250.4, 240, 230, 1)")
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (250, 240, 230) and image.getpixel((6, 5)) == (16, 32, 48)
    clear = colorize(coverage, ink="navy", paper=None)
    assert clear.mode == "RGBA" and clear.getpixel((0, 0))[3] == 0 and clear.getpixel((6, 5)) == (0, 0, 128, 255)
    with pytest.raises(ValueError, match="is not a colour"):
        colorize(coverage, ink="not-a-colour")
