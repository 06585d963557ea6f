"""The spec language: defaults, blocks, repeat/for/if, graphs, variants, arguments."""
import pytest

from cnntool.errors import SpecError

HEAD = "name: t\ninput: [3, 32, 32]\n"


def names(model):
    return [n.name for n in model.nodes]


def test_defaults_scalar_form_and_auto_names(spec, analyze):
    m = spec(HEAD + "defaults:\n  conv: {kernel: 3, padding: 1}\nlayers:\n  - conv: 16\n  - relu\n  - conv: 32\n")
    assert names(m) == ["input", "conv1", "relu1", "conv2"]
    r = analyze(m)
    assert r.layers[-1].out_shape == (32, 32, 32)
    assert r.totals.params == (3 * 9 * 16 + 16) + (16 * 9 * 32 + 32)


def test_block_call_scopes_names_and_repeat(spec):
    m = spec(HEAD + """
blocks:
  unit:
    args: {c: null, n: 1}
    layers:
      - seq: [{conv: {out: $c, kernel: 3, padding: 1}}, relu]
        repeat: $n
      - maxpool: 2
layers:
  - unit: {c: 8, n: 2}
  - unit: 16
""")
    assert names(m)[1:6] == ["unit1.conv1", "unit1.relu1", "unit1.conv2", "unit1.relu2", "unit1.maxpool1"]
    assert names(m)[-1] == "unit2.maxpool1"


def test_for_zips_lists_and_if_filters(spec, analyze):
    m = spec(HEAD + """
args: {widths: [8, 16, 32], bn: true}
layers:
  - conv: {out: $w, kernel: 1}
    name: c
    for: {w: $widths}
  - bn:
    if: $bn
  - relu:
    if: ${not bn}
""")
    assert names(m) == ["input", "c1", "c2", "c3", "bn1"]
    assert analyze(m).layers[-1].out_shape == (32, 32, 32)


def test_expressions_in_fields(spec, analyze):
    m = spec(HEAD + "args: {c: 16}\nlayers:\n  - conv: {out: '${4 * c}', kernel: '${c // 8 + 1}'}\n")
    assert analyze(m).layers[-1].out_shape == (64, 30, 30)


def test_parallel_concat_and_residual_add(spec, analyze):
    m = spec(HEAD + """
layers:
  - parallel:
      merge: concat
      branches:
        - [{conv: {out: 8, kernel: 1}}]
        - [{conv: {out: 4, kernel: 3, padding: 1}}]
        - [{maxpool: {kernel: 3, stride: 1, padding: 1}}]
  - parallel:
      merge: add
      branches:
        main: [{conv: {out: 15, kernel: 3, padding: 1}}]
        shortcut: []
""")
    r = analyze(m)
    assert r.row("concat1").out_shape == (15, 32, 32)
    assert r.row("add1").inputs == ("main.conv1", "concat1")
    assert r.row("add1").out_shape == (15, 32, 32)


def test_from_references_and_block_input(spec, analyze):
    m = spec(HEAD + """
blocks:
  res:
    args: {c: null}
    layers:
      - conv: {out: $c, kernel: 3, padding: 1}
      - add: [input, conv1]
layers:
  - conv: {out: 8, kernel: 1}
    name: stem
  - res: 8
  - conv: {out: 2, kernel: 1}
    from: stem
""")
    r = analyze(m)
    assert r.row("res1.add1").inputs == ("stem", "res1.conv1")
    assert r.row("conv1").inputs == ("stem",)


def test_forward_reference_is_a_cycle_error(spec):
    with pytest.raises(SpecError, match="defined after this point"):
        spec(HEAD + "layers:\n  - relu:\n    from: later\n  - conv: {out: 4, kernel: 1}\n    name: later\n")


def test_variants_and_overrides(spec, analyze):
    text = HEAD + """
args: {c: 4}
layers:
  - conv: {out: $c, kernel: 1}
variants:
  small: {args: {c: 2}}
  big: {args: {c: 64}, input: [3, 8, 8]}
"""
    assert analyze(spec(text, "small")).layers[-1].out_shape == (2, 32, 32)
    assert analyze(spec(text, "big")).layers[-1].out_shape == (64, 8, 8)
    assert analyze(spec(text, "small", c=7)).layers[-1].out_shape == (7, 32, 32)
    with pytest.raises(SpecError, match="no argument 'd'"):
        spec(text, None, d=1)


def test_error_points_at_the_entry_inside_a_block(spec, analyze):
    m = spec(HEAD + """
blocks:
  b:
    args: {k: 3}
    layers:
      - conv: {out: 4, kernel: $k}
layers:
  - b: 64
""")
    with pytest.raises(SpecError) as err:
        analyze(m)
    text = str(err.value)
    assert ":8:9: error: b1.conv1 (conv)" in text and "larger than the padded input" in text
    assert ":10:5: note: in the block called here" in text


def test_unknown_kind_suggests(spec):
    with pytest.raises(SpecError) as err:
        spec(HEAD + "layers:\n  - cnv: 4\n")
    assert "t.yaml:4:5: error: unknown layer kind or block 'cnv'" in str(err.value)
    assert "did you mean 'conv'?" in str(err.value)


def test_branch_and_block_names_stand_for_their_outputs(spec, analyze):
    m = spec(HEAD + """
blocks:
  two:
    layers: [{conv: {out: 4, kernel: 1}}, relu]
layers:
  - two:
    name: pair
  - parallel:
      merge: concat
      branches:
        left: [{conv: {out: 2, kernel: 1}}]
        right: [{conv: {out: 3, kernel: 1}}]
  - concat: [pair, left, right]
""")
    r = analyze(m)
    assert r.row("concat2").inputs == ("pair.relu1", "left.conv1", "right.conv1")
    assert r.row("concat2").out_shape == (9, 32, 32)


def test_loop_variables_reach_name_and_if(spec, analyze):
    m = spec(HEAD + """
layers:
  - conv: {out: $c, kernel: 1}
    name: width${c}
    if: ${c != 16}
    for: {c: [8, 16, 32]}
""")
    assert names(m) == ["input", "width8", "width32"]


def test_block_name_in_expect_and_dotted_reference(spec, analyze):
    m = spec(HEAD + """
blocks:
  maybe:
    args: {use: true}
    layers:
      - conv: {out: 4, kernel: 1}
        if: $use
layers:
  - maybe: {use: false}
    name: skip
  - maybe:
    name: real
  - concat: [skip, real]
expect:
  source: test
  layers:
    real: {out_shape: [4, 32, 32]}
""")
    r = analyze(m)
    assert r.row("concat1").inputs == ("input", "real.conv1")
    assert r.row("real").name == "real.conv1"
    from cnntool.spec.expect import evaluate
    assert evaluate(m.expect, r) == (1, [])


def test_expression_slices(spec, analyze):
    m = spec(HEAD + "args: {w: [1, 2, 3, 4]}\nlayers:\n  - conv: {out: '${sum(w[1:])}', kernel: 1}\n")
    assert analyze(m).layers[-1].out_shape == (9, 32, 32)


def test_block_defaults_may_use_other_arguments(spec, analyze):
    m = spec(HEAD + """
blocks:
  bottleneck:
    args: {width: null, out: "${4 * width}"}
    layers: [{conv: {out: $out, kernel: 1}}]
layers:
  - bottleneck: 16
""")
    assert analyze(m).layers[-1].out_shape == (64, 32, 32)


def test_expect_must_name_existing_nodes(spec):
    with pytest.raises(SpecError) as err:
        spec(HEAD + "layers:\n  - conv: {out: 4, kernel: 1}\nexpect:\n  source: s\n  layers:\n    conv9: {params: 3}\n")
    assert "expect names no node 'conv9'" in str(err.value) and "did you mean 'conv1'?" in str(err.value)


def test_yaml_mistakes_get_hints(spec):
    with pytest.raises(SpecError, match="needs a colon after its kind"):
        spec(HEAD + "layers:\n  - relu\n    name: x\n")
    with pytest.raises(SpecError, match="tabs"):
        spec(HEAD + "layers:\n\t- relu\n")
    with pytest.raises(SpecError, match="use `//`"):
        spec(HEAD + "args: {w: 16}\nlayers:\n  - conv: {out: '${w / 2}', kernel: 1}\n")


def test_if_needs_a_boolean(spec):
    with pytest.raises(SpecError, match="`if` needs true or false"):
        spec(HEAD + "args: {convs: [1, 2]}\nlayers:\n  - relu:\n    if: $convs\n")
