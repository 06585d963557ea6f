"""`cnntool import`: torchvision models → specs that analyse, build and check like the model.

Every expected number is measured on the real model in the test itself (sum of parameters,
torch.utils.flop_counter.FlopCounterMode / 2 for conv/linear MACs, the output of a forward) or
read from torchvision's installed weights metadata (`num_params`, `_ops`), never typed in.
Every torchvision CNN is imported and compared (the 15 of MODELS by default, the rest marked
slow); the full `cnntool check` (fvcore on a CPU forward) runs for resnet18 by default and for
all of MODELS with CNNTOOL_SLOW=1.
"""
import functools
import os
import re

import pytest
import typer
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import cnntool  # noqa: E402
from cnntool.check.run import Status, check_paths  # noqa: E402
from cnntool.cli.import_ import register  # noqa: E402
from cnntool.spec.file import SpecFile  # noqa: E402
from cnntool.torch.import_spec import import_spec
from cnntool.torch.importer import ImportFailure, build_model  # noqa: E402

SLOW = bool(os.environ.get("CNNTOOL_SLOW"))
tvm = torchvision.models
# attention models: not CNNs (the modern-CNN issue leaves them out); every other model is imported
ATTENTION = {"vision_transformer": "ViT", "swin_transformer": "Swin", "maxvit": "MaxViT"}
# the keyword arguments of the inference network: no auxiliary heads (their weights' num_params
# has none for googlenet; the hand-written inception_v3 is compared with `aux: false`)
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
          "inception_v3": {"aux_logits": False, "init_weights": False}}


def _family(name: str) -> str:
    return tvm.get_model_builder(name).__module__.rpartition(".")[2]


CNNS = [n for n in tvm.list_models(module=tvm) if _family(n) not in ATTENTION]
# the default set: one per family, and the models with mappings of their own (CI runs the rest)
MODELS = ["alexnet", "vgg11_bn", "resnet18", "resnet50", "googlenet", "inception_v3", "squeezenet1_1",
          "densenet121", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "mnasnet0_5",
          "regnet_x_400mf", "shufflenet_v2_x0_5", "convnext_tiny"]

app = typer.Typer()
register(app)


@app.callback()
def _root() -> None:  # keeps `import` a subcommand, as in the cnntool app
    pass


@functools.cache
def _zoo() -> dict[str, "cnntool.spec.zoo.ZooEntry"]:
    """torchvision builder name → the hand-written zoo spec whose `reference:` names it."""
    from cnntool.spec.zoo import zoo
    return {e.model().reference.rpartition(".")[2]: e for e in zoo().values() if e.model().reference}


def _zoo_model(name: str):
    if name == "inception_v3":  # `aux: false` on the file's base spec (the variant's expect checks AuxLogits)
        return _zoo()[name].spec.model(None, {"aux": False})
    return _zoo()[name].model()


def _input(name: str) -> tuple[int, ...]:
    return _zoo()[name].model().input_shape  # inception_v3: 3×299×299, as its hand-written spec


@functools.cache
def _text(name: str) -> str:
    return import_spec(f"torchvision.models.{name}", KWARGS.get(name, {}), _input(name))


def imported(tmp_path, name: str, **kwargs) -> tuple[str, "torch.nn.Module"]:
    text = import_spec(f"torchvision.models.{name}", kwargs, _input(name)) if kwargs else _text(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path), build_model(f"torchvision.models.{name}", kwargs or KWARGS.get(name, {}))


def measured(model, shape=(3, 224, 224)) -> tuple[int, int, tuple[int, ...]]:
    """Parameters, FlopCounterMode / 2 and the output shape of the real model (on meta)."""
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.empty(1, *shape, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


def test_every_model_but_the_attention_ones_is_imported():
    left_out = [n for n in tvm.list_models(module=tvm) if n not in CNNS]
    assert {_family(n) for n in left_out} == set(ATTENTION)  # each family left out still exists
    assert all(n.startswith(("vit_", "swin_", "maxvit_")) for n in left_out), left_out
    assert set(MODELS) <= set(CNNS) and set(CNNS) <= set(_zoo())  # every CNN has a hand-written spec
    assert {_family(n) for n in MODELS} == {_family(n) for n in CNNS}  # the default set: every family


@pytest.mark.parametrize("name", [n if n in MODELS else pytest.param(n, marks=pytest.mark.slow) for n in CNNS])
def test_import_counts_like_the_model_and_the_zoo_spec(tmp_path, name):
    path, model = imported(tmp_path, name)
    report = cnntool.analyze(SpecFile(path).model())
    params, macs, out = measured(model, _input(name))
    assert (report.totals.params, report.totals.macs, report.layers[-1].out_shape) == (params, macs, out)
    zoo = cnntool.analyze(_zoo_model(name)).totals
    # fvcore's column may differ: the import keeps torchvision's pooling modules (vgg16's
    # AdaptiveAvgPool2d((7, 7)) on a 7×7 map, googlenet's AdaptiveAvgPool2d), which fvcore counts
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (zoo.params, zoo.buffers, zoo.macs)
    result = check_paths([path], fast=True).models[0]  # parse + the measured expect block
    assert result.status is Status.ok, result.issues
    net = cnntool.build(SpecFile(path).model(), device="meta")
    assert tuple(net(torch.empty(2, *_input(name), device="meta")).shape) == (2, *out)


def test_import_matches_torchvision_metadata(tmp_path):
    # torchvision 0.29.1's ResNet50_Weights.IMAGENET1K_V1.meta, read from the installed package
    meta = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta
    report = cnntool.analyze(SpecFile(imported(tmp_path, "resnet50")[0]).model())
    assert report.totals.params == meta["num_params"]
    assert round(report.totals.macs / 1e9, 3) == meta["_ops"]


@pytest.mark.parametrize("name", [n for n in MODELS if SLOW or n == "resnet18"])
def test_import_then_check_passes(tmp_path, name):
    path, _ = imported(tmp_path, name)
    result = check_paths([path]).models[0]
    assert result.status is Status.ok, result.issues
    # step 5 runs where the file names its torchvision reference (inception_v3 without aux: none)
    reference = SpecFile(path).model().reference
    assert [s.status for s in result.steps] == [Status.ok] * 4 + [Status.ok if reference else Status.none]


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "convnext_tiny"])
def test_round_trip_state_dict(tmp_path, name):
    path, _ = imported(tmp_path, name)
    net = cnntool.build(SpecFile(path).model())
    model = getattr(torchvision.models, name)(**KWARGS.get(name, {}))
    shapes = [(k, tuple(p.shape)) for k, p in model.state_dict().items()]
    if name == "convnext_tiny":  # CNBlock's bare layer_scale parameter: our module's γ, its state_dict key
        assert sorted((k, tuple(p.shape)) for k, p in net.state_dict().items()) == sorted(shapes)
        with torch.no_grad():  # γ = 1e-6 would hide every block's output
            for k, p in model.named_parameters():
                p.fill_(1.0) if k.endswith("layer_scale") else None
    else:
        assert [(k, tuple(p.shape)) for k, p in net.named_parameters()] == \
            [(k, tuple(p.shape)) for k, p in model.named_parameters()]
    net.load_state_dict(model.state_dict(), strict=True)
    net.eval(), model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-5)


def test_no_reference_when_modules_are_left_out(tmp_path):
    # check's reference inception_v3(init_weights=False) keeps AuxLogits, which eval never calls
    path, model = imported(tmp_path, "inception_v3", init_weights=False)
    spec = SpecFile(path).model()
    aux = sum(p.numel() for p in model.AuxLogits.parameters())
    assert spec.reference is None and f"AuxLogits ({aux:,} parameters) is never called" in spec.notes
    assert check_paths([path], fast=True).models[0].status is Status.ok


def test_names_match_named_modules(tmp_path):
    path, model = imported(tmp_path, "resnet50")
    names = {n.name for n in SpecFile(path).model().nodes}
    weighted = {n for n, m in model.named_modules() if list(m.parameters(recurse=False))}
    assert weighted <= names
    assert {"layer1.0.downsample.0", "layer4.2.conv3", "fc"} <= names


def test_readable_resnet50(tmp_path):
    text = open(imported(tmp_path, "resnet50")[0]).read()
    assert "for: {out: [64, 128, 256, 512], stride: [1, 2, 2, 2], n: [3, 4, 6, 3]}" in text
    assert 'for: {i: "${range(1, n)}"}' in text
    assert "conv: {kernel: 1, bias: false}" in text.split("blocks:")[0]  # defaults: the common conv settings


@pytest.mark.parametrize("name", ["convnext_tiny", "efficientnet_b0"])
def test_stochastic_depth_ramp_is_one_for_and_exact(tmp_path, name):
    # each block's StochasticDepth.p differs (torchvision: stochastic_depth_prob * k / blocks):
    # written as an expression of the block's number, a stage is one `for`, and every
    # probability the spec means is the model's float, to the last bit
    path, _ = imported(tmp_path, name)
    model = getattr(torchvision.models, name)()  # on the CPU: p is a Python float either way
    theirs = {k: m.p for k, m in model.named_modules() if isinstance(m, torchvision.ops.StochasticDepth)}
    ours = {n.name: n.layer.p for n in SpecFile(path).model().nodes if n.kind == "droppath"}
    assert ours and all(ours[k] == theirs[k] for k in ours) and len(set(ours.values())) == len(ours)
    text = open(path).read()
    assert 'k: "${k + i}"' in text and text.count("droppath:") == len(set(re.findall(r'droppath: "([^"]+)"', text)))
    assert not re.search(r"droppath: 0\.\d", text)  # no probability left as a literal


def test_ramp_without_an_exact_expression_stays_literal():
    from cnntool.spec.writer_runs import ramps, step
    from cnntool.spec.writer import Op
    ops = [Op(f"d{k}", "droppath", {"p": p}, ("input",), ()) for k, p in enumerate([0.0, 0.1 / 3, 0.3, 0.31])]
    assert ramps(ops) == {}
    exact = [Op(f"d{k}", "droppath", {"p": 0.1 * k / 17}, ("input",), ()) for k in (0, 1, 2, 5, 6)]
    assert [(r.scale, r.k, r.div) for r in ramps(exact).values()] == [(0.1, k, 17) for k in (0, 1, 2, 5, 6)]
    assert step([3, 4, 5], 1).text() == "2 + i" and step([7, 7], 0) == 7 and step([1, 2, 4], 0) is None


class WithAttention(torch.nn.Module):
    """A conv, then self-attention over the positions: MultiheadAttention has no layer kind."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        x = self.conv(x).flatten(2).transpose(1, 2)  # (N, positions, channels)
        y, _ = self.attn(x, x, x)
        return y


def test_unsupported_ops_are_listed():
    with pytest.raises(ImportFailure) as info:
        import_spec("test_import:WithAttention", input_shape=(3, 8, 8))
    text = str(info.value)
    assert "torch.nn.modules.activation.MultiheadAttention at attn (1×)" in text
    assert "flatten(2, -1)" in text and "Tensor.transpose at the model (1×)" in text
    assert text.startswith("3 calls have no layer kind")  # the getitem of attn's (out, weights) is folded in


class WithInstanceNorm(torch.nn.Module):
    """InstanceNorm2d has no layer kind; it keeps the shape, so an opaque node can stand in."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.InstanceNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.norm(self.conv(x)), 1), 1))


class WithBias(torch.nn.Module):
    """A bare parameter added to a map (a learned positional bias): no kind reads it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.pos = torch.nn.Parameter(torch.zeros(8, 8, 8))

    def forward(self, x):
        return self.conv(x) + self.pos


def test_a_bare_parameter_is_unsupported_unless_a_layer_scale(tmp_path):
    with pytest.raises(ImportFailure, match=r"a parameter or buffer used directly \(pos\) at the model \(1×\)"):
        import_spec("test_import:WithBias", input_shape=(3, 8, 8))
    path = tmp_path / "net.yaml"
    path.write_text(import_spec("test_import:WithBias", input_shape=(3, 8, 8), allow_unsupported=True))
    assert [row.kind for row in cnntool.analyze(SpecFile(path).model()).layers] == ["input", "conv", "opaque"]


class ChannelsLast(torch.nn.Module):
    """ConvNeXt's pattern (permute, LayerNorm, Linear, permute back), and the calls that break it."""

    def __init__(self, wrong: str = ""):
        super().__init__()
        self.wrong = wrong
        self.norm, self.fc, self.conv = torch.nn.LayerNorm(3), torch.nn.Linear(3, 6), torch.nn.Conv2d(6, 6, 1)

    def forward(self, x):
        if self.wrong == "norm over W":
            return self.norm(x)
        y = self.fc(self.norm(x.permute(0, 2, 3, 1)))
        if self.wrong == "conv on NHWC":
            return self.conv(y)
        return self.conv(y.permute(0, 3, 1, 2) if self.wrong != "other permute" else y.permute(0, 3, 2, 1))


@pytest.mark.parametrize("wrong, message", [
    ("norm over W", "layernorm over the last dim (W) of an NCHW map at norm"),
    ("conv on NHWC", "conv on a channels-last map at conv"),
    ("other permute", "permute[0, 3, 2, 1] (only NCHW ↔ NHWC) at the model")])
def test_channels_last(tmp_path, wrong, message):
    path = tmp_path / "net.yaml"
    path.write_text(import_spec("test_import:ChannelsLast", input_shape=(3, 3, 3)))
    model = SpecFile(path).model()
    assert [(n.kind, n.layer.pointwise if n.kind == "linear" else None) for n in model.nodes if n.layer] == \
        [("layernorm", None), ("linear", True), ("conv", None)]
    assert cnntool.analyze(model).totals.params == sum(p.numel() for p in ChannelsLast().parameters())
    with pytest.raises(ImportFailure, match=re.escape(message)):
        import_spec("test_import:ChannelsLast", {"wrong": wrong}, input_shape=(3, 3, 3))


def test_allow_unsupported_writes_opaque(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(import_spec("test_import:WithInstanceNorm", input_shape=(3, 8, 8), allow_unsupported=True))
    report = cnntool.analyze(SpecFile(path).model())
    opaque = [row for row in report.layers if row.kind == "opaque"]
    assert [(row.name, row.out_shape, row.params, row.macs) for row in opaque] == [("norm", (8, 8, 8), 0, 0)]
    assert any("opaque" in w.message and "not counted" in w.message for w in report.warnings)
    assert "params:" not in path.read_text().split("expect:")[1]  # measured counts stated, not asserted
    assert check_paths([str(path)]).models[0].status is Status.ok


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_cli_errors_exit_2(tmp_path):
    for target, message in [("torchvision.models.nosuch", "has no attribute 'nosuch'"),
                            ("nosuchpackage.models:Net", "cannot import module 'nosuchpackage.models'"),
                            ("os.getcwd", "returned a str, not a torch.nn.Module"),
                            ("test_import:WithAttention", "MultiheadAttention at attn")]:
        result = invoke("import", target, "-i", "3,8,8", "-o", str(tmp_path / "x.yaml"))
        assert result.exit_code == 2, (target, result.output)
        assert message in result.output and "Traceback" not in result.output
    # the options: named as typed, and an input the spec reader would refuse is refused first
    for args, message in [(["-a", "x"], "--arg: error: --arg takes key=value, got 'x'"),
                          (["-i", "3,99999999,8"], "--input: error: --input 3,99999999,8 is over the limit of")]:
        result = invoke("import", "torchvision.models.resnet18", *args, "-o", str(tmp_path / "x.yaml"))
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x.yaml").exists()


def test_cli_writes_a_spec(tmp_path):
    out = tmp_path / "r18.yaml"
    result = invoke("import", "torchvision.models.resnet18", "-a", "num_classes=10", "-i", "3,64,64", "-o", str(out))
    assert result.exit_code == 0, result.output
    model = SpecFile(out).model()
    assert model.input_shape == (3, 64, 64) and model.reference is None  # other arguments: not torchvision's
    assert cnntool.analyze(model).layers[-1].out_shape == (10,)
