"""Chapter 2: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

import nbformat

from tests.conftest import ROOT

_CH = "02_padding_stride_dilation"

FACTS = [
    # the four 8x8 examples of the outline
    (_CH, "k=3, p=1 -> torch.Size([8, 8])"),
    (_CH, "k=(5, 3), p=(2, 1) -> torch.Size([8, 8])"),
    (_CH, "k=3, p=1, s=2 -> torch.Size([4, 4])"),
    (_CH, "k=(3, 5), p=(0, 1), s=(3, 4) -> torch.Size([2, 2])"),
    # the 5x5 arange(25) examples with a 2x2 kernel of ones
    (_CH, "tensor([[12., 16., 20., 24.],\n        [32., 36., 40., 44.],"),
    (_CH, "tensor([[12., 20.],\n        [52., 60.]])"),
    (_CH, "padding 1: torch.Size([6, 6])"),
    (_CH, "tensor([[24., 28., 32.],\n        [44., 48., 52.],\n        [64., 68., 72.]])"),
    # the formula checked against PyTorch
    (_CH, "the formula matches nn.Conv2d on all 500 random configurations"),
    # the stride figure's arithmetic
    (_CH, "output (0, 1): 0×0 + 0×1 + 1×2 + 2×3 = 8"),
    (_CH, "output (1, 0): 0×0 + 6×1 + 0×2 + 0×3 = 6"),
    # size-keeping padding gives ceil(n / s); the circulating 'correction' gives 5, not 4
    (_CH, "size-keeping padding: output = ceil(n / s) on all 800 (n, k, s),"),
    (_CH, "  with the total padding P = 2p, floor((n - k + P + s) / s) = 4"),
    (_CH, "  the 'correction' floor((n - k + 2p + s) / s) + 1 = 5"),
    # two 2x2 layers on a 3x3 input: one element that sees all nine
    (_CH, "input pixels the top element sees: 9 of 9"),
    # padding='same' with an even kernel: the extra row and column go after the input
    (_CH, "F.pad(1, 2, 1, 2) (1 before, 2 after): (1, 1, 8, 8), equal to padding='same': True"),
    (_CH, "F.pad(2, 1, 2, 1) (2 before, 1 after): (1, 1, 8, 8), equal to padding='same': False"),
    (_CH, "padding='same', only the top-left tap is 1:\ntensor([[1., 2., 3.],\n        [4., 5., 6.],"),
    (_CH, "padding='same', only the bottom-right tap is 1:\ntensor([[5., 6., 0.],\n"
          "        [8., 9., 0.],\n        [0., 0., 0.]])"),
]

_PAIR = '''
def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)
'''

_SAME = _PAIR + '''
def same_padding(input_size, kernel_size, stride=1, dilation=1):
    totals = []
    for n, k, s, d in zip(pair(input_size), pair(kernel_size), pair(stride), pair(dilation)):
        out = -(-n // s)
        totals.append(max((out - 1) * s + d * (k - 1) + 1 - n, 0))
    th, tw = totals
    return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
'''

_CORR_PS = '''
def corr2d_pad_stride(X, K, padding=0, stride=1):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    n_h, n_w = X.shape
    k_h, k_w = K.shape
    Xp = torch.zeros((n_h + 2 * ph, n_w + 2 * pw), dtype=X.dtype, device=X.device)
    Xp[ph:ph + n_h, pw:pw + n_w] = X
    o_h = (Xp.shape[0] - k_h) // sh + 1
    o_w = (Xp.shape[1] - k_w) // sw + 1
    Y = torch.zeros((o_h, o_w), dtype=X.dtype, device=X.device)
    for i in range(o_h):
        for j in range(o_w):
            Y[i, j] = (Xp[i * sh:i * sh + k_h, j * sw:j * sw + k_w] * K).sum()
    return Y
'''

_SHAPE = '''
def conv_output_shape(input_size, kernel_size, padding=0, stride=1, dilation=1):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    if padding == "same":
        return pair(input_size)
    if padding == "valid":
        padding = 0
    if isinstance(padding, int) or len(padding) == 2:
        p_h, p_w = pair(padding)
        totals = (2 * p_h, 2 * p_w)
    else:
        left, right, top, bottom = padding
        totals = (top + bottom, left + right)
    sizes = zip(pair(input_size), pair(kernel_size), totals, pair(stride), pair(dilation))
    return tuple((n + t - d * (k - 1) - 1) // s + 1 for n, k, t, s, d in sizes)
'''

WRONG = [
    ("output shape without dilation (k instead of d(k-1)+1)",
     {"conv_output_shape": _SHAPE.replace("d * (k - 1) - 1", "k")},
     {"test_conv_output_shape"}),
    ("output shape with the padding counted on one side only",
     {"conv_output_shape": _SHAPE.replace("totals = (2 * p_h, 2 * p_w)", "totals = (p_h, p_w)")},
     {"test_conv_output_shape"}),
    ("output shape rounded up instead of down",
     {"conv_output_shape": _SHAPE.replace("(n + t - d * (k - 1) - 1) // s + 1", "-(-(n + t - d * (k - 1) - 1) // s) + 1")},
     {"test_conv_output_shape"}),
    ("F.pad's 4-tuple read as (top, bottom, left, right)",
     {"conv_output_shape": _SHAPE.replace("left, right, top, bottom = padding", "top, bottom, left, right = padding")},
     {"test_conv_output_shape"}),
    ("a 4-tuple padding taken as twice its first two numbers",
     {"conv_output_shape": _SHAPE.replace("isinstance(padding, int) or len(padding) == 2:\n        p_h, p_w = pair(padding)",
                                          "isinstance(padding, int) or len(padding) >= 2:\n        p_h, p_w = pair(padding)[:2]")},
     {"test_conv_output_shape"}),
    ("'same' read as a padding of k // 2 on each side (wrong for even kernels and dilation)",
     {"conv_output_shape": _SHAPE.replace("        return pair(input_size)\n",
                                          "        padding = tuple(k // 2 for k in pair(kernel_size))\n")},
     {"test_conv_output_shape"}),
    # the chapter's code (section 2.5): the output size for a padding given on each side only
    ("the chapter's conv_out copied, with pairs (no F.pad 4-tuple, no 'same' or 'valid')",
     {"conv_output_shape": _PAIR + """
def conv_output_shape(input_size, kernel_size, padding=0, stride=1, dilation=1):
    sizes = zip(pair(input_size), pair(kernel_size), pair(padding), pair(stride), pair(dilation))
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, p, s, d in sizes)
"""},
     {"test_conv_output_shape"}),
    ("same padding with the extra row before (top/left) instead of after",
     {"same_padding": _SAME.replace("return (tw // 2, tw - tw // 2, th // 2, th - th // 2)",
                                    "return (tw - tw // 2, tw // 2, th - th // 2, th // 2)")},
     {"test_same_padding"}),
    ("same padding k // 2 on both sides (wrong for even kernels) and dilation ignored",
     {"same_padding": _PAIR + '''
def same_padding(input_size, kernel_size, stride=1, dilation=1):
    kh, kw = pair(kernel_size)
    return (kw // 2, kw // 2, kh // 2, kh // 2)
'''},
     {"test_same_padding"}),
    ("same padding in the order (top, bottom, left, right)",
     {"same_padding": _SAME.replace("return (tw // 2, tw - tw // 2, th // 2, th - th // 2)",
                                    "return (th // 2, th - th // 2, tw // 2, tw - tw // 2)")},
     {"test_same_padding"}),
    ("same padding: the total without max(., 0) (negative where the stride needs no padding)",
     {"same_padding": _SAME.replace("max((out - 1) * s + d * (k - 1) + 1 - n, 0)",
                                    "(out - 1) * s + d * (k - 1) + 1 - n")},
     {"test_same_padding"}),
    ("same padding: ceil(n / s) taken as round(n / s)",
     {"same_padding": _SAME.replace("out = -(-n // s)", "out = round(n / s)")},
     {"test_same_padding"}),
    ("same padding: ceil(n / s) taken as n // s + 1 (one too many where s divides n)",
     {"same_padding": _SAME.replace("out = -(-n // s)", "out = n // s + 1")},
     {"test_same_padding"}),
    ("same padding with the dilation ignored (the kernel spans k, not d(k - 1) + 1)",
     {"same_padding": _SAME.replace("d * (k - 1)", "(k - 1)")},
     {"test_same_padding"}),
    ("same padding max(k - s, 0) for every n (right only where s divides n)",
     {"same_padding": _SAME.replace("max((out - 1) * s + d * (k - 1) + 1 - n, 0)",
                                    "max(d * (k - 1) + 1 - s, 0)")},
     {"test_same_padding"}),
    ("stride ignored in the cross-correlation",
     {"corr2d_pad_stride": _CORR_PS.replace("sh, sw = (stride, stride) if isinstance(stride, int) else stride",
                                            "sh, sw = 1, 1")},
     {"test_corr2d_pad_stride"}),
    ("padding with ones instead of zeros",
     {"corr2d_pad_stride": _CORR_PS.replace("Xp = torch.zeros(", "Xp = torch.ones(")},
     {"test_corr2d_pad_stride"}),
    ("receptive field that ignores the strides",
     {"receptive_field": '''
def receptive_field(layers):
    return 1 + sum(d * (k - 1) for k, s, d in layers)
'''},
     {"test_receptive_field"}),
    ("receptive field that ignores the dilation",
     {"receptive_field": '''
def receptive_field(layers):
    field, jump = 1, 1
    for k, s, d in layers:
        field += (k - 1) * jump
        jump *= s
    return field
'''},
     {"test_receptive_field"}),
    ("receptive field that multiplies by the stride of the current layer too early",
     {"receptive_field": '''
def receptive_field(layers):
    field, jump = 1, 1
    for k, s, d in layers:
        jump *= s
        field += d * (k - 1) * jump
    return field
'''},
     {"test_receptive_field"}),
    ("symmetric padding (repeats the edge pixel) instead of reflect",
     {"reflect_pad": '''
def reflect_pad(X, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    H, W = X.shape[-2:]
    X = torch.cat([X[..., :ph, :].flip(-2), X, X[..., H - ph:, :].flip(-2)], dim=-2)
    return torch.cat([X[..., :, :pw].flip(-1), X, X[..., :, W - pw:].flip(-1)], dim=-1)
'''},
     {"test_reflect_pad"}),
    ("mirror padding of the columns only (rows forgotten)",
     {"reflect_pad": '''
def reflect_pad(X, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    W = X.shape[-1]
    return torch.cat([X[..., :, 1:pw + 1].flip(-1), X, X[..., :, W - 1 - pw:W - 1].flip(-1)], dim=-1)
'''},
     {"test_reflect_pad"}),
    ("stride and padding taken as ints only (a pair per axis breaks it)",
     {"corr2d_pad_stride": '''
def corr2d_pad_stride(X, K, padding=0, stride=1):
    X = torch.cat([torch.zeros(padding, X.shape[1]), X, torch.zeros(padding, X.shape[1])])
    X = torch.cat([torch.zeros(X.shape[0], padding), X, torch.zeros(X.shape[0], padding)], dim=1)
    kh, kw = K.shape
    oh, ow = (X.shape[0] - kh) // stride + 1, (X.shape[1] - kw) // stride + 1
    return torch.stack([torch.stack([(X[i * stride:i * stride + kh, j * stride:j * stride + kw] * K).sum()
                                     for j in range(ow)]) for i in range(oh)])
'''},
     {"test_corr2d_pad_stride"}),
]


def _chapter_same_padding() -> str:
    """The chapter's stride-1 "same" padding (the cell that checks it against padding="same"),
    its two lines put in a function of the exercise's signature, as a student would copy them."""
    nb = nbformat.read(str(ROOT / "chapters" / f"{_CH}.ipynb"), as_version=4)
    for cell in nb.cells:
        lines = [line.strip() for line in cell.source.splitlines()]
        totals = [line for line in lines if line.startswith("th, tw = ")]
        pads = [line for line in lines if line.startswith("pads = ")]
        if cell.cell_type == "code" and 'padding="same"' in cell.source and totals and pads:
            return _PAIR + f'''
def same_padding(input_size, kernel_size, stride=1, dilation=1):
    (kh, kw), (dh, dw) = pair(kernel_size), pair(dilation)
    {totals[0]}
    {pads[0]}
    return pads
'''
    raise LookupError("chapter 2 has no cell that computes the stride-1 'same' padding")


# The chapter's own code, as the book prints it: a wrong answer to the exercise, which asks for
# any stride.
WRONG += [
    ("the chapter's stride-1 'same' padding copied (input size and stride ignored)",
     {"same_padding": _chapter_same_padding()},
     {"test_same_padding"}),
]

# Shortcuts: measured or borrowed instead of derived or written. Each loses exactly its item,
# and the visible test already says why.
SHORTCUTS = [
    ("output shape read off a convolution on the meta device",
     {"conv_output_shape": '''
def conv_output_shape(input_size, kernel_size, padding=0, stride=1, dilation=1):
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    layer = nn.Conv2d(1, 1, kernel_size, padding=padding, stride=stride, dilation=dilation, device="meta")
    return tuple(layer(torch.zeros(1, 1, h, w, device="meta")).shape[-2:])
'''},
     {"test_conv_output_shape"}),
    ("same padding found by trying paddings on the meta device",
     {"same_padding": '''
def same_padding(input_size, kernel_size, stride=1, dilation=1):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    out = []
    for n, k, s, d in reversed(list(zip(*map(pair, (input_size, kernel_size, stride, dilation))))):
        w = torch.zeros(1, 1, k, 1, device="meta")
        for total in range(n + d * k + s):
            x = torch.zeros(1, 1, n + total, 1, device="meta")
            if total >= d * (k - 1) + 1 - n and F.conv2d(x, w, stride=(s, 1), dilation=(d, 1)).shape[-2] == -(-n // s):
                out += [total // 2, total - total // 2]
                break
    return tuple(out)
'''},
     {"test_same_padding"}),
    ("receptive field measured with autograd",
     {"receptive_field": '''
def receptive_field(layers):
    size = 1
    for k, s, d in layers:
        size = size * s + d * (k - 1) + 8
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, k, k), stride=s, dilation=d)
    y[0, 0, 0, 0].backward()
    return int((x.grad[0, 0].sum(0) != 0).sum())
'''},
     {"test_receptive_field"}),
    ("mirror padding with F.pad(mode='reflect')",
     {"reflect_pad": '''
def reflect_pad(X, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    flat = X.reshape(-1, 1, *X.shape[-2:])
    out = F.pad(flat, (pw, pw, ph, ph), mode="reflect")
    return out.reshape(*X.shape[:-2], *out.shape[-2:])
'''},
     {"test_reflect_pad"}),
    ("padding and stride given to F.conv2d (forbidden)",
     {"corr2d_pad_stride": '''
def corr2d_pad_stride(X, K, padding=0, stride=1):
    return F.conv2d(X[None, None], K[None, None], padding=padding, stride=stride)[0, 0]
'''},
     {"test_corr2d_pad_stride"}),
    ("mirror padding that calls F.pad(mode='reflect') (detected by the hidden test)",
     {"reflect_pad": '''
def reflect_pad(X, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    Y = F.pad(X.reshape(-1, *X.shape[-2:]), (pw, pw, ph, ph), mode="reflect")
    return Y.reshape(*X.shape[:-2], *Y.shape[-2:])
'''},
     {"test_reflect_pad"}),
]
