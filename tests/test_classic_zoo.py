"""LeNet-5 and AlexNet: the published numbers, asserted again explicitly with their sources,
and LeNet-5's own layer kinds (partialconv, subsample, rbf) against torch."""
import pytest

import cnntool
from cnntool.spec.expect import evaluate
from cnntool.layers import REGISTRY, Io

CLASSIC = ["lenet5", "lenet5-dense", "alexnet", "alexnet-2gpu", "alexnet-tv"]


def report(name):
    return cnntool.analyze(cnntool.load(name))


def params(name):
    return {row.name: row.params for row in report(name).layers}


@pytest.mark.parametrize("name", CLASSIC)
def test_expect_blocks_hold(name):
    model = cnntool.load(name)
    count, failures = evaluate(model.expect, cnntool.analyze(model))
    assert count and not failures, "\n".join(map(str, failures))


# -- LeNet-5 -------------------------------------------------------------------------------

def test_lenet5_per_layer_params():
    # references.md, LeNet-5 (S): C1 156, S2 12, C3 1,516 (Table I), S4 32, C5 48,120, F6 10,164;
    # the RBF output: 84 × 10 = 840
    p = params("lenet5")
    assert (p["C1"], p["S2"], p["C3"], p["S4"], p["C5"], p["F6"], p["OUTPUT"]) == \
        (156, 12, 1516, 32, 48120, 10164, 840)


def test_lenet5_sixty_thousand_free_parameters():
    # references.md, LeNet-5 (S): "only 60,000 trainable free parameters": exactly C1..F6; the RBF
    # vectors (set by hand in the paper) bring the total to 60,840
    totals = report("lenet5")
    assert totals.totals.params == 60_840
    assert totals.totals.params - totals.row("OUTPUT").params == 60_000


def test_lenet5_connections():
    # references.md, LeNet-5 (S): "340,908 connections": per output unit, its inputs plus its bias;
    # a sub-sampling unit has 2×2 inputs and a bias, a convolution or F6 unit macs/elements + 1
    rows = report("lenet5").layers
    connections = 0
    for row in rows:
        if row.kind == "subsample":
            connections += row.elements * (2 * 2 + 1)
        elif row.kind in ("conv", "partialconv", "linear"):
            connections += row.macs + row.elements
        elif row.kind == "rbf":
            connections += row.macs
    assert connections == 340_908


def test_lenet5_table_i():
    # references.md, LeNet-5 (S): C3's maps 0–5 read 3 contiguous S2 maps, 6–11 read 4 contiguous,
    # 12–14 read 4 non-contiguous, 15 reads all six (contiguous wraps round: map 4 reads 4, 5, 0)
    c3 = next(n for n in cnntool.load("lenet5").nodes if n.name == "C3").layer
    table = c3.connections()
    assert len(table) == 16

    def contiguous(ins):
        return any(set(ins) == {(s + i) % 6 for i in range(len(ins))} for s in range(6))

    assert all(len(table[j]) == 3 and contiguous(table[j]) for j in range(0, 6))
    assert all(len(table[j]) == 4 and contiguous(table[j]) for j in range(6, 12))
    assert all(len(table[j]) == 4 and not contiguous(table[j]) for j in range(12, 15))
    assert table[15] == (0, 1, 2, 3, 4, 5)
    assert c3.links() * 25 + 16 == 1516
    # LeCun et al. 1998, Table I, read by column (the S2 maps each C3 map combines)
    assert table == ((0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
                     (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
                     (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5))


def test_lenet5_dense_c3():
    # the fully connected C3 of the modern reading: 6 × 16 × 25 + 16 = 2,416 (brief; references.md
    # gives C1, C5, F6, which are unchanged); average pooling has no parameters
    p = params("lenet5-dense")
    assert (p["C1"], p["S2"], p["C3"], p["S4"], p["C5"], p["F6"], p["OUTPUT"]) == \
        (156, 0, 6 * 16 * 25 + 16, 0, 48120, 10164, 84 * 10 + 10)


# -- AlexNet -------------------------------------------------------------------------------

def test_alexnet_lecture_figures():
    # lecture notes (shared/seed), AlexNet details slide: 3.7M conv / 58.6M fully-conn parameters,
    # 1.08G conv / 58.6M f-c forward computations (the one-tower network, references.md)
    kinds = report("alexnet").totals.by_kind
    assert round(kinds["conv"].params / 1e6, 1) == 3.7
    assert round(kinds["linear"].params / 1e6, 1) == 58.6
    assert round(kinds["conv"].macs / 1e9, 2) == 1.08
    assert round(kinds["linear"].macs / 1e6, 1) == 58.6


@pytest.mark.parametrize("name", ["alexnet", "alexnet-2gpu"])
def test_alexnet_figure2_neurons(name):
    # Krizhevsky et al. 2012, Figure 2 caption (references.md): 253,440–186,624–64,896–64,896–
    # 43,264–4096–4096–1000 neurons. Every count but the first is reproduced; conv1's map is
    # 55×55×96 = 290,400 (references.md: a known inconsistency of the caption)
    r = report(name)
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "linear1", "linear2", "linear3"]
    neurons = [r.row(n).elements for n in names]
    assert neurons[1:] == [186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert neurons[0] == 55 * 55 * 96 == 290_400
    assert neurons[0] != 253_440
    assert r.row("conv1").out_shape == (96, 55, 55)


def test_alexnet_ceil_rounding_still_warns():
    # references.md: (224 − 11)/4 + 1 is not an integer; cuda-convnet's ceiling gives 55 from 224
    warnings = [w.message for w in report("alexnet").warnings]
    assert any(w.startswith("conv1:") and "ceil 55" in w for w in warnings)
    assert not report("alexnet-2gpu").warnings  # 227: (227 − 11)/4 + 1 = 55 exactly


def test_alexnet_two_towers_exact():
    # references.md, AlexNet: two-tower (groups=2) at 227 (R)
    totals = report("alexnet-2gpu").totals
    assert (totals.params, totals.macs) == (60_965_224, 724_406_816)


def test_alexnet_torchvision_exact():
    # references.md, torchvision 0.29.1 metadata: alexnet num_params 61,100,840, MACs 714,188,480 (R)
    totals = report("alexnet-tv").totals
    assert (totals.params, totals.macs) == (61_100_840, 714_188_480)
    assert cnntool.load("alexnet-tv").accuracy["top1"] == 56.522  # AlexNet_Weights.IMAGENET1K_V1


def test_alexnet_torchvision_params_equal_torch():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.alexnet()
    assert sum(p.numel() for p in net.parameters()) == report("alexnet-tv").totals.params
    # layer by layer, in order: torchvision's conv/linear modules against our conv/linear rows
    theirs = [sum(p.numel() for p in m.parameters()) for m in net.modules()
              if type(m).__name__ in ("Conv2d", "Linear")]
    ours = [row.params for row in report("alexnet-tv").layers if row.kind in ("conv", "linear")]
    assert theirs == ours


# -- LeNet-5's layer kinds against torch -----------------------------------------------------

def _io(layer, *shapes):
    io = Io(tuple(shapes))
    return Io(io.ins, layer.out_shape(io))


def test_partialconv_equals_a_masked_dense_conv():
    torch = pytest.importorskip("torch")
    layer = next(n for n in cnntool.load("lenet5").nodes if n.name == "C3").layer
    io = _io(layer, (6, 14, 14))
    module = layer.build(io)
    assert sum(p.numel() for p in module.parameters()) == layer.params(io) == 1516
    dense = torch.nn.Conv2d(6, 16, 5)
    with torch.no_grad():
        dense.weight.zero_()
        for j, (conv, ins) in enumerate(zip(module.maps, layer.connections())):
            dense.weight[j, list(ins)] = conv.weight[0]
            dense.bias[j] = conv.bias[0]
        x = torch.randn(2, 6, 14, 14)
        y = module(x)
        assert tuple(y.shape[1:]) == io.out == (16, 10, 10)
        torch.testing.assert_close(y, dense(x))


def test_partialconv_macs_match_fvcore():
    torch = pytest.importorskip("torch")
    fvcore = pytest.importorskip("fvcore.nn")
    layer = next(n for n in cnntool.load("lenet5").nodes if n.name == "C3").layer
    io = _io(layer, (6, 14, 14))
    flops = fvcore.FlopCountAnalysis(layer.build(io), torch.randn(1, 6, 14, 14))
    flops.unsupported_ops_warnings(False)
    assert flops.total() == layer.macs(io) == 60 * 25 * 10 * 10


def test_subsample_is_coefficient_times_window_sum_plus_bias():
    torch = pytest.importorskip("torch")
    layer = REGISTRY["subsample"](kernel=(2, 2))
    io = _io(layer, (6, 28, 28))
    module = layer.build(io)
    assert io.out == (6, 14, 14)
    assert sum(p.numel() for p in module.parameters()) == layer.params(io) == 12
    with torch.no_grad():
        module.weight.copy_(torch.arange(1.0, 7.0))
        module.bias.fill_(0.5)
        x = torch.randn(1, 6, 28, 28)
        window_sum = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
        expected = window_sum * torch.arange(1.0, 7.0)[:, None, None] + 0.5
        torch.testing.assert_close(module(x), expected)


def test_rbf_is_squared_distance():
    torch = pytest.importorskip("torch")
    layer = REGISTRY["rbf"](out=10)
    io = _io(layer, (84,))
    module = layer.build(io)
    assert sum(p.numel() for p in module.parameters()) == layer.params(io) == 840
    x = torch.randn(3, 84)
    with torch.no_grad():
        torch.testing.assert_close(module(x), torch.cdist(x, module.weight) ** 2, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", ["lenet5", "lenet5-dense"])
def test_built_lenet_matches_analysis(name):
    torch = pytest.importorskip("torch")
    pytest.importorskip("cnntool.torch.build")
    model = cnntool.load(name)
    rows = cnntool.analyze(model).layers
    net = cnntool.build(model).eval()
    for row in rows[1:]:
        assert sum(p.numel() for p in net.get_submodule(row.name).parameters()) == row.params, row.name
    assert tuple(net(torch.randn(2, 1, 32, 32)).shape) == (2, 10)


def test_table_errors():
    from cnntool.layers import LayerError
    layer = REGISTRY["partialconv"]
    with pytest.raises(LayerError, match="different lengths"):
        layer(table="XX\nX", kernel=(5, 5)).check()
    with pytest.raises(LayerError, match="reads no input map"):
        layer(table="X.\nX.", kernel=(5, 5)).check()
    with pytest.raises(LayerError, match="only 'X'"):
        layer(table="X1", kernel=(5, 5)).check()
    with pytest.raises(LayerError, match="3 rows .* 6 channels"):
        _io(layer(table="X\nX\nX", kernel=(5, 5)), (6, 14, 14))
