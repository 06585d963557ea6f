"""Output sizes of conv, pooling, transposed conv, up-sampling, un-pooling and crop, checked
against the relationships of Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning" (arXiv:1603.07285), each test naming its relationship and the guide's worked example.

Everything goes through a one-layer spec and cnntool.analyze, as a user's spec would. The guide
describes a transposed convolution by the direct convolution it transposes (k, s, p, and a for
the odd case); PyTorch's ConvTranspose2d, and so `deconv`, takes exactly those numbers
(padding = p, output_padding = a), so o' = s(i' − 1) + a + k − 2p.
"""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnntool
from cnntool.spec.file import SpecFile


def shape(i: int, *layers: dict, channels: int = 1) -> list[int]:
    """Output (C, H, W) of the layers applied to a channels × i × i input."""
    text = f"name: arithmetic\ninput: [{channels}, {i}, {i}]\nlayers:\n"
    text += "".join(f"  - {json.dumps(layer)}\n" for layer in layers)
    report = cnntool.analyze(SpecFile("arithmetic.yaml", text=text).model())
    return list(report.layers[-1].out_shape)


def conv(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    return shape(i, {"conv": {"out": 1, "kernel": k, "stride": s, "padding": p, "dilation": d}})[1]


def deconv(i: int, k: int, s: int = 1, p: int = 0, a: int = 0) -> int:
    return shape(i, {"deconv": {"out": 1, "kernel": k, "stride": s, "padding": p, "output_padding": a}})[1]


# -- direct convolutions (chapter 2) ---------------------------------------------------------

def test_relationship_1_no_padding_unit_strides():
    assert conv(4, 3) == 2  # the guide's example: i = 4, k = 3 → o = (i − k) + 1
    for i, k in [(5, 1), (7, 7), (32, 5)]:
        assert conv(i, k) == (i - k) + 1


def test_relationship_2_zero_padding_unit_strides():
    assert conv(5, 4, p=2) == 6  # i = 5, k = 4, p = 2 → o = (i − k) + 2p + 1
    for i, k, p in [(6, 3, 1), (10, 5, 4)]:
        assert conv(i, k, p=p) == (i - k) + 2 * p + 1


def test_relationship_3_half_padding():
    assert conv(5, 3, p=1) == 5  # k = 2n + 1, p = n → o = i
    for i, n in [(8, 2), (13, 3)]:
        assert conv(i, 2 * n + 1, p=n) == i
    assert shape(9, {"conv": {"out": 4, "kernel": 5, "padding": "same"}}) == [4, 9, 9]


def test_relationship_4_full_padding():
    assert conv(5, 3, p=2) == 7  # p = k − 1 → o = i + (k − 1)
    assert conv(6, 4, p=3) == 6 + 3


def test_relationship_5_no_padding_non_unit_strides():
    assert conv(5, 3, s=2) == 2  # o = floor((i − k) / s) + 1
    assert conv(6, 3, s=2) == 2  # the floor drops the last column


def test_relationship_6_zero_padding_non_unit_strides():
    assert conv(5, 3, s=2, p=1) == 3  # o = floor((i + 2p − k) / s) + 1
    assert conv(6, 3, s=2, p=1) == 3  # the guide's "odd" example: same o from a larger i
    assert conv(224, 7, s=2, p=3) == 112  # ResNet's conv1 (floor of 112.5)


def test_relationship_7_pooling():
    for kind in ("maxpool", "avgpool"):
        assert shape(5, {kind: {"kernel": 3, "stride": 1}})[1] == 3  # 3×3 pooling on 5×5, unit strides
        assert shape(7, {kind: {"kernel": 2, "stride": 2}})[1] == 3  # floor((7 − 2) / 2) + 1


def test_relationship_15_dilation():
    assert conv(7, 3, d=2) == 3  # i = 7, k = 3, d = 2: o = floor((i + 2p − k − (k − 1)(d − 1)) / s) + 1
    assert conv(16, 3, s=2, p=2, d=2) == (16 + 4 - 3 - 2) // 2 + 1


# -- transposed convolutions (chapter 4) -------------------------------------------------------

def test_relationship_8_transposed_no_padding_unit_strides():
    assert deconv(2, 3) == 4  # transpose of i = 4, k = 3: o' = i' + (k − 1)
    assert deconv(5, 4) == 5 + 3


def test_relationship_9_transposed_zero_padding_unit_strides():
    assert deconv(6, 4, p=2) == 5  # transpose of i = 5, k = 4, p = 2: o' = i' + (k − 1) − 2p


def test_relationship_10_transposed_half_padding():
    assert deconv(5, 3, p=1) == 5  # o' = i'
    assert deconv(9, 7, p=3) == 9


def test_relationship_11_transposed_full_padding():
    assert deconv(7, 3, p=2) == 5  # transpose of i = 5, k = 3, p = 2: o' = i' − (k − 1)


def test_relationship_12_transposed_no_padding_non_unit_strides():
    assert deconv(2, 3, s=2) == 5  # transpose of i = 5, k = 3, s = 2: o' = s(i' − 1) + k
    assert deconv(28, 2, s=2) == 56  # U-Net's 2×2 up-convolution doubles the map


def test_relationship_13_transposed_zero_padding_non_unit_strides():
    assert deconv(3, 3, s=2, p=1) == 5  # transpose of i = 5, k = 3, s = 2, p = 1: s(i' − 1) + k − 2p


def test_relationship_14_transposed_odd_case_needs_a():
    # i = 6, k = 3, s = 2, p = 1 gives 3, as i = 5 does; a = (i + 2p − k) mod s = 1 tells them apart
    assert conv(6, 3, s=2, p=1) == conv(5, 3, s=2, p=1) == 3
    assert deconv(3, 3, s=2, p=1, a=1) == 6  # o' = s(i' − 1) + a + k − 2p
    assert deconv(3, 3, s=2, p=1, a=0) == 5


@settings(max_examples=40, deadline=None)
@given(i=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3))
def test_relationship_14_transposed_conv_restores_the_input_size(i, k, s, p):
    if i + 2 * p < k:
        return  # the direct convolution has no output
    o = conv(i, k, s, p)
    assert o == (i + 2 * p - k) // s + 1  # relationship 6
    assert deconv(o, k, s, p, a=(i + 2 * p - k) % s) == i


# -- up-sampling, un-pooling and crop -------------------------------------------------------------

def test_upsampling_multiplies_the_size():
    assert shape(7, {"upsample": 2}) == [1, 14, 14]
    assert shape(7, {"upsample": {"scale": 4, "mode": "bilinear"}}) == [1, 28, 28]


def test_max_unpool_restores_the_pooled_input_size_even_when_the_pool_floored():
    layers = [{"maxpool": {"kernel": 2, "stride": 2}, "name": "pool"}, {"maxunpool": {"indices": "pool"}}]
    assert shape(8, *layers) == [1, 8, 8]
    assert shape(7, *layers) == [1, 7, 7]  # 7 → 3 → 7, where s(i' − 1) + k would give 6


def test_crop_to_another_node():
    # U-Net's first skip: the 568×568 encoder map is centre-cropped to the 392×392 up-conv output
    layers = [{"conv": {"out": 2, "kernel": 3}, "name": "enc"},  # 570 → 568
              {"maxpool": 2}, {"conv": {"out": 2, "kernel": 89}},  # → 284 → 196
              {"deconv": {"out": 2, "kernel": 2, "stride": 2}, "name": "up"},  # → 392
              {"crop": {"like": "up"}, "from": "enc"}]
    assert shape(570, *layers) == [2, 392, 392]
    assert shape(5, {"crop": {"size": [3, 2]}}) == [1, 3, 2]


# -- the same arithmetic in PyTorch ------------------------------------------------------------

CASES = [  # (i, k, s, p, a), the guide's examples above
    (4, 3, 1, 0, 0), (5, 4, 1, 2, 0), (5, 3, 1, 1, 0), (5, 3, 1, 2, 0), (5, 3, 2, 0, 0),
    (5, 3, 2, 1, 0), (6, 3, 2, 1, 1), (7, 3, 1, 0, 0),
    (3, 1, 1, 1, 0), (9, 2, 3, 2, 2),  # padding beyond the kernel; a = 2 with s = 3
]


@pytest.mark.parametrize("i, k, s, p, a", CASES)
def test_torch_agrees(i, k, s, p, a):
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 1, i, i)
    o = torch.nn.Conv2d(1, 1, k, s, p)(x).shape[-1]
    assert conv(i, k, s, p) == o
    y = torch.nn.ConvTranspose2d(1, 1, k, s, p, output_padding=a)(torch.zeros(1, 1, o, o))
    assert deconv(o, k, s, p, a) == y.shape[-1] == i
