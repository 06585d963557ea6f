"""The analysis against measurements of a real forward (cnntool.check.probes): the inference peak
against the live tensor storages a TorchDispatchMode counts, and the receptive field of
up-sampling against a binarised gradient probe. The whole zoo: bench/peak_memory.py and
bench/rf_probe.py."""
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")

import cnntool  # noqa: E402
from cnntool.check.probes import live_peak, prepare_probe, rf_extents  # noqa: E402
from cnntool.spec.zoo import zoo  # noqa: E402
from cnntool.torch.build import materialise  # noqa: E402

# the zoo models whose CPU forward is cheap (conv + linear MACs up to AlexNet's 1.14 G, so one
# LRN model is among them) and under 150 nodes; bench/peak_memory.py measures the others
SMALL = sorted(name for name in zoo()
               if cnntool.analyze(name).totals.macs < 1.2e9 and len(cnntool.load(name).nodes) < 150)


def measured_peak(model, batch: int = 1) -> int:
    net = materialise(cnntool.build(model, device="meta", init=False))
    return live_peak(net, torch.randn(batch, *model.input_shape))


@pytest.mark.parametrize("name", SMALL)
def test_peak_is_what_a_real_forward_holds(name):
    model = cnntool.load(name)
    assert cnntool.analyze(model).totals.peak_act_bytes == measured_peak(model)


LAYER_CASES = {
    # F.local_response_norm's temporaries: three input-sized tensors at once, the input held
    "lrn": "input: [8, 16, 16]\nlayers:\n  - lrn: 5\n",
    # crop is a view: the whole 24² map stays alive until the concatenation has read the crop
    "crop": ("input: [2, 24, 24]\nlayers:\n  - {conv: {out: 4, kernel: 3, padding: 1}, name: a}\n"
             "  - {conv: {out: 4, kernel: 9}, name: b}\n  - {crop: {like: b}, from: a, name: c}\n"
             "  - {concat: [b, c]}\n"),
    # flatten and dropout are views; an add of three inputs makes no intermediate sum
    "views": ("input: [4, 8, 8]\nlayers:\n  - {conv: {out: 4, kernel: 1}, name: a}\n"
              "  - {conv: {out: 4, kernel: 1}, from: input, name: b}\n  - {add: [input, a, b]}\n"
              "  - flatten\n  - dropout\n  - linear: 3\n"),
    # maxunpool reads the pool's int64 switches, kept alive from the pool to the un-pool
    "switches": ("input: [3, 16, 16]\nlayers:\n  - {maxpool: 2, name: p}\n  - conv: {out: 3, kernel: 3, padding: 1}\n"
                 "  - maxunpool: {indices: p}\n  - conv: {out: 3, kernel: 3, padding: 1}\n"),
    # the RBF's (units × features) difference and its square
    "rbf": "input: [1, 4, 4]\nlayers:\n  - flatten\n  - rbf: 50\n",
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
@pytest.mark.parametrize("batch", [1, 3])
def test_peak_of_each_memory_rule(spec, case, batch):
    model = spec("name: t\n" + LAYER_CASES[case])
    assert cnntool.analyze(model, batch).totals.peak_act_bytes == measured_peak(model, batch)


def probe(spec, mode: str, scale: int, corners: bool | None):
    """Our field of a conv after an up-sampling, and the probe's at 12 neighbouring outputs."""
    options = "" if corners is None else f", align_corners: {str(corners).lower()}"
    model = spec("name: t\ninput: [1, 96, 96]\nlayers:\n"
                 "  - conv: {out: 2, kernel: 3, stride: 2}\n  - conv: {out: 2, kernel: 3, stride: 2}\n"
                 f"  - upsample: {{scale: {scale}, mode: {mode}{options}}}\n  - conv: {{out: 1, kernel: 3}}\n")
    row = cnntool.analyze(model).layers[-1]
    middle = row.out_shape[1] // 2
    net = prepare_probe(cnntool.build(model))
    found = rf_extents(net, torch.ones(1, *model.input_shape), row.name,
                       [(middle + k, middle) for k in range(-6, 6)])
    return row.rf.size[0], [e.h for e in found]


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_upsample_field_by_two_is_exact_at_every_pixel(spec, mode):
    # with an even scale no output falls on an input pixel: each reads 1, 2 or 4 rows of inputs
    ours, found = probe(spec, mode, 2, None)
    assert found == [ours] * len(found)
    assert ours == {"nearest": 11, "bilinear": 15, "bicubic": 23}[mode]  # 7 + (taps − 1)·4 + 2·2


def test_nearest_field_is_the_mean_over_output_positions(spec):
    ours, found = probe(spec, "nearest", 3, None)
    assert ours == Fraction(sum(found), len(found))  # 29/3: 7, 11, 11 repeating


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_odd_scales_lie_within_the_measured_range(spec, mode):
    # an odd scale puts one output in three on an input pixel, which it reads alone: the size
    # given is that of the others' taps, between the probe's extremes
    ours, found = probe(spec, mode, 3, None)
    assert min(found) < ours < max(found) == 7 + ({"bilinear": 2, "bicubic": 4}[mode] - 1) * 4 + 4


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("scale", [2, 3])
def test_align_corners_is_within_a_pixel_of_the_measured_mean(spec, mode, scale):
    # align_corners makes the jump (i − 1)/(o − 1) = 22/45 for scale 2 here, not 1/2: a mean
    # over output positions, while the union of a 3×3 window's taps is a whole number of pixels
    ours, found = probe(spec, mode, scale, True)
    assert abs(ours - Fraction(sum(found), len(found))) < 1
