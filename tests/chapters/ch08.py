"""Chapter 8 (Network in Network): facts the chapter must show, and realistic wrong answers.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

import inspect

from convcourse.models import nin as _book

FACTS = [
    ("08_nin", "(1, 96, 54, 54)"),
    ("08_nin", "NiN: 1,992,166 parameters"),
    ("08_nin", "1x1 conv + global average pooling: 3,850 parameters"),
    ("08_nin", "flatten + dense: 96,010 parameters"),
    # global average pooling accepts any input from 67x67 up
    ("08_nin", "67x67 input -> output shape (1, 10)"),
    # the ablation (section 8.6): at 67x67 the trunk ends in a 1x1 map; the stored protocol
    ("08_nin", "6 Dropout            (1, 384, 1, 1)"),
    ("08_nin", "protocol: He normal initialisation, SGD (no momentum, no weight decay), "
               "lr 0.02, batch 16, 3 epochs, seeds 0, 1, 2"),
    ("08_nin", "| network                | parameters   |"),
    ("08_nin", "| NiN, dense head        | 1,961,226    |"),
    ("08_nin", "| NiN, no ReLU on scores | 1,992,166    |"),
]

_BLOCK = '''
def nin_block(out_channels, kernel_size, strides, padding, in_channels, mlp=None):
    if mlp is None:
        mlp = (out_channels, out_channels)
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=strides, padding=padding),
              nn.ReLU()]
    channels = out_channels
    for width in mlp:
        layers += [nn.Conv2d(channels, width, kernel_size=1), nn.ReLU()]
        channels = width
    return nn.Sequential(*layers)
'''

_NIN = '''
def nin(num_classes=10, in_channels=1, widths=(96, 256, 384)):
    w1, w2, w3 = widths
    return nn.Sequential(
        nin_block(w1, 11, 4, 0, in_channels), nn.MaxPool2d(3, stride=2),
        nin_block(w2, 5, 1, 2, w1), nn.MaxPool2d(3, stride=2),
        nin_block(w3, 3, 1, 1, w2), nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(num_classes, 3, 1, 1, w3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
'''

_COST = '''
def nin_block_cost(in_channels, out_channels, kernel_size, strides, padding, height, width, mlp=None):
    if mlp is None:
        mlp = (out_channels, out_channels)
    oh = (height + 2 * padding - kernel_size) // strides + 1
    ow = (width + 2 * padding - kernel_size) // strides + 1
    params = kernel_size ** 2 * in_channels * out_channels + out_channels
    flops = 2 * kernel_size ** 2 * in_channels * out_channels * oh * ow
    channels = out_channels
    for width_1x1 in mlp:
        params += channels * width_1x1 + width_1x1
        flops += 2 * channels * width_1x1 * oh * ow
        channels = width_1x1
    return params, flops
'''

WRONG = [
    ("no ReLU after the 1x1 convolutions",
     {"nin_block": _BLOCK.replace("kernel_size=1), nn.ReLU()]", "kernel_size=1)]")},
     {"test_nin_block", "test_nin"}),
    ("only one 1x1 convolution in the chapter's block",
     {"nin_block": _BLOCK.replace("mlp = (out_channels, out_channels)", "mlp = (out_channels,)")},
     {"test_nin_block", "test_nin"}),
    ("stride ignored in the first convolution",
     {"nin_block": _BLOCK.replace("stride=strides, ", "")},
     {"test_nin_block", "test_nin"}),
    ("every 1x1 layer from out_channels (a per-pixel network that narrows breaks)",
     {"nin_block": _BLOCK.replace("nn.Conv2d(channels, width, kernel_size=1)",
                                  "nn.Conv2d(out_channels, width, kernel_size=1)")},
     {"test_nin_block"}),
    ("mlp=() read as the default two layers",
     {"nin_block": _BLOCK.replace("if mlp is None:", "if not mlp:")},
     {"test_nin_block"}),
    ("the chapter's widths kept whatever widths asks for",
     {"nin": _NIN.replace("w1, w2, w3 = widths", "w1, w2, w3 = 96, 256, 384")},
     {"test_nin"}),
    ("global average pooling replaced by a dense layer sized for 5x5 maps of 384 channels",
     {"nin": _NIN.replace("nin_block(num_classes, 3, 1, 1, w3),\n        nn.AdaptiveAvgPool2d(1), nn.Flatten())",
                          "nn.Flatten(), nn.Linear(w3 * 5 * 5, num_classes))")},
     {"test_nin"}),
    ("2x2 max pooling instead of 3x3 (same parameters, every map larger)",
     {"nin": _NIN.replace("nn.MaxPool2d(3, stride=2)", "nn.MaxPool2d(2, stride=2)")},
     {"test_nin"}),
    ("last block with 384 channels, then global average pooling (no class channels)",
     {"nin": _NIN.replace("nin_block(num_classes, 3, 1, 1, w3)", "nin_block(w3, 3, 1, 1, w3)")},
     {"test_nin"}),
    ("dropout left out",
     {"nin": _NIN.replace("        nn.Dropout(0.5),\n", "")},
     {"test_nin"}),
    ("the global-average-pooling head counted as free (the 1x1 convolution forgotten)",
     {"head_params": "def head_params(channels, height, width, num_classes):\n"
                     "    return 0, channels * height * width * num_classes + num_classes"},
     {"test_head_params"}),
    ("dense head without the spatial size (channels x classes)",
     {"head_params": "def head_params(channels, height, width, num_classes):\n"
                     "    return channels * num_classes + num_classes, channels * num_classes + num_classes"},
     {"test_head_params"}),
    ("FLOPs without the factor 2",
     {"nin_block_cost": _COST.replace("flops = 2 * ", "flops = ").replace("flops += 2 * ", "flops += ")},
     {"test_nin_block_cost"}),
    ("padding added once instead of on both sides",
     {"nin_block_cost": _COST.replace("2 * padding", "padding")},
     {"test_nin_block_cost"}),
    ("the chapter's formula copied (section 8.2): len(mlp) 1x1 layers of out_channels channels, whatever their widths",
     {"nin_block_cost": '''
def nin_block_cost(in_channels, out_channels, kernel_size, strides, padding, height, width, mlp=None):
    m = 2 if mlp is None else len(mlp)
    ci, co, k, s, p, h, w = in_channels, out_channels, kernel_size, strides, padding, height, width
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    return (k * k * ci * co + co + m * (co * co + co),
            2 * k * k * ci * co * oh * ow + m * 2 * co * co * oh * ow)
'''},
     {"test_nin_block_cost"}),
    ("the first 1x1 layer counted from in_channels instead of out_channels",
     {"nin_block_cost": _COST.replace("    channels = out_channels\n", "    channels = in_channels\n")},
     {"test_nin_block_cost"}),
]

# Shortcuts: counts measured on real modules instead of derived.
SHORTCUTS = [
    ("head_params counted on real heads",
     {"head_params": '''
def head_params(channels, height, width, num_classes):
    gap = nn.Conv2d(channels, num_classes, 1, device="meta")
    dense = nn.Linear(channels * height * width, num_classes, device="meta")
    return sum(p.numel() for p in gap.parameters()), sum(p.numel() for p in dense.parameters())
'''},
     {"test_head_params"}),
    ("nin_block_cost measured on the student's own nin_block",
     {"nin_block_cost": '''
def nin_block_cost(in_channels, out_channels, kernel_size, strides, padding, height, width, mlp=None):
    with torch.device("meta"):
        block = nin_block(out_channels, kernel_size, strides, padding, in_channels, mlp)
        x = torch.zeros(1, in_channels, height, width)
    with FlopCounterMode(display=False) as counter:
        block(x)
    return sum(p.numel() for p in block.parameters()), counter.get_total_flops()
'''},
     {"test_nin_block_cost"}),
    ("nin_block imported from the course instead of written (the student's nin, built on it, uses it too)",
     {"nin_block": "from convcourse.models.nin import nin_block\n"},
     {"test_nin_block", "test_nin"}),
    ("the course's NiN called from a wrapper",
     {"nin": '''
from convcourse.models import nin as course_nin

def nin(num_classes=10, in_channels=1):
    return course_nin.nin(num_classes, in_channels)
'''},
     {"test_nin"}),
]

# The chapter's own code, as the book prints it (literalinclude of convcourse/models/nin.py):
# a wrong answer to these exercises, which ask for more than the chapter builds.
WRONG += [
    ("the chapter's nin_block transcribed (it has no mlp argument)",
     {"nin_block": inspect.getsource(_book.nin_block)},
     {"test_nin_block"}),
    ("the chapter's nin_block transcribed, with an mlp argument it ignores",
     {"nin_block": inspect.getsource(_book.nin_block).replace("in_channels=None):", "in_channels=None, mlp=None):")},
     {"test_nin_block"}),
    ("the chapter's nin transcribed (it has no widths argument)",
     {"nin": inspect.getsource(_book.nin)},
     {"test_nin"}),
]
