"""Chapter 3: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

from tests.chapters import chapter_definitions

_CH = "03_channels_and_cost"

FACTS = [
    (_CH, "tensor([[ 56.,  72.],\n        [104., 120.]])"),
    (_CH, "tensor([[[ 56.,  72.],\n         [104., 120.]],\n\n        [[ 76., 100.],\n         [148., 172.]],"
          "\n\n        [[ 96., 128.],\n         [192., 224.]]])"),
    (_CH, "tensor([[[ 7.,  9., 10.],\n         [ 0.,  6., 10.],\n         [ 2.,  5.,  2.]],\n\n"
          "        [[ 4.,  4.,  4.],\n         [ 5.,  1.,  2.],\n         [ 2.,  6.,  0.]]]"),
    (_CH, "by hand:"),
    (_CH, "nn.Conv2d(1, 64, 4, 2, 1): weight torch.Size([64, 1, 4, 4]), 1088 parameters"),
    (_CH, "nn.Conv2d(64, 128, 4, 2, 1): weight torch.Size([128, 64, 4, 4]), 131200 parameters"),
    (_CH, "FlopCounterMode agrees with 2 k_h k_w c_i h_o w_o c_o on all"),
    # nn.Conv2d(2, 3, (3, 5), padding=(1, 2)) on a (4, 2, 3, 5) batch
    (_CH, "input (4, 2, 3, 5) -> output (4, 3, 3, 5)"),
    (_CH, "weight (3, 2, 3, 5) | bias (3,)"),
    # three wrong statements refuted on the layer
    (_CH, "biases: 128 (c_o), not c_o x c_i = 8192"),
    (_CH, "kernels: 128, each of shape (64, 4, 4): 64 slices of 4x4, one per input channel"),
    (_CH, "equal to the 2-D convolution: True"),
    # the exact operation count of one output element
    (_CH, "c_i=3, 3x3 kernel: 27 multiplications, 27 additions"),
    (_CH, "FlopCounterMode for this one element: 54 = 2 c_i k_h k_w"),
    # a real 3-D convolution slides along the channels too
    (_CH, "nn.Conv3d with a 3-deep kernel: output (1, 1, 62, 8, 8)"),
    (_CH, "nn.Conv2d(64, 1, 4, 2, 1): output (1, 1, 8, 8)"),
    # the depthwise-separable savings over several layer sizes (the table lives here, not in ch10)
    (_CH, "256, 512, 3       1180160            134144        0.114        0.113       0.113"),
    (_CH, "128, 128, 5        409728             19840        0.048        0.048       0.048"),
]

_MATMUL_OK = '''
def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    N, _, n_h, n_w = X.shape
    c_o, c_g, k_h, k_w = K.shape
    o_h = (n_h + 2 * ph - dh * (k_h - 1) - 1) // sh + 1
    o_w = (n_w + 2 * pw - dw * (k_w - 1) - 1) // sw + 1
    cols = F.unfold(X, (k_h, k_w), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    cols = cols.reshape(N, groups, c_g * k_h * k_w, o_h * o_w)
    W = K.reshape(groups, c_o // groups, c_g * k_h * k_w)
    return (W @ cols).reshape(N, c_o, o_h, o_w)
'''

_COSTS_OK = '''
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)

def _out(kernel_size, input_size, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in
                 zip(_pair(input_size), _pair(kernel_size), _pair(stride), _pair(padding)))

def conv2d_flops(c_i, c_o, kernel_size, input_size, stride=1, padding=0):
    (k_h, k_w), (o_h, o_w) = _pair(kernel_size), _out(kernel_size, input_size, stride, padding)
    return 2 * k_h * k_w * c_i * o_h * o_w * c_o

def conv2d_params(c_i, c_o, kernel_size, bias=True):
    k_h, k_w = _pair(kernel_size)
    return c_o * (c_i * k_h * k_w + int(bias))

def conv2d_memory(c_i, c_o, kernel_size, input_size, batch=1, stride=1, padding=0, dtype=torch.float32):
    size = torch.finfo(dtype).bits // 8
    o_h, o_w = _out(kernel_size, input_size, stride, padding)
    w = conv2d_params(c_i, c_o, kernel_size) * size
    return {"weights": w, "activations": batch * c_o * o_h * o_w * size, "gradients": w}
'''

_GROUPED_OK = '''
def grouped_params(c_i, c_o, kernel_size, groups, bias=True):
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return c_o * (c_i // groups * k_h * k_w + int(bias))

def separable_params(c_i, c_o, kernel_size, bias=True):
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return c_i * (k_h * k_w + int(bias)) + c_o * (c_i + int(bias))
'''

_SHIFTED = '''
def corr2d_multi_in_out(X, K):
    c_o, c_i, k_h, k_w = K.shape
    o_h, o_w = X.shape[1] - k_h + 1, X.shape[2] - k_w + 1
    Y = torch.zeros((c_o, o_h * o_w), dtype=X.dtype, device=X.device)
    for a in range(k_h):
        for b in range(k_w):
            Y = Y + K[:, :, a, b] @ X[:, a:a + o_h, b:b + o_w].reshape(c_i, o_h * o_w)
    return Y.reshape(c_o, o_h, o_w)
'''

WRONG = [
    ("multi-input correlation that averages the channels instead of adding them",
     {"corr2d_multi_in": '''
def corr2d_multi_in(X, K):
    return sum(corr2d(x, k) for x, k in zip(X, K)) / X.shape[0]
'''},
     # corr2d_multi_in_out is tested with the course's corr2d_multi_in: it keeps its point
     {"test_corr2d_multi_in"}),
    ("multi-input correlation that uses the first kernel channel for every input channel",
     {"corr2d_multi_in": '''
def corr2d_multi_in(X, K):
    return sum(corr2d(x, K[0]) for x in X)
'''},
     {"test_corr2d_multi_in"}),
    ("shifted products summed with the window taken at (b, a) instead of (a, b)",
     {"corr2d_multi_in_out": _SHIFTED.replace("X[:, a:a + o_h, b:b + o_w]", "X[:, b:b + o_h, a:a + o_w]")},
     {"test_corr2d_multi_in_out"}),
    ("the kernel's output and input channels swapped in each product (K[:, :, a, b].T)",
     {"corr2d_multi_in_out": _SHIFTED.replace("K[:, :, a, b] @", "K[:, :, a, b].T @")},
     {"test_corr2d_multi_in_out"}),
    # the chapter's own code (section 3.2): one multi-input correlation per output channel,
    # which runs no matrix product
    ("the chapter's corr2d_multi_in_out copied (a stack over output channels, no shifted products)",
     {"corr2d_multi_in_out": '''
def corr2d_multi_in_out(X, K):
    return torch.stack([corr2d_multi_in(X, k) for k in K], 0)
'''},
     {"test_corr2d_multi_in_out"}),
    ("one product per kernel position and per output channel (c_o k_h k_w products)",
     {"corr2d_multi_in_out": '''
def corr2d_multi_in_out(X, K):
    c_o, c_i, k_h, k_w = K.shape
    o_h, o_w = X.shape[1] - k_h + 1, X.shape[2] - k_w + 1
    rows = []
    for o in range(c_o):
        y = torch.zeros(o_h * o_w, dtype=X.dtype, device=X.device)
        for a in range(k_h):
            for b in range(k_w):
                y = y + K[o, :, a, b] @ X[:, a:a + o_h, b:b + o_w].reshape(c_i, -1)
        rows.append(y)
    return torch.stack(rows).reshape(c_o, o_h, o_w)
'''},
     {"test_corr2d_multi_in_out"}),
    ("conv2d_matmul that ignores the padding",
     {"conv2d_matmul": _MATMUL_OK.replace("padding=(ph, pw), ", "").replace("+ 2 * ph", "").replace("+ 2 * pw", "")},
     {"test_conv2d_matmul"}),
    ("conv2d_matmul that ignores the stride",
     {"conv2d_matmul": _MATMUL_OK.replace(", stride=(sh, sw))", ")").replace("// sh", "// 1").replace("// sw", "// 1")},
     {"test_conv2d_matmul"}),
    ("conv2d_matmul with one matrix product per image of the batch",
     {"conv2d_matmul": _MATMUL_OK.replace(
         "return (W @ cols).reshape(N, c_o, o_h, o_w)",
         "return torch.stack([W @ c for c in cols]).reshape(N, c_o, o_h, o_w)")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
    ("conv2d_matmul that flattens the kernel in the wrong order (k_h k_w c_i instead of c_i k_h k_w)",
     {"conv2d_matmul": _MATMUL_OK.replace("W = K.reshape(", "W = K.permute(0, 2, 3, 1).reshape(")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
    ("FLOPs without the factor 2 (multiply-adds counted once)",
     {"costs": _COSTS_OK.replace("return 2 * k_h", "return k_h")},
     {"test_conv2d_flops"}),
    ("FLOPs computed on the input size instead of the output size",
     {"costs": _COSTS_OK.replace(
         "(k_h, k_w), (o_h, o_w) = _pair(kernel_size), _out(kernel_size, input_size, stride, padding)",
         "(k_h, k_w), (o_h, o_w) = _pair(kernel_size), _pair(input_size)")},
     {"test_conv2d_flops"}),
    ("bias forgotten in the parameter count (the memory uses it too)",
     {"costs": _COSTS_OK.replace("+ int(bias))", ")")},
     {"test_conv2d_params", "test_conv2d_memory"}),
    ("memory in 4 bytes per number whatever the dtype",
     {"costs": _COSTS_OK.replace("size = torch.finfo(dtype).bits // 8", "size = 4")},
     {"test_conv2d_memory"}),
    ("activation memory of one image, batch forgotten",
     {"costs": _COSTS_OK.replace('"activations": batch * c_o', '"activations": c_o')},
     {"test_conv2d_memory"}),
    ("grouped parameters divided by the groups twice",
     {"grouped": _GROUPED_OK.replace("c_o * (c_i // groups * k_h", "c_o // groups * (c_i // groups * k_h")},
     {"test_grouped_params"}),
    ("depthwise-separable count as a full convolution (m n k^2)",
     {"grouped": _GROUPED_OK.replace("return c_i * (k_h * k_w + int(bias)) + c_o * (c_i + int(bias))",
                                     "return c_o * (c_i * k_h * k_w + int(bias))")},
     {"test_grouped_params"}),
    ("depthwise-separable count with only one bias (the pointwise one)",
     {"grouped": _GROUPED_OK.replace("c_i * (k_h * k_w + int(bias))", "c_i * k_h * k_w")},
     {"test_grouped_params"}),
]

# conv2d_matmul's groups and dilation, which the chapter's conv2d_im2col does not have.
WRONG += [
    ("conv2d_matmul that ignores the dilation",
     {"conv2d_matmul": _MATMUL_OK.replace("dilation=(dh, dw), ", "").replace(" - dh * (k_h - 1) - 1", " - k_h")
      .replace(" - dw * (k_w - 1) - 1", " - k_w")},
     {"test_conv2d_matmul"}),
    ("conv2d_matmul with one matrix product per group (a Python loop over the groups)",
     {"conv2d_matmul": _MATMUL_OK.replace(
         "return (W @ cols).reshape(N, c_o, o_h, o_w)",
         "return torch.cat([W[j] @ cols[:, j] for j in range(groups)], dim=1).reshape(N, c_o, o_h, o_w)")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
    ("conv2d_matmul whose groups mix channels: the rows split with the group as the inner index",
     {"conv2d_matmul": _MATMUL_OK.replace(
         "cols = cols.reshape(N, groups, c_g * k_h * k_w, o_h * o_w)",
         "cols = cols.reshape(N, c_g * k_h * k_w, groups, o_h * o_w).transpose(1, 2)")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
    ("conv2d_matmul that deals the output channels to the groups in turn (channel o in group o mod g)",
     {"conv2d_matmul": _MATMUL_OK.replace(
         "W = K.reshape(groups, c_o // groups, c_g * k_h * k_w)",
         "W = K.reshape(c_o // groups, groups, c_g * k_h * k_w).transpose(0, 1)").replace(
         "return (W @ cols).reshape(N, c_o, o_h, o_w)",
         "return (W @ cols).transpose(1, 2).reshape(N, c_o, o_h, o_w)")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
]


# The chapter's own code (section 3.4 prints pair, im2col and conv2d_im2col), copied with the
# function renamed and its bias moved last: a wrong answer, which loses both test cells.
_BOOK_IM2COL = chapter_definitions(_CH, "pair", "im2col", "conv2d_im2col")
assert "def conv2d_im2col(X, W, b=None, stride=1, padding=0):" in _BOOK_IM2COL, "the chapter's signature changed"
WRONG += [
    ("the chapter's conv2d_im2col copied (renamed, bias moved last: no dilation, no groups)",
     {"conv2d_matmul": _BOOK_IM2COL.replace(
         "def conv2d_im2col(X, W, b=None, stride=1, padding=0):",
         "def conv2d_matmul(X, W, stride=1, padding=0, b=None):")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
    ("the chapter's conv2d_im2col copied, with dilation and groups accepted and ignored",
     {"conv2d_matmul": _BOOK_IM2COL.replace(
         "def conv2d_im2col(X, W, b=None, stride=1, padding=0):",
         "def conv2d_matmul(X, W, stride=1, padding=0, dilation=1, groups=1, b=None):")},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
]

# Shortcuts: counts measured on a real layer instead of derived. Each loses exactly its items,
# and the visible tests already say why.
SHORTCUTS = [
    ("costs measured on a layer built on the meta device (FlopCounterMode and numel)",
     {"costs": '''
from torch.utils.flop_counter import FlopCounterMode

def _layer(c_i, c_o, kernel_size, stride=1, padding=0, bias=True):
    return nn.Conv2d(c_i, c_o, kernel_size, stride=stride, padding=padding, bias=bias, device="meta")

def conv2d_flops(c_i, c_o, kernel_size, input_size, stride=1, padding=0):
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    with FlopCounterMode(display=False) as counter:
        _layer(c_i, c_o, kernel_size, stride, padding, bias=False)(torch.zeros(1, c_i, h, w, device="meta"))
    return counter.get_total_flops()

def conv2d_params(c_i, c_o, kernel_size, bias=True):
    return sum(p.numel() for p in _layer(c_i, c_o, kernel_size, bias=bias).parameters())

def conv2d_memory(c_i, c_o, kernel_size, input_size, batch=1, stride=1, padding=0, dtype=torch.float32):
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    layer = _layer(c_i, c_o, kernel_size, stride, padding).to(dtype)
    out = layer(torch.zeros(batch, c_i, h, w, device="meta", dtype=dtype))
    weights = sum(p.numel() * p.element_size() for p in layer.parameters())
    return {"weights": weights, "activations": out.numel() * out.element_size(), "gradients": weights}
'''},
     {"test_conv2d_flops", "test_conv2d_params", "test_conv2d_memory"}),
    ("grouped and separable parameters counted on real modules",
     {"grouped": '''
def grouped_params(c_i, c_o, kernel_size, groups, bias=True):
    layer = nn.Conv2d(c_i, c_o, kernel_size, groups=groups, bias=bias, device="meta")
    return sum(p.numel() for p in layer.parameters())

def separable_params(c_i, c_o, kernel_size, bias=True):
    block = nn.Sequential(nn.Conv2d(c_i, c_i, kernel_size, groups=c_i, bias=bias, device="meta"),
                          nn.Conv2d(c_i, c_o, 1, bias=bias, device="meta"))
    return sum(p.numel() for p in block.parameters())
'''},
     {"test_grouped_params"}),
    ("multi-input correlation through F.conv2d (forbidden)",
     {"corr2d_multi_in": '''
def corr2d_multi_in(X, K):
    return F.conv2d(X[None], K[None])[0, 0]
'''},
     {"test_corr2d_multi_in"}),
    ("conv2d_matmul that calls F.conv2d (forbidden)",
     {"conv2d_matmul": '''
def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
'''},
     {"test_conv2d_matmul_valid", "test_conv2d_matmul"}),
    ("all output channels at once by PyTorch's convolution",
     {"corr2d_multi_in_out": '''
def corr2d_multi_in_out(X, K):
    return F.conv2d(X[None], K)[0]
'''},
     {"test_corr2d_multi_in_out"}),
]
