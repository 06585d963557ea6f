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
