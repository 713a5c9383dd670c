"""Chapter 10: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

FACTS = [
    ("10_beyond_convolution", "tensor([[[[1., 1., 2., 2.],\n          [1., 1., 2., 2.],\n"
                              "          [3., 3., 4., 4.],\n          [3., 3., 4., 4.]]]])"),
    ("10_beyond_convolution", "tensor([[[[1.0000, 1.3333, 1.6667, 2.0000],\n"
                              "          [1.6667, 2.0000, 2.3333, 2.6667],\n"
                              "          [2.3333, 2.6667, 3.0000, 3.3333],\n"
                              "          [3.0000, 3.3333, 3.6667, 4.0000]]]])"),
    # the checkerboard of a strided transposed convolution: copies of the kernel per pixel
    ("10_beyond_convolution", "kernel 3, stride 2, 4 x 4 input: copies per output pixel (9 x 9)\n"
                              "1 1 2 1 2 1 2 1 1\n1 1 2 1 2 1 2 1 1\n2 2 4 2 4 2 4 2 2\n"
                              "1 1 2 1 2 1 2 1 1\n2 2 4 2 4 2 4 2 2\n"),
    ("10_beyond_convolution", "kernel 4, stride 2, 4 x 4 input: copies per output pixel (10 x 10)\n"
                              "1 1 2 2 2 2 2 2 1 1\n1 1 2 2 2 2 2 2 1 1\n"
                              + "2 2 4 4 4 4 4 4 2 2\n" * 6 + "1 1 2 2 2 2 2 2 1 1\n"),
    # the (8, 64, 128, 128) batch through plain, grouped, separable and transposed layers
    ("10_beyond_convolution", "plain: (8, 32, 126, 126) weight (32, 64, 3, 3)"),
    ("10_beyond_convolution", "grouped (8 groups): (8, 32, 126, 126) weight (32, 8, 3, 3)"),
    ("10_beyond_convolution", "separable: (8, 32, 126, 126) weights (64, 1, 3, 3) and (32, 64, 1, 1)"),
    ("10_beyond_convolution", "transposed back: (8, 64, 128, 128) weight (32, 64, 3, 3)"),
    # max-unpooling puts each maximum back where it was
    ("10_beyond_convolution", "flat indices of the maxima: [[1, 6], [12, 11]]"),
    # what grouped and separable layers compute (their counts are in chapter 3)
    ("10_beyond_convolution", "weight (128, 16, 3, 3)\ngroups=4 equals 4 separate convolutions "
                              "concatenated: True"),
    ("10_beyond_convolution", "separable block = dense convolution with W[o, c] = P[o, c] * D[c]: True"),
    # and what they cost in time, measured
    ("10_beyond_convolution", "one CPU thread, fastest of the rounds"),
    ("10_beyond_convolution", "each step to more groups saved time: "),
]

_CT_OK = '''
def conv_transpose2d(X, W, stride=1, padding=0):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    sh, sw = pair(stride)
    ph, pw = pair(padding)
    N, _, H, Wd = X.shape
    _, c_out, kh, kw = W.shape
    full_h, full_w = (H - 1) * sh + kh, (Wd - 1) * sw + kw
    Y = torch.zeros((N, c_out, full_h, full_w), dtype=X.dtype, device=X.device)
    for i in range(H):
        for j in range(Wd):
            block = torch.einsum("nc,cokl->nokl", X[:, :, i, j], W)
            Y[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += block
    return Y[:, :, ph:full_h - ph, pw:full_w - pw]
'''

_SIZE_OK = '''
def transposed_output_shape(input_hw, kernel_size, stride=1, padding=0, dilation=1, output_padding=0):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    return tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                 for n, k, s, p, d, op in zip(pair(input_hw), pair(kernel_size), pair(stride),
                                              pair(padding), pair(dilation), pair(output_padding)))


def output_padding_for(input_hw, target_hw, kernel_size, stride=1, padding=0, dilation=1):
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    base = transposed_output_shape(input_hw, kernel_size, stride, padding, dilation)
    ops = tuple(t - b for t, b in zip(pair(target_hw), base))
    limits = tuple(max(s, d) for s, d in zip(pair(stride), pair(dilation)))
    return ops if all(0 <= o < m for o, m in zip(ops, limits)) else None
'''

_UP_OK = '''
def upsample_nearest(X, scale_factor):
    sh, sw = (scale_factor, scale_factor) if isinstance(scale_factor, int) else scale_factor
    H, W = X.shape[-2:]
    rows = torch.arange(H * sh, device=X.device) // sh
    cols = torch.arange(W * sw, device=X.device) // sw
    return X[:, :, rows][:, :, :, cols]


def upsample_bilinear(X, scale_factor):
    sh, sw = (scale_factor, scale_factor) if isinstance(scale_factor, int) else scale_factor
    H, W = X.shape[-2:]

    def neighbours(n_in, n_out):
        step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        pos = torch.arange(n_out, dtype=torch.float64, device=X.device) * step
        low = pos.floor().long().clamp(max=n_in - 1)
        high = (low + 1).clamp(max=n_in - 1)
        return low, high, (pos - low).to(X.dtype)

    r0, r1, fr = neighbours(H, H * sh)
    c0, c1, fc = neighbours(W, W * sw)
    top, bottom = X[:, :, r0], X[:, :, r1]
    rows = top + (bottom - top) * fr[:, None]
    left, right = rows[..., c0], rows[..., c1]
    return left + (right - left) * fc
'''

_SEP_OK = '''
def separable_params(c_in, c_out, kernel_size, bias=True):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    depthwise = c_in * kh * kw + (c_in if bias else 0)
    pointwise = c_in * c_out + (c_out if bias else 0)
    return depthwise + pointwise
'''

WRONG = [
    ("transposed convolution: padding not cropped",
     {"conv_transpose2d": _CT_OK.replace("return Y[:, :, ph:full_h - ph, pw:full_w - pw]", "return Y")},
     {"test_conv_transpose_strided"}),
    ("transposed convolution: padding added around the output instead of removed",
     {"conv_transpose2d": _CT_OK.replace("return Y[:, :, ph:full_h - ph, pw:full_w - pw]",
                                         "return F.pad(Y, (pw, pw, ph, ph))")},
     {"test_conv_transpose_strided"}),
    ("transposed convolution: stride ignored (blocks placed one pixel apart)",
     {"conv_transpose2d": _CT_OK.replace("sh, sw = pair(stride)", "sh, sw = 1, 1")},
     {"test_conv_transpose_strided"}),
    ("transposed convolution: weight read as (C_out, C_in, k_h, k_w), as for nn.Conv2d",
     {"conv_transpose2d": _CT_OK.replace("_, c_out, kh, kw = W.shape", "c_out, _, kh, kw = W.shape")
                                .replace('"nc,cokl->nokl"', '"nc,ockl->nokl"')},
     {"test_conv_transpose_basic", "test_conv_transpose_strided"}),
    ("transposed convolution: kernel flipped (a true convolution's scatter)",
     {"conv_transpose2d": _CT_OK.replace('X[:, :, i, j], W)', 'X[:, :, i, j], W.flip(2, 3))')},
     {"test_conv_transpose_basic", "test_conv_transpose_strided"}),
    ("output size: dilation forgotten",
     {"transposed_output_shape": _SIZE_OK.replace("d * (k - 1)", "(k - 1)")},
     {"test_transposed_output_shape"}),
    ("output size: output_padding forgotten",
     {"transposed_output_shape": _SIZE_OK.replace(" + op + 1", " + 1")},
     {"test_transposed_output_shape"}),
    ("output size: padding subtracted once instead of twice",
     {"transposed_output_shape": _SIZE_OK.replace("- 2 * p", "- p")},
     {"test_transposed_output_shape"}),
    ("output_padding_for: the limit taken as the stride only (dilation ignored)",
     {"transposed_output_shape": _SIZE_OK.replace("max(s, d) for s, d in", "s for s, d in")},
     {"test_transposed_output_shape"}),
    ("output_padding_for: an output_padding equal to the stride accepted",
     {"transposed_output_shape": _SIZE_OK.replace("0 <= o < m", "0 <= o <= m")},
     {"test_transposed_output_shape"}),
    ("output_padding_for: a negative output_padding returned instead of None",
     {"transposed_output_shape": _SIZE_OK.replace("0 <= o < m", "o < m")},
     {"test_transposed_output_shape"}),
    ("the chapter's output-size formula alone, as the book prints it (no output_padding_for)",
     {"transposed_output_shape": _SIZE_OK[:_SIZE_OK.index("def output_padding_for")]},
     {"test_transposed_output_shape"}),
    ("nearest upsampling with rounded instead of floored indices",
     {"upsample": _UP_OK.replace(
         "rows = torch.arange(H * sh, device=X.device) // sh",
         "rows = torch.round(torch.arange(H * sh, device=X.device) / sh).long().clamp(max=H - 1)").replace(
         "cols = torch.arange(W * sw, device=X.device) // sw",
         "cols = torch.round(torch.arange(W * sw, device=X.device) / sw).long().clamp(max=W - 1)")},
     {"test_upsample_nearest"}),
    ("nearest upsampling by tiling (repeat) instead of repeating each pixel",
     {"upsample": _UP_OK.replace("rows = torch.arange(H * sh, device=X.device) // sh",
                                 "rows = torch.arange(H * sh, device=X.device) % H").replace(
                                 "cols = torch.arange(W * sw, device=X.device) // sw",
                                 "cols = torch.arange(W * sw, device=X.device) % W")},
     {"test_upsample_nearest"}),
    ("bilinear upsampling with the align_corners=False formula",
     {"upsample": _UP_OK.replace(
         '''        step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        pos = torch.arange(n_out, dtype=torch.float64, device=X.device) * step''',
         '''        pos = ((torch.arange(n_out, dtype=torch.float64, device=X.device) + 0.5) * n_in / n_out
               - 0.5).clamp(min=0)''')},
     {"test_upsample_bilinear"}),
    ("bilinear upsampling with step n_in / n_out (corners not aligned)",
     {"upsample": _UP_OK.replace("step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0",
                                 "step = n_in / n_out")},
     {"test_upsample_bilinear"}),
    ("separable block: the depthwise bias forgotten",
     {"separable_params": _SEP_OK.replace("c_in * kh * kw + (c_in if bias else 0)", "c_in * kh * kw")},
     {"test_separable_params"}),
    ("separable block: depthwise counted as a full convolution (groups forgotten)",
     {"separable_params": _SEP_OK.replace("c_in * kh * kw +", "c_in * c_in * kh * kw +")},
     {"test_separable_params"}),
    ("nearest upsampling whose output is always float32 (made without the input's dtype)",
     {"upsample": _UP_OK.replace("    return X[:, :, rows][:, :, :, cols]\n",
                                 "    return X[:, :, rows][:, :, :, cols].float()\n", 1)},
     {"test_upsample_nearest"}),
]

# Shortcuts: read off a real module instead of derived.
SHORTCUTS = [
    ("output_padding_for found by trying output paddings on real transposed convolutions",
     {"transposed_output_shape": _SIZE_OK[:_SIZE_OK.index("def output_padding_for")] + '''
def output_padding_for(input_hw, target_hw, kernel_size, stride=1, padding=0, dilation=1):
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    for oh in range(8):
        for ow in range(8):
            try:
                out = F.conv_transpose2d(torch.zeros(1, 1, *input_hw), torch.zeros(1, 1, *k), stride=stride,
                                         padding=padding, dilation=dilation, output_padding=(oh, ow))
            except RuntimeError:
                continue
            if tuple(out.shape[2:]) == tuple(target_hw):
                return (oh, ow)
    return None
'''},
     {"test_transposed_output_shape"}),
    ("transposed output size read off nn.ConvTranspose2d on the meta device",
     {"transposed_output_shape": '''
def transposed_output_shape(input_hw, kernel_size, stride=1, padding=0, dilation=1, output_padding=0):
    layer = nn.ConvTranspose2d(1, 1, kernel_size, stride=stride, padding=padding, dilation=dilation,
                               output_padding=output_padding, device="meta")
    return tuple(layer(torch.zeros(1, 1, *input_hw, device="meta")).shape[-2:])
'''},
     {"test_transposed_output_shape"}),
    ("separable_params counted on real layers",
     {"separable_params": '''
def separable_params(c_in, c_out, kernel_size, bias=True):
    block = nn.Sequential(nn.Conv2d(c_in, c_in, kernel_size, groups=c_in, bias=bias, device="meta"),
                          nn.Conv2d(c_in, c_out, 1, bias=bias, device="meta"))
    return sum(p.numel() for p in block.parameters())
'''},
     {"test_separable_params"}),
    ("transposed convolution by F.conv_transpose2d",
     {"conv_transpose2d": '''
def conv_transpose2d(X, W, stride=1, padding=0):
    return F.conv_transpose2d(X, W, stride=stride, padding=padding)
'''},
     {"test_conv_transpose_basic", "test_conv_transpose_strided"}),
    ("upsampling by F.interpolate",
     {"upsample": '''
def upsample_nearest(X, scale_factor):
    return F.interpolate(X, scale_factor=scale_factor, mode="nearest")


def upsample_bilinear(X, scale_factor):
    return F.interpolate(X, scale_factor=scale_factor, mode="bilinear", align_corners=True)
'''},
     {"test_upsample_nearest", "test_upsample_bilinear"}),
]
