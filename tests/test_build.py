"""cnntool.build: every built-in spec becomes a torch module whose parameters, names and output
shapes are the analysis' (the oracle test of style.md: the same model counted two ways)."""
import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import cnntool  # noqa: E402
from cnntool.analysis.analyze import unread_nodes  # noqa: E402
from cnntool.spec.zoo import zoo  # noqa: E402
from cnntool.torch.build import layer_shapes, materialise, module_sizes  # noqa: E402

ZOO = sorted(zoo())
# one variant per spec file (the first it lists): `cnntool check model_specs/`, which CI runs,
# makes the same per-layer comparisons (its steps 3 and 4) on every variant
FAMILIES = sorted({entry.spec.path: name for name, entry in reversed(list(zoo().items()))}.values())
# real CPU forwards only where they are cheap (conv+linear MACs at the spec's input, batch 1)
SMALL = [name for name in ZOO if cnntool.analyze(name).totals.macs < 0.05e9]


@pytest.fixture(scope="module")
def graph_spec(tmp_path_factory):
    """Every graph op in one small spec: residual add, concat, crop, maxunpool, deconv, upsample."""
    path = tmp_path_factory.mktemp("specs") / "graph.yaml"
    path.write_text("""
name: graph
input: [3, 20, 20]
blocks:
  res:
    args: {w: null}
    layers:
      - parallel:
          branches:
            main: [{conv: {out: $w, kernel: 3, padding: 1}}, bn, relu, {conv: {out: $w, kernel: 3, padding: 1}}]
            shortcut: []
          merge: add
      - relu
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
    name: stem
  - res: 8
  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}
    name: pool
  - conv: {out: 8, kernel: 1}
  - maxunpool: {indices: pool}
  - parallel:
      branches: [[{conv: {out: 4, kernel: 3}}], [{crop: {size: [18, 18]}}]]
      merge: concat
    name: cat
  - deconv: {out: 4, kernel: 2, stride: 2}
  - upsample: {scale: 2, mode: bilinear}
  - crop: {size: [20, 20]}
  - globalavgpool
  - flatten
  - linear: 10
""")
    return str(path)


@pytest.mark.slow  # a real torch build, trace or timing
@pytest.mark.parametrize("name", FAMILIES)
def test_meta_build_matches_analysis_layer_by_layer(name):
    model = cnntool.load(name)
    report = cnntool.analyze(model)
    net = cnntool.build(model, device="meta")
    assert all(p.is_meta for p in net.parameters())
    sizes = module_sizes(net)
    assert sizes[""][0] == report.totals.params
    for row in report.layers[1:]:
        assert sizes[row.name] == (row.params, row.buffers), row.name  # reachable by its dotted name


@pytest.mark.slow  # a real torch build, trace or timing
@pytest.mark.parametrize("name", FAMILIES)
def test_meta_forward_gives_every_analytic_shape(name):
    model = cnntool.load(name)
    report = cnntool.analyze(model, batch=2)
    names = {row.name for row in report.layers[1:]}
    shapes = layer_shapes(cnntool.build(model, device="meta").eval(),
                          torch.empty(2, *model.input_shape, device="meta"), names)
    assert shapes[""] == (2, *report.layers[-1].out_shape)
    unread = unread_nodes(model)  # a training-only head (inception_v3's AuxLogits) is not run
    for row in report.layers[1:]:
        assert shapes.get(row.name) == ((2, *row.out_shape) if row.name not in unread else None), row.name


@pytest.mark.slow  # a real torch build, trace or timing
@pytest.mark.parametrize("name", SMALL)
def test_cpu_forward_shape_of_small_models(name):
    model = cnntool.load(name)
    net = cnntool.build(model).eval()
    with torch.no_grad():
        out = net(torch.randn(2, *model.input_shape))
    assert tuple(out.shape) == (2, *cnntool.analyze(model).layers[-1].out_shape)
    assert torch.isfinite(out).all()


def test_vgg16_on_meta_allocates_nothing_and_has_torchvision_names():
    net = cnntool.build("vgg16", device="meta")
    names = dict(net.named_modules())
    assert isinstance(names["stage2.conv1"], nn.Conv2d) and names["stage2.conv1"].in_channels == 64
    # torchvision 0.29.1 vgg16 num_params (references.md, torchvision table)
    assert sum(p.numel() for p in net.parameters()) == 138_357_544
    assert "input" not in names  # the input node has no data to run: not a module


def test_graph_ops_run_with_the_analytic_shapes(graph_spec):
    model = cnntool.load(graph_spec)
    report = cnntool.analyze(model, batch=2)
    net = cnntool.build(model)
    pool = dict(net.named_modules())["pool"]
    assert pool.return_indices  # its switches are routed to maxunpool1
    shapes = layer_shapes(net.eval(), torch.randn(2, 3, 20, 20), {r.name for r in report.layers[1:]})
    for row in report.layers[1:]:
        assert shapes[row.name] == (2, *row.out_shape), row.name


def test_maxunpool_puts_values_back_where_the_maxima_were():
    from cnntool.torch.ops import MaxUnpool
    x = torch.randn(1, 2, 5, 5)
    y, idx = nn.MaxPool2d(2, 2, return_indices=True)(x)  # 5 → 2: the last row/column is dropped
    out = MaxUnpool((2, 2), (2, 2), (0, 0), (5, 5))(y, idx)
    assert out.shape == x.shape
    assert torch.equal(out.view(1, 2, -1).gather(2, idx.view(1, 2, -1)), y.view(1, 2, -1))
    assert torch.count_nonzero(out) == y.numel()


def test_values_are_freed_after_their_last_reader(graph_spec):
    net = cnntool.build(graph_spec, device="meta")
    steps = {step.name: step for step in net._steps}
    assert "stem" in steps["res1.add1"].free  # the shortcut is the last reader of the stem
    assert "pool:indices" in steps["maxunpool1"].free
    assert all(net._output not in step.free for step in net._steps)


@pytest.mark.slow  # a real torch build, trace or timing
def test_initialisation_is_torchvisions():
    torch.manual_seed(0)
    net = cnntool.build("vgg11-bn")
    modules = dict(net.named_modules())
    conv = modules["stage3.conv1"]  # 256 × 128 × 3 × 3: fan_out = 256·9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.02)
    assert not conv.bias.any()
    bn = modules["stage3.bn1"]
    assert torch.equal(bn.weight, torch.ones(256)) and not bn.bias.any()
    linear = modules["linear2"]
    assert linear.weight.std().item() == pytest.approx(0.01, rel=0.02) and not linear.bias.any()


def test_train_and_eval_behave_normally():
    net = cnntool.build("lenet5-dense")
    x = torch.randn(4, *cnntool.load("lenet5-dense").input_shape)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_materialise_zero_fills_a_meta_module():
    net = materialise(cnntool.build("resnet20", device="meta"))
    assert all(p.device.type == "cpu" and not p.any() for p in net.parameters())
    assert not net.training


@pytest.mark.slow  # a real torch build, trace or timing
def test_export_program_round_trips(tmp_path):
    from cnntool.torch.build import export_program
    model = cnntool.load("lenet5-dense")
    net = cnntool.build(model).eval()
    path = tmp_path / "lenet.pt2"
    export_program(net, model, path)
    program = torch.export.load(str(path))
    x = torch.randn(3, *model.input_shape)
    with torch.no_grad():
        assert torch.allclose(program.module()(x), net(x), atol=1e-5)  # dynamic batch


def test_build_keyword_arguments_pass_through():
    net = cnntool.build("resnet20", dtype=torch.float64, init=False)
    assert all(p.dtype == torch.float64 for p in net.parameters())


def test_a_deep_copy_runs_its_own_modules(graph_spec):
    import copy
    net = cnntool.build(graph_spec)
    clone = copy.deepcopy(net)
    modules = dict(clone.named_modules())
    assert all(step.module is modules[step.name] for step in clone._steps)
    with torch.no_grad():
        x = torch.randn(1, 3, 20, 20)
        assert torch.equal(clone.eval()(x), net.eval()(x))


def test_a_node_called_output_is_reachable(tmp_path):
    spec = tmp_path / "o.yaml"
    spec.write_text("name: o\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n    name: output\n")
    net = cnntool.build(cnntool.load(str(spec)), device="meta")
    assert isinstance(net.get_submodule("output"), torch.nn.Conv2d)


def test_a_node_nothing_reads_is_built_but_not_run(spec):
    from test_analysis import DEAD_HEAD
    net = cnntool.build(spec(DEAD_HEAD))
    calls = []
    net.aux.register_forward_hook(lambda *_: calls.append("aux"))
    assert sum(p.numel() for p in net.parameters()) == 8 + 10  # hand count in test_analysis.py
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 4, 8, 8) and calls == []


def test_inception_v3_aux_head_is_counted_in_parameters_only():
    # torchvision 0.29.1 Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264 (with AuxLogits)
    net = cnntool.build("inception_v3", device="meta", init=False)
    assert sum(p.numel() for p in net.parameters()) == 27_161_264
    shapes = layer_shapes(net.eval(), torch.empty(1, 3, 299, 299, device="meta"), {"AuxLogits.linear1"})
    assert "AuxLogits.linear1" not in shapes and shapes[""] == (1, 1000)
