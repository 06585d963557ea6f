"""Property tests: random valid specs count the same analytically, in torch and in fvcore; random
invalid specs fail with a located SpecError (exit 2), never a traceback.

Valid specs are drawn motif by motif, each motif's fields chosen from the shape the analysis
gives for the spec so far, within PyTorch's own argument rules (so an analysis error is a bug).
"""
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

import cnntool  # noqa: E402
from cnntool.analysis.analyze import unread_nodes  # noqa: E402
from cnntool.check.torch_steps import MAC_OPS  # noqa: E402
from cnntool.layers import REGISTRY  # noqa: E402
from cnntool.spec.file import SpecFile  # noqa: E402
from cnntool.torch.build import fvcore_counts, layer_shapes, module_sizes  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BATCH = 2


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def axis_pair(lo, hi_h, hi_w):
    return st.tuples(st.integers(lo, hi_h), st.integers(lo, hi_w)).map(list)


# -- motifs: (shape, fresh name, previous name) -> entries --------------------------------------

@st.composite
def conv(draw, shape, new, prev):
    c, h, w = shape
    d = draw(st.integers(1, 2))
    k = draw(axis_pair(1, min(5, (h - 1) // d + 1), min(5, (w - 1) // d + 1)))
    g = draw(st.sampled_from(divisors(c)))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]), axis_pair(0, k[0] // 2, k[1] // 2)))
    stride = [1, 1] if padding == "same" else draw(axis_pair(1, 3, 3))
    return [{"conv": {"out": g * draw(st.integers(1, 3)), "kernel": k, "stride": stride, "padding": padding,
                      "dilation": [d, d], "groups": g, "bias": draw(st.booleans()),
                      "rounding": draw(st.sampled_from(["floor", "ceil"]))}, "name": new()}]


@st.composite
def deconv(draw, shape, new, prev):
    c = shape[0]
    k, s = draw(axis_pair(1, 4, 4)), draw(axis_pair(1, 3, 3))
    d = draw(st.integers(1, 2))
    g = draw(st.sampled_from(divisors(c)))
    fields = {"out": g * draw(st.integers(1, 2)), "kernel": k, "stride": s, "dilation": [d, d], "groups": g,
              "padding": [draw(st.integers(0, d * (ki - 1) // 2)) for ki in k],
              "output_padding": [draw(st.integers(0, max(si, d) - 1)) for si in s], "bias": draw(st.booleans())}
    return [{"deconv": fields, "name": new()}]


@st.composite
def pool(draw, shape, new, prev, kind):
    _, h, w = shape
    k = draw(axis_pair(1, min(4, h), min(4, w)))
    fields = {"kernel": k, "stride": draw(st.none() | axis_pair(1, 3, 3)),
              "padding": [draw(st.integers(0, ki // 2)) for ki in k], "ceil_mode": draw(st.booleans())}
    return [{kind: fields, "name": new()}]


@st.composite
def partialconv(draw, shape, new, prev):
    c, h, w = shape
    maps = draw(st.integers(1, 4))
    columns = [draw(st.sets(st.integers(0, c - 1), min_size=1)) for _ in range(maps)]
    table = "\n".join(" ".join("X" if i in col else "." for col in columns) for i in range(c))
    k = draw(axis_pair(1, min(3, h), min(3, w)))
    return [{"partialconv": {"table": table, "kernel": k, "stride": draw(axis_pair(1, 2, 2)),
                             "padding": [draw(st.integers(0, ki // 2)) for ki in k],
                             "bias": draw(st.booleans())}, "name": new()}]


@st.composite
def unflatten(draw, shape, new, prev):
    (n,) = shape
    c = draw(st.sampled_from(divisors(n)))
    h = draw(st.sampled_from(divisors(n // c)))
    return [{"unflatten": {"channels": c, "size": [h, n // c // h]}, "name": new()}]


def simple(kind, fields=st.none()):
    """A one-layer motif: `kind: fields` (fields drawn from a strategy, or null)."""
    return lambda shape, new, prev: fields.map(lambda f: [{kind: f, "name": new()}])


def sized(kind, make):
    """A one-layer motif whose fields depend on the input shape."""
    return lambda shape, new, prev: make(shape).map(lambda f: [{kind: f, "name": new()}])


@st.composite
def residual(draw, shape, new, prev):
    """add: a shape-keeping conv (odd kernel, same padding) plus one or two more inputs."""
    k = draw(st.sampled_from([1, 3]))
    a = {"conv": {"out": shape[0], "kernel": k, "padding": k // 2}, "name": new()}
    b = {"relu": None, "name": new()}
    inputs = draw(st.sampled_from([[a["name"], prev], [a["name"], b["name"], prev]]))
    return [a, b, {"add": inputs, "name": new()}]


@st.composite
def concat(draw, shape, new, prev):
    a = {"conv": {"out": draw(st.integers(1, 4)), "kernel": 3, "padding": 1}, "name": new()}
    b = {"maxpool": {"kernel": 3, "stride": 1, "padding": 1}, "name": new(), "from": prev}
    return [a, b, {"concat": draw(st.permutations([a["name"], b["name"], prev])), "name": new()}]


@st.composite
def crop_like(draw, shape, new, prev):
    """U-Net's skip: a valid conv shrinks the map; the skip is centre-cropped to it and concatenated."""
    a = {"conv": {"out": 2, "kernel": draw(st.integers(1, min(shape[1:]))) }, "name": new()}
    b = {"crop": {"like": a["name"]}, "name": new(), "from": prev}
    return [a, b, {"concat": [b["name"], a["name"]], "name": new()}]


@st.composite
def unpool(draw, shape, new, prev):
    """DeconvNet: a maxpool's switches reused by maxunpool after a shape-keeping layer."""
    entries = draw(pool(shape, new, prev, "maxpool"))
    keep = draw(st.sampled_from([{"relu": None}, {"bn": None}, {"conv": {"out": shape[0], "kernel": 1}}]))
    entries.append({**keep, "name": new()})
    entries.append({"maxunpool": {"indices": entries[0]["name"]}, "name": new()})
    return entries


@st.composite
def squeeze_excite(draw, shape, new, prev):
    """SE (Hu et al. 2018): pool, squeeze, excite, gate; `mul` (or `add`) broadcasts (C, 1, 1) over the map."""
    c = shape[0]
    pool = {"globalavgpool": None, "name": new()}
    entries = [pool, {"conv": {"out": draw(st.integers(1, 4)), "kernel": 1}, "name": new()},
               {draw(st.sampled_from(["relu", "silu"])): None, "name": new()},
               {"conv": {"out": draw(st.sampled_from([1, c])), "kernel": 1}, "name": new()},
               {draw(st.sampled_from(["sigmoid", "hardsigmoid"])): None, "name": new()}]
    merge = draw(st.sampled_from(["mul", "add"]))
    return entries + [{merge: draw(st.permutations([prev, entries[-1]["name"]])), "name": new()}]


@st.composite
def channel_split(draw, shape, new, prev):
    """ShuffleNetV2's unit: split the channels in two slices, transform one, concatenate, shuffle."""
    c = shape[0]
    cut = draw(st.integers(0, c - 1))
    a = {"slice": {"start": 0, "stop": cut} if cut else {"start": 0}, "name": new()}
    b = {"slice": {"start": cut}, "name": new(), "from": prev}
    if not cut:
        a = {"slice": {"start": 0, "stop": c}, "name": a["name"]}
    conv_ = {"conv": {"out": draw(st.integers(1, 3)), "kernel": 1}, "name": new()}
    joined = {"concat": [a["name"], conv_["name"]], "name": new()}
    groups = draw(st.sampled_from(divisors((cut or c) + conv_["conv"]["out"])))  # the concat's channels
    return [a, b, conv_, joined, {"shuffle": groups, "name": new()}]


def _small(shape):
    return len(shape) == 3 and max(shape[1:]) <= 12


MAP, FLAT = 3, 1  # motif applies to (C, H, W) maps or to flat vectors
# name -> (dims it applies to, extra condition on the shape, motif, kinds it exercises)
MOTIFS = {
    "conv": (MAP, None, conv, {"conv"}),
    "deconv": (MAP, _small, deconv, {"deconv"}),
    "maxpool": (MAP, None, lambda s, n, p: pool(s, n, p, "maxpool"), {"maxpool"}),
    "avgpool": (MAP, None, lambda s, n, p: pool(s, n, p, "avgpool"), {"avgpool"}),
    "adaptiveavgpool": (MAP, None, sized("adaptiveavgpool", lambda s: axis_pair(1, s[1], s[2])), {"adaptiveavgpool"}),
    "globalavgpool": (MAP, None, simple("globalavgpool"), {"globalavgpool"}),
    "globalmaxpool": (MAP, None, simple("globalmaxpool"), {"globalmaxpool"}),
    "bn": (MAP, None, simple("bn", st.none() | st.fixed_dictionaries({"affine": st.booleans()})), {"bn"}),
    "lrn": (MAP, None, simple("lrn", st.fixed_dictionaries({"size": st.integers(1, 5)})), {"lrn"}),
    "upsample": (MAP, _small, simple("upsample", st.fixed_dictionaries(
        {"scale": st.integers(1, 3), "mode": st.sampled_from(["nearest", "bilinear"])})), {"upsample"}),
    "crop": (MAP, None, sized("crop", lambda s: st.fixed_dictionaries({"size": axis_pair(1, s[1], s[2])})), {"crop"}),
    "shortcut_a": (MAP, None, sized("shortcut_a", lambda s: st.fixed_dictionaries(
        {"out": st.integers(s[0], s[0] + 4), "stride": st.integers(1, 2)})), {"shortcut_a"}),
    "partialconv": (MAP, None, partialconv, {"partialconv"}),
    "subsample": (MAP, None, sized("subsample", lambda s: st.fixed_dictionaries(
        {"kernel": axis_pair(1, min(3, s[1]), min(3, s[2])), "bias": st.booleans()})), {"subsample"}),
    "flatten": (MAP, None, simple("flatten"), {"flatten"}),
    "linear": (FLAT, None, simple("linear", st.fixed_dictionaries(
        {"out": st.integers(1, 12), "bias": st.booleans()})), {"linear"}),
    "linear-pointwise": (MAP, None, simple("linear", st.fixed_dictionaries(
        {"out": st.integers(1, 12), "bias": st.booleans(), "pointwise": st.just(True)})), {"linear"}),
    "bn1d": (FLAT, None, simple("bn"), {"bn"}),
    "rbf": (FLAT, None, simple("rbf", st.integers(1, 6)), {"rbf"}),
    "unflatten": (FLAT, None, unflatten, {"unflatten"}),
    "residual": (MAP, None, residual, {"add", "relu"}),
    "concat": (MAP, None, concat, {"concat"}),
    "crop_like": (MAP, None, crop_like, {"crop", "concat"}),
    "maxunpool": (MAP, None, unpool, {"maxpool", "maxunpool"}),
    "se": (MAP, None, squeeze_excite, {"mul", "add", "hardsigmoid", "silu"}),
    "prelu": (MAP, None, sized("prelu", lambda s: st.fixed_dictionaries(
        {"num_parameters": st.sampled_from([1, s[0]]), "init": st.floats(0, 0.5)})), {"prelu"}),
    "prelu1d": (FLAT, None, sized("prelu", lambda s: st.sampled_from([1, s[0]])), {"prelu"}),
    "layernorm": (MAP, None, simple("layernorm", st.none() | st.fixed_dictionaries(
        {"eps": st.sampled_from([1e-6, 1e-5]), "affine": st.booleans()})), {"layernorm"}),
    "layernorm1d": (FLAT, None, simple("layernorm", st.fixed_dictionaries({"affine": st.booleans()})), {"layernorm"}),
    "groupnorm": (MAP, None, sized("groupnorm", lambda s: st.fixed_dictionaries(
        {"groups": st.sampled_from(divisors(s[0])), "affine": st.booleans()})), {"groupnorm"}),
    "slice": (MAP, None, sized("slice", lambda s: st.integers(0, s[0] - 1).flatmap(
        lambda a: st.fixed_dictionaries({"start": st.just(a), "stop": st.none() | st.integers(a + 1, s[0])}))), {"slice"}),
    "shuffle": (MAP, None, sized("shuffle", lambda s: st.sampled_from(divisors(s[0]))), {"shuffle"}),
    "layerscale": (MAP, None, simple("layerscale", st.floats(1e-6, 1)), {"layerscale"}),
    "layerscale1d": (FLAT, None, simple("layerscale"), {"layerscale"}),
    "droppath": (MAP, None, simple("droppath", st.floats(0, 0.5)), {"droppath"}),
    "split": (MAP, None, channel_split, {"slice", "concat", "shuffle"}),
    "opaque": (MAP, None, sized("opaque", lambda s: st.fixed_dictionaries(  # what `cnntool import` cannot count
        {"op": st.just("a call with no kind"), "channels": st.integers(1, 8), "size": axis_pair(1, s[1], s[2])})), {"opaque"}),
    "opaque1d": (FLAT, None, simple("opaque", st.fixed_dictionaries(
        {"op": st.just("a call with no kind"), "channels": st.integers(1, 8)})), {"opaque"}),
}
ACTIVATIONS = {"relu": st.none(), "tanh": st.none(), "sigmoid": st.none(), "softmax": st.none(),
               "leakyrelu": st.floats(0, 0.5), "elu": st.floats(0.1, 2), "dropout": st.floats(0, 0.9),
               "silu": st.none(), "hardswish": st.none(), "hardsigmoid": st.none(), "relu6": st.none(),
               "mish": st.none(), "gelu": st.sampled_from(["none", "tanh"])}


@st.composite
def activation(draw, shape, new, prev):
    kind = draw(st.sampled_from(sorted(ACTIVATIONS)))
    return [{kind: draw(ACTIVATIONS[kind]), "name": new()}]


for _dims in (MAP, FLAT):  # one motif per dimensionality, so activations are not drawn 7× as often
    MOTIFS[f"activation{_dims}"] = (_dims, None, activation, set(ACTIVATIONS))
GRAPH = {"residual", "concat", "crop_like", "maxunpool", "se", "split"}


def model_of(spec):
    return SpecFile("prop.yaml", text=yaml.safe_dump(spec, sort_keys=False)).model()


@st.composite
def specs(draw, graphs):
    shape = (draw(st.integers(1, 4)), draw(st.integers(4, 16)), draw(st.integers(4, 16)))
    spec = {"name": "prop", "input": list(shape), "layers": []}
    counter = iter(range(1, 1000))

    def new():
        return f"n{next(counter)}"

    prev = "input"
    for _ in range(draw(st.integers(1, 6))):
        options = sorted(name for name, (dims, cond, _, _) in MOTIFS.items()
                         if dims == len(shape) and (cond is None or cond(shape))
                         and (graphs or name not in GRAPH))
        entries = draw(MOTIFS[draw(st.sampled_from(options))][2](shape, new, prev))
        spec["layers"] += entries
        prev = entries[-1]["name"]
        shape = cnntool.analyze(model_of(spec)).layers[-1].out_shape  # a SpecError here is a bug
    return spec


def assert_counts_agree(spec):
    model = model_of(spec)
    report = cnntool.analyze(model, batch=BATCH)
    names = {row.name for row in report.layers[1:]}
    unread = unread_nodes(model)
    torch.manual_seed(0)
    net = cnntool.build(model).eval()
    x = torch.randn(BATCH, *model.input_shape)
    shapes = layer_shapes(net, x, names)
    counts, out = fvcore_counts(net, x, names)
    sizes = module_sizes(net)
    assert out == (BATCH, *report.layers[-1].out_shape)
    for row in report.layers[1:]:
        ops = counts.get(row.name, {})
        macs = sum(v for k, v in ops.items() if k in MAC_OPS)
        where = f"{row.name} ({row.kind}) in\n{yaml.safe_dump(spec, sort_keys=False)}"
        assert sizes[row.name] == (row.params, row.buffers), where
        if row.name in unread:  # the built module holds it but never runs it: nothing counted
            assert row.name not in shapes and (row.macs, row.flops, row.fvcore) == (0, 0, 0), where
            continue
        assert shapes[row.name] == (BATCH, *row.out_shape), where
        assert sum(ops.values()) == row.fvcore, f"fvcore {ops} vs {row.fvcore}: {where}"
        if macs or row.fvcore:  # layers fvcore cannot see (rbf) have no MACs it could count
            assert macs == row.macs, f"MACs {macs} vs {row.macs}: {where}"


@SETTINGS
@given(specs(graphs=False))
def test_random_chains_count_as_torch_and_fvcore_do(spec):
    assert_counts_agree(spec)


@SETTINGS
@given(specs(graphs=True))
def test_random_graphs_count_as_torch_and_fvcore_do(spec):
    assert_counts_agree(spec)


def test_every_layer_kind_has_a_generator():
    covered = set().union(*(kinds for *_, kinds in MOTIFS.values()))
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"add a motif for {missing} to tests/test_properties.py"


# -- invalid specs ------------------------------------------------------------------------------

def _entry_fields(spec, index):
    entry = spec["layers"][index]
    kind = next(k for k in entry if k not in ("name", "from"))
    return entry, kind


def _mutations(spec, draw):
    """Edits that make any valid spec invalid (each a different kind of mistake)."""
    i = draw(st.integers(0, len(spec["layers"]) - 1))
    entry, kind = _entry_fields(spec, i)
    c, h, w = spec["input"]
    return {
        "unknown field": lambda: entry.update({kind: {**(entry[kind] if isinstance(entry[kind], dict) else {}),
                                                      "bogus": 1}}),
        "unknown kind": lambda: entry.update({kind + "x": entry.pop(kind)}),
        "wrong type": lambda: spec["layers"].__setitem__(i, {"conv": {"out": draw(st.sampled_from(
            ["many", 1.5, True, [1, 2, 3], -4])), "kernel": 1}}),
        "kernel too big": lambda: spec["layers"].insert(0, {"conv": {"out": 1, "kernel": max(h, w) + 3}}),
        "missing field": lambda: spec["layers"].insert(0, {"conv": {"kernel": 1}}),
        "unknown name": lambda: entry.update({"from": "nowhere"}),
        "unknown top key": lambda: spec.update({"layerz": []}),
        "no input": lambda: spec.pop("input"),
        "bad input": lambda: spec.update({"input": [c, h, "w"]}),
    }


@st.composite
def invalid_specs(draw):
    spec = draw(specs(graphs=True))
    mutations = _mutations(spec, draw)
    name = draw(st.sampled_from(sorted(mutations) + ["broken yaml"]))
    if name != "broken yaml":
        mutations[name]()
        return name, yaml.safe_dump(spec, sort_keys=False)
    lines = yaml.safe_dump(spec, sort_keys=False).splitlines()
    at = draw(st.integers(1, len(lines)))
    return name, "\n".join(lines[:at] + ["  - conv: {out: [4"] + lines[at:]) + "\n"


LOCATED = re.compile(r"^\S*spec\.yaml:\d+:\d+: error: \S", re.M)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_specs())
def test_invalid_specs_give_a_located_error_and_exit_2(case):
    from typer.testing import CliRunner
    from cnntool.cli.main import app
    mistake, text = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text)
        for command in (["check", "--fast"], ["shapes"]):
            result = CliRunner().invoke(app, [*command, str(path)])
            assert result.exit_code == 2, f"{mistake}: {command} exit {result.exit_code}\n{result.output}\n{text}"
            assert isinstance(result.exception, SystemExit), f"{mistake}: {result.exception!r}\n{text}"
            assert LOCATED.search(result.stderr), f"{mistake}: no location in {result.stderr!r}\n{text}"


# -- cases these properties found (fixed in the core; kept as regressions) ----------------------

def test_an_unread_node_is_built_but_not_run():
    # found by the graph property (issue 10): the residual motif's relu is read by nothing
    assert_counts_agree(yaml.safe_load("""
name: prop
input: [1, 4, 4]
layers:
  - {conv: {out: 1, kernel: 1, padding: 0}, name: n1}
  - {relu: null, name: n2}
  - {add: [n1, input], name: n3}
"""))


def test_maxunpool_after_a_pool_that_grows_the_map():
    # maxpool 2/1 p1 turns 5 into 6; the receptive-field ratio once divided by zero here
    assert_counts_agree(yaml.safe_load("""
name: grow
input: [1, 5, 5]
layers:
  - maxpool: {kernel: 2, stride: 1, padding: 1}
    name: p
  - maxunpool: {indices: p}
"""))


def test_nearest_upsample_with_align_corners_is_a_spec_error():
    # torch refuses align_corners with mode nearest in forward; the analysis must refuse it first
    with pytest.raises(cnntool.SpecError, match="align_corners"):
        cnntool.analyze(model_of(yaml.safe_load("""
name: up
input: [1, 4, 4]
layers:
  - upsample: {scale: 2, mode: nearest, align_corners: true}
""")))


def test_every_modern_kind_counts_as_torch_and_fvcore_do():
    # one spec with every kind issue 10 added, so each meets torch and fvcore at least once
    assert_counts_agree(yaml.safe_load("""
name: modern
input: [8, 6, 6]
layers:
  - conv: {out: 8, kernel: 3, padding: 1, groups: 8}
    name: dw
  - {layernorm: {eps: 1.0e-6}, name: ln}
  - {groupnorm: 4, name: gn}
  - {gelu: tanh, name: g1}
  - {gelu: null, name: g2}
  - {silu: null, name: s}
  - {hardswish: null, name: hs}
  - {relu6: null, name: r6}
  - {mish: null, name: m}
  - {prelu: 8, name: pr}
  - {globalavgpool: null, name: gap}
  - {conv: {out: 8, kernel: 1}, name: ex}
  - {hardsigmoid: null, name: gate}
  - {mul: [m, gate], name: se}
  - {add: [se, gap], name: bias}
  - {layerscale: 0.5, name: ls}
  - {droppath: 0.2, name: dp}
  - {slice: {start: 2, stop: 6}, name: half}
  - {shuffle: 2, name: sh}
  - {flatten: null, name: f}
  - {layernorm: null, name: ln1d}
"""))
