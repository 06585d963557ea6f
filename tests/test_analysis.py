"""Report-level figures: peak inference memory and depth roll-ups."""
import cnntool
from cnntool.analysis.analyze import collapse

HEAD = "name: t\ninput: [1, 8, 8]\n"


def test_peak_memory_of_a_chain_is_the_largest_adjacent_pair_plus_the_input(spec, analyze):
    # input 64 elems → conv 4×8×8=256 → relu 256 → maxpool 4×4×4=64, fp32
    r = analyze(spec(HEAD + "layers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n  - relu\n  - maxpool: 2\n"))
    # conv output and relu output, and the input, which the caller holds for the whole forward
    assert r.totals.peak_act_bytes == 4 * (64 + 256 + 256)
    assert r.totals.act_bytes == 4 * (256 + 256 + 64)


def test_peak_memory_keeps_a_shortcut_alive(spec, analyze):
    m = spec(HEAD + """
layers:
  - parallel:
      merge: add
      branches:
        main: [{conv: {out: 1, kernel: 1}}, relu]
        shortcut: []
""")
    # at the add: the input (kept for the shortcut), the relu output and the sum: 3 × 64 elements
    assert analyze(m).totals.peak_act_bytes == 4 * 3 * 64


def test_collapse_rolls_blocks_up_and_keeps_totals():
    report = cnntool.analyze("resnet50")
    top = collapse(report, 1)
    assert [r.name for r in top.layers][:7] == ["input", "conv1", "bn1", "relu1", "maxpool1", "layer1", "layer2"]
    assert sum(r.params for r in top.layers) == report.totals.params == 25_557_032  # torchvision num_params
    assert sum(r.macs for r in top.layers) == report.totals.macs
    layer4 = top.row("layer4")
    assert layer4.kind == "block" and layer4.out_shape == (2048, 7, 7)
    assert collapse(report, 9).layers == report.layers


DEAD_HEAD = HEAD + """
layers:
  - conv: {out: 4, kernel: 1}   # 1·4 + 4 = 8 parameters, 64·4 = 256 MACs
    name: trunk
  - conv: {out: 2, kernel: 1}   # read by nothing: 4·2 + 2 = 10 parameters, 64·2·4 = 512 MACs
    name: aux
  - relu:
    from: trunk
"""


def test_a_node_nothing_reads_counts_parameters_not_operations(spec, analyze):
    # Inception-v3's AuxLogits: its weights exist (torchvision's num_params counts them), but the
    # inference pass that _ops counts never runs it
    report = analyze(spec(DEAD_HEAD), batch=2)
    assert report.totals.params == 8 + 10
    assert report.totals.macs == 2 * 256
    aux = report.row("aux")
    assert (aux.params, aux.macs, aux.flops, aux.fvcore, aux.act_bytes) == (10, 0, 0, 0, 0)
    assert aux.out_shape == (2, 8, 8)
    assert [w.layer for w in report.warnings] == ["aux"]
    assert "nothing reads this output" in report.warnings[0].message


def test_clipped_receptive_field_is_what_the_image_holds(spec, analyze):
    # three 5×5 convs (padding 2) on 8×8: the field is 13 wide, padding included; the image
    # holds 8 of it. One 7×7 valid conv on 10×10: outputs centred at 3.5 … 6.5 (first pixel 0.5),
    # so a 7-wide field fits whole.
    deep = analyze(spec(HEAD + "layers:\n" + "  - conv: {out: 1, kernel: 5, padding: 2}\n" * 3))
    assert deep.layers[-1].rf.size == (13, 13) and deep.layers[-1].rf.clipped == (8, 8)
    valid = analyze(spec("name: t\ninput: [1, 10, 10]\nlayers:\n  - conv: {out: 1, kernel: 7}\n"))
    assert valid.layers[-1].rf.clipped == valid.layers[-1].rf.size == (7, 7)
    # VGG-16's classifier sees 404 (Araujo et al.'s 212 at pool5, plus fc6's 7×7 at jump 32)
    vgg = cnntool.analyze("vgg16").layers[-1].rf
    assert vgg.size == (404, 404) and vgg.clipped == (224, 224)
