"""Shape, parameter and MAC rules of single layers against the lecture's formulas and PyTorch's."""
import pytest

from cnntool.layers import REGISTRY, Io
from cnntool.layers.base import LayerError

conv = REGISTRY["conv"]
maxpool = REGISTRY["maxpool"]


def out(layer, *shapes):
    return layer.out_shape(Io(tuple(shapes)))


@pytest.mark.parametrize("i,k,p,s,o", [
    (512, 3, 0, 1, 510),   # lecture notes: a 3×3 kernel on 512×512 gives 510×510 (W_out = W_in − W_f + 1)
    (5, 3, 1, 1, 5),       # padding 1 keeps the size (lecture: W_out = W_in − W_f + 2P + 1)
    (5, 3, 0, 2, 2),       # stride 2 (lecture: (W_in − W_f + 2P)/S + 1)
    (227, 11, 0, 4, 55),   # AlexNet conv1 at 227 (cs231n)
    (7, 3, 0, 2, 3),       # Dumoulin & Visin, relationship 5 (floor)
])
def test_conv_output_size(i, k, p, s, o):
    assert out(conv(out=8, kernel=(k, k), stride=(s, s), padding=(p, p)), (3, i, i)) == (8, o, o)


def test_dilation_and_same_padding():
    # conv arithmetic: o = floor((i + 2p − k − (k−1)(d−1)) / s) + 1
    assert out(conv(out=4, kernel=(3, 3), dilation=(2, 2)), (1, 7, 7)) == (4, 3, 3)
    assert out(conv(out=4, kernel=(5, 5), padding="same"), (1, 9, 9)) == (4, 9, 9)
    with pytest.raises(LayerError):
        conv(out=4, kernel=(3, 3), stride=(2, 2), padding="same").check()


def test_ceil_rounding_gives_alexnets_55_from_224():
    # references.md: cuda-convnet's 1 + ceil((2p + i − k)/s) gives 55 from 224
    layer = conv(out=96, kernel=(11, 11), stride=(4, 4), rounding="ceil")
    io = Io(((3, 224, 224),))
    assert layer.out_shape(io) == (96, 55, 55)
    assert any("not an integer" in n or "does not divide" in n for n in layer.notes(io))
    assert out(conv(out=96, kernel=(11, 11), stride=(4, 4)), (3, 224, 224)) == (96, 54, 54)


def test_pool_ceil_mode_drops_window_starting_in_padding():
    # references.md: MaxPool2d(1, 2, ceil_mode=True) on 6 gives 3, not 4
    assert out(maxpool(kernel=(1, 1), stride=(2, 2), ceil_mode=True), (1, 6, 6)) == (1, 3, 3)
    # GoogLeNet's 3×3/2 ceil pools: 112 → 56
    assert out(maxpool(kernel=(3, 3), stride=(2, 2), ceil_mode=True), (64, 112, 112)) == (64, 56, 56)
    assert out(maxpool(kernel=(3, 3), stride=(2, 2)), (64, 112, 112)) == (64, 55, 55)


def test_conv_params_and_macs_with_groups():
    # AlexNet conv2 on one GPU: 256 filters of 5×5×48 (two groups of 48 input maps)
    layer = conv(out=256, kernel=(5, 5), padding=(2, 2), groups=2)
    io = Io(((96, 27, 27),))
    io = Io(io.ins, layer.out_shape(io))
    assert layer.params(io) == 256 * 5 * 5 * 48 + 256
    assert layer.macs(io) == 256 * 27 * 27 * 5 * 5 * 48
    assert layer.ops(io) == 256 * 27 * 27  # the bias adds


def test_kernel_larger_than_input():
    with pytest.raises(LayerError, match="larger than the padded input"):
        out(conv(out=4, kernel=(7, 7)), (3, 5, 5))


def test_transposed_conv_size_params_macs():
    # Dumoulin & Visin: o = s(i − 1) + k − 2p (+ output_padding)
    layer = REGISTRY["deconv"](out=64, kernel=(2, 2), stride=(2, 2))
    io = Io(((128, 28, 28),))
    io = Io(io.ins, layer.out_shape(io))
    assert io.out == (64, 56, 56)
    assert layer.params(io) == 128 * 64 * 4 + 64
    assert layer.macs(io) == 128 * 28 * 28 * 64 * 4  # fvcore: every input pixel × kernel


def test_batchnorm_params_buffers_and_fvcore():
    bn = REGISTRY["bn"]()
    io = Io(((64, 10, 10),), (64, 10, 10))
    assert (bn.params(io), bn.buffers(io)) == (128, 129)  # γ, β; running mean/var + num_batches_tracked
    assert bn.fvcore(io) == 2 * 64 * 100  # fvcore's batchnorm_flop_jit at inference, affine


def test_linear_needs_flat_input():
    with pytest.raises(LayerError, match="flatten"):
        out(REGISTRY["linear"](out=10), (3, 4, 4))


def test_pointwise_linear_is_a_1x1_conv_with_linear_weights():
    torch = pytest.importorskip("torch")
    linear, one = REGISTRY["linear"](out=6, pointwise=True), conv(out=6, kernel=(1, 1))
    io = Io(((4, 5, 7),), (6, 5, 7))
    assert out(linear, (4, 5, 7)) == out(one, (4, 5, 7)) == (6, 5, 7)
    assert (linear.params(io), linear.macs(io), linear.ops(io)) == (one.params(io), one.macs(io), one.ops(io))
    module = linear.build(io)
    assert tuple(module.weight.shape) == (6, 4)  # nn.Linear's, so its state_dict loads
    x = torch.randn(2, 4, 5, 7)
    want = torch.nn.functional.conv2d(x, module.weight[:, :, None, None], module.bias)
    assert torch.allclose(module(x), want, atol=1e-6)
    with pytest.raises(LayerError, match=r"\(C, H, W\)"):
        out(linear, (4,))


def test_add_and_concat_shapes():
    assert out(REGISTRY["concat"](), (64, 28, 28), (128, 28, 28), (32, 28, 28)) == (224, 28, 28)
    with pytest.raises(LayerError, match="channels don't match"):
        out(REGISTRY["add"](), (64, 28, 28), (128, 28, 28))


def test_registry_refuses_duplicates():
    from cnntool.layers import Layer, register

    class Again(Layer):
        kind = "conv"

    with pytest.raises(TypeError, match="registered twice"):
        register(Again)


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_kind_is_documented(kind):
    from cnntool.layers import fields_of
    cls = REGISTRY[kind]
    assert cls.doc, kind
    assert all(f.doc for f in fields_of(cls)), kind


def test_adaptive_pool_receptive_field_per_axis(spec, analyze):
    # 12 → 3 divides (a 4-wide, stride-4 window); 11 → 5 does not, so the whole axis is taken
    m = spec("name: t\ninput: [1, 12, 11]\nlayers:\n  - adaptiveavgpool: [3, 5]\n")
    rf = analyze(m).layers[-1].rf
    assert rf.size == (4, 11) and rf.jump[0] == 4
