"""Chapter 4: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

FACTS = [
    ("04_pooling", "tensor([[4., 5.],\n        [7., 8.]])"),
    ("04_pooling", "tensor([[2., 3.],\n        [5., 6.]])"),
    ("04_pooling", "tensor([[[[ 5.,  6.,  7.,  7.],\n          [13., 14., 15., 15.]],\n\n"
                   "         [[21., 22., 23., 23.],\n          [29., 30., 31., 31.]]]])"),
]

_POOL_OK = '''
def pool2d(X, kernel_size, stride=None, padding=0, mode="max", count_include_pad=True):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    N, C, H, W = X.shape
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    fill = float("-inf") if mode == "max" else 0.0
    Xp = F.pad(X, (pw, pw, ph, ph), value=fill)
    inside = F.pad(torch.ones(H, W, dtype=X.dtype, device=X.device), (pw, pw, ph, ph))
    Y = torch.empty((N, C, oh, ow), dtype=X.dtype, device=X.device)
    for i in range(oh):
        for j in range(ow):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            window = Xp[:, :, rows, cols]
            if mode == "max":
                Y[:, :, i, j] = window.amax(dim=(2, 3))
            else:
                count = kh * kw if count_include_pad else inside[rows, cols].sum()
                Y[:, :, i, j] = window.sum(dim=(2, 3)) / count
    return Y
'''

_MAXPOOL_RELU_OK = '''
def max_relu(a, b):
    return b + torch.relu(a - b)


def max_pool_relu(X):
    N, C, H, W = X.shape
    Z = X.reshape(N * C, 1, H, W)

    def kernel(rows):
        return torch.tensor(rows, dtype=X.dtype, device=X.device)[None, None]

    Z = F.conv2d(Z, kernel([[0.0, 1.0]]), stride=(1, 2)) + \\
        torch.relu(F.conv2d(Z, kernel([[1.0, -1.0]]), stride=(1, 2)))
    Z = F.conv2d(Z, kernel([[0.0], [1.0]]), stride=(2, 1)) + \\
        torch.relu(F.conv2d(Z, kernel([[1.0], [-1.0]]), stride=(2, 1)))
    return Z.reshape(N, C, H // 2, W // 2)
'''

WRONG = [
    ("max pooling pads with zeros instead of -inf (wrong only where a padded window is all negative)",
     {"pool2d": _POOL_OK.replace('float("-inf") if mode == "max" else 0.0', "0.0")},
     {"test_pool2d_max"}),
    ("count_include_pad ignored: always divides by the whole window",
     {"pool2d": _POOL_OK.replace("kh * kw if count_include_pad else inside[rows, cols].sum()",
                                 "kh * kw")},
     {"test_pool2d_avg"}),
    ("count_include_pad inverted: divides by the inside count when it is True",
     {"pool2d": _POOL_OK.replace("if count_include_pad else", "if not count_include_pad else")},
     {"test_pool2d_avg"}),
    ("stride ignored: the window always moves by one",
     {"pool2d": _POOL_OK.replace("sh, sw = pair(kernel_size if stride is None else stride)",
                                 "sh, sw = 1, 1")},
     {"test_pool2d_max", "test_pool2d_avg"}),
    ("default stride taken as 1 instead of the kernel size",
     {"pool2d": _POOL_OK.replace("kernel_size if stride is None else stride",
                                 "1 if stride is None else stride")},
     {"test_pool2d_max", "test_pool2d_avg"}),
    ("average pooling as a convolution without groups: sums over all channels",
     {"avg_pool_conv": '''
def avg_pool_conv(X, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    C = X.shape[1]
    weight = torch.full((C, C, kh, kw), 1.0 / (kh * kw), dtype=X.dtype, device=X.device)
    stride = (kh, kw) if stride is None else stride
    return F.conv2d(X, weight, stride=stride, padding=padding)
'''},
     {"test_avg_pool_conv"}),
    ("average pooling as a convolution with a kernel of ones (not divided by the window size)",
     {"avg_pool_conv": '''
def avg_pool_conv(X, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    C = X.shape[1]
    weight = torch.ones((C, 1, kh, kw), dtype=X.dtype, device=X.device)
    stride = (kh, kw) if stride is None else stride
    return F.conv2d(X, weight, stride=stride, padding=padding, groups=C)
'''},
     {"test_avg_pool_conv"}),
    ("average pooling as a convolution with stride 1 always",
     {"avg_pool_conv": '''
def avg_pool_conv(X, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    C = X.shape[1]
    weight = torch.full((C, 1, kh, kw), 1.0 / (kh * kw), dtype=X.dtype, device=X.device)
    return F.conv2d(X, weight, padding=padding, groups=C)
'''},
     {"test_avg_pool_conv"}),
    ("average pooling by unfold and mean, without any convolution",
     {"avg_pool_conv": '''
def avg_pool_conv(X, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    stride = (kh, kw) if stride is None else stride
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C, H, W = X.shape
    cols = F.unfold(X, (kh, kw), padding=(ph, pw), stride=(sh, sw))
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    return cols.reshape(N, C, kh * kw, -1).mean(2).reshape(N, C, oh, ow)
'''},
     {"test_avg_pool_conv"}),
    ("max of two numbers with the ReLU term subtracted",
     {"max_relu": _MAXPOOL_RELU_OK.replace("return b + torch.relu(a - b)", "return b - torch.relu(b - a)")},
     {"test_max_relu"}),
    ("2x2 max pooling: combines along the width only",
     {"max_relu": _MAXPOOL_RELU_OK.replace('''    Z = F.conv2d(Z, kernel([[0.0], [1.0]]), stride=(2, 1)) + \\
        torch.relu(F.conv2d(Z, kernel([[1.0], [-1.0]]), stride=(2, 1)))''',
                                           "    Z = Z[:, :, ::2]")},
     {"test_max_pool_relu"}),
    ("2x2 max pooling: the ReLU forgotten (sums b and a - b, i.e. returns a)",
     {"max_relu": _MAXPOOL_RELU_OK.replace("torch.relu(F.conv2d", "(F.conv2d")},
     {"test_max_pool_relu"}),
    ("cost: k*k comparisons per window instead of k*k - 1",
     {"pool_ops": '''
def pool_ops(shape, kernel_size, stride=None, padding=0):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    N, C, H, W = shape
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    return N * C * oh * ow * kh * kw
'''},
     {"test_pool_ops"}),
    ("cost: the batch and channels forgotten",
     {"pool_ops": '''
def pool_ops(shape, kernel_size, stride=None, padding=0):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    N, C, H, W = shape
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    return oh * ow * (kh * kw - 1)
'''},
     {"test_pool_ops"}),
]

# Shortcut: the count read off a real pooling on the meta device instead of derived.
SHORTCUTS = [
    ("pool_ops from the shape of F.max_pool2d's output",
     {"pool_ops": '''
def pool_ops(shape, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    out = F.max_pool2d(torch.zeros(shape, device="meta"), kernel_size, stride, padding)
    return out.numel() * (kh * kw - 1)
'''},
     {"test_pool_ops"}),
    ("calls PyTorch's pooling instead of sliding the window",
     {"pool2d": '''
def pool2d(X, kernel_size, stride=None, padding=0, mode="max", count_include_pad=True):
    if mode == "max":
        return F.max_pool2d(X, kernel_size, stride, padding)
    return F.avg_pool2d(X, kernel_size, stride, padding, count_include_pad=count_include_pad)
'''},
     {"test_pool2d_max", "test_pool2d_avg"}),
    ("max of two numbers with torch.maximum instead of a ReLU",
     {"max_relu": _MAXPOOL_RELU_OK.replace("return b + torch.relu(a - b)", "return torch.maximum(a, b)")},
     {"test_max_relu"}),
    ("2x2 max pooling by F.max_pool2d",
     {"max_relu": '''
def max_relu(a, b):
    return b + torch.relu(a - b)


def max_pool_relu(X):
    return F.max_pool2d(X, 2)
'''},
     {"test_max_pool_relu"}),
    ("average pooling by F.avg_pool2d instead of a convolution",
     {"avg_pool_conv": '''
def avg_pool_conv(X, kernel_size, stride=None, padding=0):
    return F.avg_pool2d(X, kernel_size, stride, padding)
'''},
     {"test_avg_pool_conv"}),
]
