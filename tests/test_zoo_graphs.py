"""The graph families of the zoo (ResNet v1/v1.5 and CIFAR, GoogLeNet, U-Net, DeconvNet, HRNet,
YOLO v1): each spec reproduces the published numbers in its `expect:` blocks, and where torch is
installed the analytic counts equal those of torchvision's modules (references) and fvcore's count
of the module cnntool builds from the spec (oracles). Sources: /work/shared/references.md.
"""
from pathlib import Path

import pytest

import cnntool
from cnntool.spec.expect import evaluate
from cnntool.spec.zoo import zoo

FILES = ("resnet.yaml", "resnet_cifar.yaml", "googlenet.yaml", "unet.yaml", "deconvnet.yaml",
         "hrnet.yaml", "yolo.yaml")
MINE = {name: entry for name, entry in zoo().items() if Path(entry.spec.path).name in FILES}


def test_every_family_is_in_the_zoo():
    assert {Path(e.spec.path).name for e in MINE.values()} == set(FILES)


@pytest.mark.parametrize("name", sorted(MINE))
def test_expectations_hold(name):
    model = MINE[name].model()
    count, failures = evaluate(model.expect, cnntool.analyze(model))
    assert count > 0 and all(block.source for block in model.expect)
    assert not failures, "\n".join(f"{f.check.loc}: {f}" for f in failures)


# -- relations between variants, as the papers state them ----------------------------------------

@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_resnet_layouts_share_weights_and_v1_5_costs_0_23_g_more(depth):
    # references.md: "torchvision's v1.5 layout costs about 0.23 G more" (bottlenecks only)
    v15, v1 = cnntool.analyze(f"resnet{depth}").totals, cnntool.analyze(f"resnet{depth}-v1").totals
    assert v15.params == v1.params
    extra = (v15.macs - v1.macs) / 1e9
    assert round(extra, 2) == (0.23 if depth >= 50 else 0.0)


@pytest.mark.parametrize("depth, millions", [(20, "0.27"), (32, "0.46"), (44, "0.66"), (56, "0.85"),
                                             (110, "1.7"), (1202, "19.4")])
def test_cifar_resnets_table6_and_plain_twins(depth, millions):
    # ResNet paper §4.2: 6n + 2 weighted layers; Table 6 parameters; option A adds none
    residual = cnntool.analyze(cnntool.load("resnet20", {"depth": depth}))
    plain = cnntool.analyze(cnntool.load("plain20", {"depth": depth}))
    n = (depth - 2) // 6
    kinds = residual.totals.by_kind
    assert kinds["conv"].layers + kinds["linear"].layers == 6 * n + 2
    assert kinds["shortcut_a"].params == 0 and kinds["add"].layers == 3 * n
    assert plain.totals.params == residual.totals.params
    assert round(residual.totals.params / 1e6, len(millions.split(".")[1])) == float(millions)


def test_unet_has_23_convolutional_layers():
    kinds = cnntool.analyze("unet").totals.by_kind  # 18 3×3 + 1 1×1 (conv) + 4 up-convs (deconv)
    assert (kinds["conv"].layers, kinds["deconv"].layers) == (19, 4)


def test_googlenet_inception_widths_add_up():
    # GoogLeNet Table 1: the output depth is #1×1 + #3×3 + #5×5 + pool proj
    report = cnntool.analyze("googlenet-paper")
    rows = {"3a": (64, 128, 32, 32), "4e": (256, 320, 128, 128), "5b": (384, 384, 128, 128)}
    for module, widths in rows.items():
        assert report.row(f"inception{module}.concat1").out_shape[0] == sum(widths)


# -- oracles: torchvision's modules and fvcore ------------------------------------------------------

REFERENCED = sorted(name for name in MINE if MINE[name].model().reference)


def _torchvision(reference: str, device: str = "cpu"):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    name = reference.rsplit(".", 1)[1]
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device(device):
        return getattr(models, name)(weights=None, **kwargs)


def test_reference_variants_are_the_torchvision_ones():
    assert REFERENCED == ["googlenet", "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
                          "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d", "wide_resnet101_2",
                          "wide_resnet50_2"]


@pytest.mark.slow  # a real torch build, trace or timing
@pytest.mark.parametrize("name", REFERENCED)
def test_params_equal_torchvision(name):
    model = MINE[name].model()
    net = _torchvision(model.reference, device="meta")  # counts only: allocate nothing
    assert sum(p.numel() for p in net.parameters()) == cnntool.analyze(model).totals.params


def _fvcore(net, shape):
    torch = pytest.importorskip("torch")
    fvcore = pytest.importorskip("fvcore.nn")
    with torch.no_grad():
        counter = fvcore.FlopCountAnalysis(net.eval(), torch.zeros(1, *shape))
        counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return counter.total(), counter.by_operator()


@pytest.mark.slow  # a real torch build, trace or timing
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "googlenet"])
def test_macs_equal_fvcore_on_torchvision(name):
    # references.md: conv + linear MACs are what fvcore counts as conv and linear (batch 1)
    model = MINE[name].model()
    net = _torchvision(model.reference)
    total, ops = _fvcore(net, model.input_shape)
    report = cnntool.analyze(model)
    assert ops["conv"] + ops["linear"] == report.totals.macs
    if name.startswith("resnet"):  # same ops as torchvision (googlenet's head pools 7×7, not adaptively)
        assert total == report.totals.fvcore


# yolo (20 G MACs) and deconvnet (33 G), whose heads fix their input, are compared the same way
# at full size by `cnntool check model_specs/` in CI (steps 3-4), not twice
@pytest.mark.parametrize("name, shape", [
    ("resnet50-v1", None), ("resnet20", None), ("plain20", None), ("googlenet-paper", None),
    ("hrnet-w18-c", (3, 64, 64)), ("unet", (1, 188, 188)),
])
@pytest.mark.slow  # a real torch build, trace or timing
def test_built_module_matches_analysis_and_fvcore(name, shape):
    """The module cnntool builds from the spec: same parameters, output shape, MACs and fvcore total."""
    torch = pytest.importorskip("torch")
    model = MINE[name].model()
    shape = shape or model.input_shape
    report = cnntool.analyze(model, input_shape=shape)
    net = cnntool.build(model, shape, init=False)
    assert sum(p.numel() for p in net.parameters()) == report.totals.params
    with torch.no_grad():
        assert tuple(net.eval()(torch.zeros(1, *shape)).shape[1:]) == report.layers[-1].out_shape
    total, ops = _fvcore(net, shape)
    assert ops.get("conv", 0) + ops.get("linear", 0) == report.totals.macs
    assert total == report.totals.fvcore
