"""The handwriting text parser and layout."""

import pytest
import torch

from genmodels import build_tiny
from genmodels.writing import MAX_CHARS, parse_text, write


@pytest.mark.parametrize("text", ["Hello World", "abc 123", "Z", " padded "])
def test_allowed_text(text):
    assert parse_text(text) == text.strip()


@pytest.mark.parametrize(("text", "named"), [("héllo!", "'!', 'é'"), ("a-b", "'-'"), ("tab\there", "'\\t'")])
def test_rejected_characters_are_named(text, named):
    with pytest.raises(ValueError, match="only letters A-Z, a-z, digits 0-9 and spaces") as error:
        parse_text(text)
    assert named in str(error.value)


def test_length_limit_and_empty_text():
    parse_text("a" * MAX_CHARS)
    with pytest.raises(ValueError, match=f"limit is {MAX_CHARS}"):
        parse_text("a" * (MAX_CHARS + 1))
    with pytest.raises(ValueError, match="Type some text"):
        parse_text("   ")


def test_write_is_deterministic_and_spaces_widen_the_line():
    model = build_tiny("handwriting")
    line = write(model, "ab", seed=3)
    assert line.dim() == 3 and line.shape[:2] == (1, 28)
    torch.testing.assert_close(write(model, "ab", seed=3), line, rtol=0, atol=0)
    assert write(model, "a b", seed=3).shape[2] > line.shape[2]


def test_one_hand_shares_the_style_latent():
    model = build_tiny("handwriting")
    one = write(model, "aa", seed=5, one_hand=True)
    half = one.shape[2] // 2
    torch.testing.assert_close(one[:, :, :half], one[:, :, half:])  # same character, same hand: same glyph
    many = write(model, "aa", seed=5, one_hand=False)
    assert not torch.equal(many[:, :, : many.shape[2] // 2], many[:, :, many.shape[2] // 2 :])
