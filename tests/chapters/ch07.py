"""Chapter 7 (VGG): facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

import inspect

from convcourse.models import vgg as _book

FACTS = [
    # the shape trace of VGG-11 at 224x224: five blocks take 224 down to 7
    ("07_vgg", "(1, 512, 7, 7)"),
    ("07_vgg", "VGG-11 (one channel, 10 classes): 128,806,154 parameters"),
    ("07_vgg", "narrow VGG-11: 43,093,322 parameters"),
    # two stacked 3x3 against one 5x5 with 64 channels
    ("07_vgg", "two 3x3 layers: receptive field 5, 73,856 parameters"),
    ("07_vgg", "one 5x5 layer: receptive field 5, 102,464 parameters"),
    ("07_vgg", "tensor([[[[25., 34.],\n          [61., 70.]]]]"),
    # without the ReLU two 3x3 layers are one 5x5 layer; with it, no single layer fits
    ("07_vgg", "two linear 3x3 layers equal one 5x5 layer with kernel k5: True"),
    ("07_vgg", "best single 5x5 layer for the linear stack: relative error 0.000"),
    ("07_vgg", "with padding: 44 of 144 outputs differ, all on the outermost ring: True"),
]

_BLOCK = '''
def vgg_block(num_convs, out_channels, in_channels, batch_norm=False):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)
'''

_VGG = '''
def vgg(arch, in_channels=1, num_classes=10, image_size=224, hidden=4096, num_hidden=2,
        batch_norm=False):
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    layers = []
    for num_convs, out_channels in arch:
        layers.append(vgg_block(num_convs, out_channels, in_channels, batch_norm=batch_norm))
        in_channels = out_channels
        height, width = height // 2, width // 2
    layers.append(nn.Flatten())
    features = in_channels * height * width
    for _ in range(num_hidden):
        layers += [nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.5)]
        features = hidden
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)
'''

_CONFIGS = '''
VGG16_ARCH = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
VGG19_ARCH = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))

def vgg_conv_params(arch, in_channels=3):
    total = 0
    for num_convs, out_channels in arch:
        for _ in range(num_convs):
            total += 9 * in_channels * out_channels + out_channels
            in_channels = out_channels
    return total
'''

_COST = '''
def vgg_cost(arch, image_size=224, in_channels=1, num_classes=10, hidden=4096):
    params = flops = 0
    side = image_size
    for num_convs, out_channels in arch:
        for _ in range(num_convs):
            params += 9 * in_channels * out_channels + out_channels
            flops += 2 * 9 * in_channels * out_channels * side * side
            in_channels = out_channels
        side //= 2
    for n_in, n_out in ((in_channels * side * side, hidden), (hidden, hidden), (hidden, num_classes)):
        params += n_in * n_out + n_out
        flops += 2 * n_in * n_out
    return params, flops

def _alexnet():
    return nn.Sequential(
        nn.Conv2d(1, 96, 11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2), nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10))

with torch.device("meta"):
    _net = _alexnet()
    _x = torch.zeros(1, 1, 224, 224)
with FlopCounterMode(display=False) as _counter:
    _net(_x)
_p_alex, _f_alex = sum(p.numel() for p in _net.parameters()), _counter.get_total_flops()
_p_vgg, _f_vgg = vgg_cost(((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)))
VGG11_VS_ALEXNET = (_p_vgg / _p_alex, _f_vgg / _f_alex)
'''

WRONG = [
    ("batch normalisation after the ReLU instead of before it",
     {"vgg_block": _BLOCK.replace("""        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())""", """        layers.append(nn.ReLU())
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))""")},
     {"test_vgg_block", "test_vgg"}),  # vgg(..., batch_norm=True) builds on it
    ("convolution bias kept in front of the batch normalisation",
     {"vgg_block": _BLOCK.replace(", bias=not batch_norm", "")},
     {"test_vgg_block", "test_vgg"}),  # vgg(..., batch_norm=True) builds on it
    ("batch_norm accepted but ignored",
     {"vgg_block": _BLOCK.replace("        if batch_norm:\n            layers.append(nn.BatchNorm2d(out_channels))\n", "")
                         .replace(", bias=not batch_norm", "")},
     {"test_vgg_block", "test_vgg"}),  # vgg(..., batch_norm=True) builds on it
    ("average pooling instead of max pooling in the VGG block",
     {"vgg_block": _BLOCK.replace("nn.MaxPool2d(kernel_size=2, stride=2)", "nn.AvgPool2d(kernel_size=2, stride=2)")},
     {"test_vgg_block", "test_vgg"}),
    ("ReLU missing after the convolutions",
     {"vgg_block": _BLOCK.replace("        layers.append(nn.ReLU())\n", "")},
     {"test_vgg_block", "test_vgg"}),
    ("3x3 convolutions without padding",
     {"vgg_block": _BLOCK.replace(", padding=1,", ",")},
     {"test_vgg_block", "test_vgg"}),
    ("a 2x2 max pooling with stride 1",
     {"vgg_block": _BLOCK.replace("nn.MaxPool2d(kernel_size=2, stride=2)", "nn.MaxPool2d(kernel_size=2, stride=1)")},
     {"test_vgg_block", "test_vgg"}),
    ("flatten size off: 7x7 assumed whatever the input and the number of blocks",
     {"vgg": _VGG.replace("in_channels * height * width", "in_channels * 7 * 7")},
     {"test_vgg"}),
    ("flatten size off: the side halved once too often",
     {"vgg": _VGG.replace("    layers.append(nn.Flatten())", "    height, width = height // 2, width // 2\n    layers.append(nn.Flatten())")},
     {"test_vgg"}),
    ("dropout forgotten in the dense layers",
     {"vgg": _VGG.replace(", nn.Dropout(0.5)", "")},
     {"test_vgg"}),
    ("a non-square image_size read as its height only",
     {"vgg": _VGG.replace("else image_size\n", "else (image_size[0], image_size[0])\n")},
     {"test_vgg"}),
    ("num_hidden counted with the output layer (one hidden layer too few)",
     {"vgg": _VGG.replace("for _ in range(num_hidden):", "for _ in range(num_hidden - 1):")},
     {"test_vgg"}),
    ("batch_norm not passed on to the blocks",
     {"vgg": _VGG.replace(", batch_norm=batch_norm)", ")")},
     {"test_vgg"}),
    # the chapter's own vgg, as the book prints it (literalinclude of convcourse/models/vgg.py)
    ("the chapter's vgg transcribed (a head of two hidden layers, square inputs, no batch_norm)",
     {"vgg": inspect.getsource(_book.vgg)},
     {"test_vgg"}),
    ("the chapter's vgg transcribed, with num_hidden and batch_norm arguments it ignores",
     {"vgg": inspect.getsource(_book.vgg).replace("    dropout=0.5,\n", "    dropout=0.5,\n    num_hidden=2,\n    batch_norm=False,\n")},
     {"test_vgg"}),
    ("VGG-16's last block with 256 channels (13 convolutions, but the wrong widths)",
     {"vgg_configs": _CONFIGS.replace("(3, 512), (3, 512))", "(3, 512), (3, 256))")},
     {"test_vgg_configs"}),
    ("VGG-19 with four convolutions in the second block",
     {"vgg_configs": _CONFIGS.replace("VGG19_ARCH = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))",
                                      "VGG19_ARCH = ((2, 64), (4, 128), (4, 256), (2, 512), (4, 512))")},
     {"test_vgg_configs"}),
    ("biases forgotten in the convolution parameters",
     {"vgg_configs": _CONFIGS.replace(" + out_channels\n", "\n")},
     {"test_vgg_configs"}),
    ("FLOPs without the factor 2 (multiply-adds counted)",
     {"vgg_cost": _COST.replace("flops += 2 * 9", "flops += 9").replace("flops += 2 * n_in", "flops += n_in")},
     {"test_vgg_cost", "test_vgg_vs_alexnet"}),
    ("side halved with true division: wrong for sizes that are not powers of two",
     {"vgg_cost": _COST.replace("side //= 2", "side /= 2").replace("in_channels * side * side, hidden", "int(in_channels * side * side), hidden")},
     {"test_vgg_cost"}),
    ("biases of the dense layers forgotten",
     {"vgg_cost": _COST.replace("params += n_in * n_out + n_out", "params += n_in * n_out")},
     # the ratios move by less than 0.01 %, within the tolerance of the ratio check
     {"test_vgg_cost"}),
    ("AlexNet over VGG-11 instead of VGG-11 over AlexNet",
     {"vgg_cost": _COST.replace("(_p_vgg / _p_alex, _f_vgg / _f_alex)", "(_p_alex / _p_vgg, _f_alex / _f_vgg)")},
     {"test_vgg_vs_alexnet"}),
    ("receptive field n*k instead of n*(k-1)+1",
     {"stacked_convs": "def stacked_convs(n, k, channels):\n    return n * k, n * (k * k * channels * channels + channels)"},
     {"test_stacked_convs"}),
    ("biases forgotten in the stack's parameters",
     {"stacked_convs": "def stacked_convs(n, k, channels):\n    return n * (k - 1) + 1, n * k * k * channels * channels"},
     {"test_stacked_convs"}),
]

# Shortcuts: counts measured on layers built on the meta device instead of derived.
SHORTCUTS = [
    ("vgg_conv_params counted on real layers",
     {"vgg_configs": '''
VGG16_ARCH = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
VGG19_ARCH = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def vgg_conv_params(arch, in_channels=3):
    total = 0
    for num_convs, out_channels in arch:
        for _ in range(num_convs):
            layer = nn.Conv2d(in_channels, out_channels, 3, padding=1, device="meta")
            total += sum(p.numel() for p in layer.parameters())
            in_channels = out_channels
    return total
'''},
     {"test_vgg_configs"}),
    ("vgg_cost measured on the student's own vgg (meta device, FlopCounterMode)",
     {"vgg_cost": '''
def vgg_cost(arch, image_size=224, in_channels=1, num_classes=10, hidden=4096):
    with torch.device("meta"):
        net = vgg(arch, in_channels, num_classes, image_size, hidden)
        x = torch.zeros(1, in_channels, image_size, image_size)
    with FlopCounterMode(display=False) as counter:
        net(x)
    return sum(p.numel() for p in net.parameters()), counter.get_total_flops()
''' + _COST[_COST.index("def _alexnet"):]},  # the rest of the cell as in the solution
     {"test_vgg_cost"}),
    ("stacked_convs counted on real layers",
     {"stacked_convs": '''
def stacked_convs(n, k, channels):
    layers = [nn.Conv2d(channels, channels, k, device="meta") for _ in range(n)]
    return n * (k - 1) + 1, sum(p.numel() for layer in layers for p in layer.parameters())
'''},
     {"test_stacked_convs"}),
    ("vgg_block imported from the course instead of written (the student's vgg, built on it, uses it too)",
     {"vgg_block": "from convcourse.models.vgg import vgg_block\n"},
     {"test_vgg_block", "test_vgg"}),
    ("the course's VGG builder called from a wrapper",
     {"vgg": '''
from convcourse.models import vgg as _course_vgg

def vgg(arch, in_channels=1, num_classes=10, image_size=224, hidden=4096):
    return _course_vgg.vgg(arch, in_channels, num_classes, image_size=image_size, hidden=hidden)
'''},
     {"test_vgg"}),
]
