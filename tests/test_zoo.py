"""Every built-in model reproduces the published numbers in its `expect:` blocks.

The numbers and their sources live beside each spec (model_specs/*.yaml, `expect:` with
`source:`), as torchvision keeps `num_params`/`_ops` beside its weights.
"""
import pytest

import cnntool
from cnntool.spec.expect import evaluate
from cnntool.spec.zoo import zoo

ZOO = zoo()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_expectations_hold(name):
    model = ZOO[name].model()
    count, failures = evaluate(model.expect, cnntool.analyze(model))
    assert not failures, "\n".join(f"{f.check.loc}: {f}" for f in failures)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_builtin_names_its_sources(name):
    model = ZOO[name].model()
    assert model.expect, f"{name} has no expect: block"
    assert all(block.source for block in model.expect)
    assert model.source, f"{name} names no source for its architecture"


@pytest.mark.parametrize("name", sorted(ZOO))
def test_rows_sum_to_totals(name):
    report = cnntool.analyze(ZOO[name].model(), batch=2)
    rows = report.layers
    assert sum(r.params for r in rows) == report.totals.params
    assert sum(r.macs for r in rows) == report.totals.macs
    assert sum(r.flops for r in rows) == report.totals.flops
    assert report.totals.flops >= 2 * report.totals.macs
    assert sum(k.params for k in report.totals.by_kind.values()) == report.totals.params


def test_vgg_table2_and_torchvision():
    # torchvision 0.29.1 metadata (references.md): num_params and conv+linear MACs (R)
    expected = {"vgg11": (132_863_336, 7_609_090_048), "vgg13": (133_047_848, 11_308_466_176),
                "vgg16": (138_357_544, 15_470_264_320), "vgg19": (143_667_240, 19_632_062_464)}
    for name, (params, macs) in expected.items():
        totals = cnntool.analyze(name).totals
        assert (totals.params, totals.macs) == (params, macs), name
    # VGG paper Table 2 (millions): A 133, A-LRN 133, B 133, C 134, D 138, E 144
    table2 = {"vgg11": 133, "vgg11-lrn": 133, "vgg13": 133, "vgg16-c": 134, "vgg16": 138, "vgg19": 144}
    for name, millions in table2.items():
        assert round(cnntool.analyze(name).totals.params / 1e6) == millions, name


def test_vgg_c_exact():
    # references.md, VGG: config C reproduced with PyTorch (R)
    totals = cnntool.analyze("vgg16-c").totals
    assert (totals.params, totals.macs) == (133_638_952, 11_770_888_192)


def test_vgg16_receptive_field_at_pool5():
    # three stacked 3×3 convs see 7×7 (VGG paper §2.3); pool5 of VGG-16 sees 212×212 pixels
    report = cnntool.analyze("vgg16")
    assert report.row("stage1.conv2").rf.size == (5, 5)
    assert report.row("stage5.maxpool1").rf.size == (212, 212)
    assert report.row("stage5.maxpool1").rf.jump == (32, 32)


def test_stacked_3x3_weights_vs_7x7(spec, analyze):
    # VGG paper §2.3: three 3×3 layers of C channels have 27C² weights, one 7×7 layer 49C²
    c = 64
    three = spec(f"name: a\ninput: [{c}, 32, 32]\nlayers:\n  - conv: {{out: {c}, kernel: 3, padding: 1, bias: false}}\n"
                 "    repeat: 3\n")
    seven = spec(f"name: b\ninput: [{c}, 32, 32]\nlayers:\n  - conv: {{out: {c}, kernel: 7, padding: 3, bias: false}}\n")
    assert analyze(three).totals.params == 27 * c * c
    assert analyze(seven).totals.params == 49 * c * c
