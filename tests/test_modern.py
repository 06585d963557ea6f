"""Issue 10's language features: `in.c`, conditional residuals, functions, exponent floats, unread nodes."""
import pytest

import cnntool
from cnntool.errors import SpecError
from cnntool.spec.file import SpecFile


def model(text, **kw):
    return SpecFile("t.yaml", text=text).model(**kw)


def rows(text, **kw):
    return {r.name: r for r in cnntool.analyze(model(text, **kw)).layers}


DEPTHWISE = """
name: t
input: [16, 8, 8]
blocks:
  dw:
    args: {mid: "${in.c * 2}"}
    layers:
      - conv: {out: $mid, kernel: 1}
      - conv: {out: "${in.c}", kernel: 3, padding: 1, groups: "${in.c}"}
layers:
  - dw
  - conv: {out: 3, kernel: "${in.h}"}
"""


def test_in_c_makes_a_depthwise_conv_without_passing_widths():
    r = rows(DEPTHWISE)
    # a depthwise 3×3 on 32 maps: 32·9 weights + 32 biases (hand count)
    assert r["dw1.conv2"].params == 32 * 9 + 32 and r["dw1.conv2"].detail == "3×3/1 p1 g32"
    assert r["dw1.conv1"].out_shape == (32, 8, 8)  # the argument default read the block's input
    assert r["conv1"].out_shape == (3, 1, 1)  # kernel = in.h covers the map


def test_in_h_follows_another_input_size():
    m = model(DEPTHWISE)
    at = {r.name: r for r in cnntool.analyze(m, input_shape=(16, 12, 12)).layers}
    assert at["conv1"].detail == "12×12/1" and at["conv1"].out_shape == (3, 1, 1)
    assert cnntool.analyze(m).layers[-1].detail == "8×8/1"


def test_in_on_a_vector_has_no_h():
    with pytest.raises(SpecError, match=r"in.h: the input is a vector"):
        model("name: t\ninput: [3, 4, 4]\nlayers:\n  - flatten\n  - linear: '${in.h}'\n")


def test_in_in_if_and_from():
    text = """
name: t
input: [8, 4, 4]
layers:
  - conv: {out: 4, kernel: 1}
    name: a
  - relu:
    if: ${in.c == 8}
  - conv: {out: 2, kernel: 1}
    from: input
    if: ${in.c == 8}
"""
    r = rows(text)
    assert "relu1" not in r and r["conv1"].in_shapes == ((8, 4, 4),)
