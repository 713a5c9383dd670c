"""Chapter 9 (GoogLeNet): facts the chapter must show, and realistic wrong answers.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

import inspect
import pprint

from convcourse.models import googlenet as _book
from tests.chapters import chapter_definitions

FACTS = [
    ("09_googlenet", "(1, 256, 12, 12)"),
    ("09_googlenet", "(1, 832, 3, 3)"),
    ("09_googlenet", "GoogLeNet: 5,977,530 parameters"),
    ("09_googlenet", "block 3a at 12x12: 47,038,464 FLOPs with the 1x1 reductions, 113,246,208 without"),
    ("09_googlenet", "smallest input accepted: 1x1"),
    ("09_googlenet", "forward pass at 60x60: False, at 61x61: True"),
    # the closing comparison, read from benchmarks/results/compare_networks.json: the protocol
    # line and the stable parts of the table (names, input sizes, parameters), not the accuracies
    ("09_googlenet", "protocol: He normal initialisation, SGD (no momentum, no weight decay), "
                     "lr 0.02, batch 16, 3 epochs, seeds 0, 1, 2"),
    ("09_googlenet", "| network        | input   | parameters   |"),
    ("09_googlenet", "| LeNet (modern) | 28x28   | 61,706       |"),
    ("09_googlenet", "| AlexNet (mini) | 28x28   | 221,146      |"),
    ("09_googlenet", "| VGG-11 narrow  | 32x32   | 17,927,498   |"),
    ("09_googlenet", "| NiN            | 67x67   | 1,992,166    |"),
    ("09_googlenet", "| GoogLeNet      | 32x32   | 5,977,530    |"),
    # section 9.6, read from benchmarks/results/compare_networks_gpu.json: the same protocol at
    # the classic sizes on a GPU, and the diverged run named
    ("09_googlenet", "protocol fields equal to the CPU run's: epochs, seeds, batch, lr, optimiser, init"),
    ("09_googlenet", "| AlexNet        | 224x224 | 46,764,746   |"),
    ("09_googlenet", "| VGG-11         | 224x224 | 128,806,154  |"),
    ("09_googlenet", "| GoogLeNet      | 96x96   | 5,977,530    |"),
    ("09_googlenet", "runs whose training loss became NaN or infinite: VGG-11 (seed 1)"),
]

_INCEPTION = '''
class Inception(nn.Module):
    def __init__(self, c1, c2, c3, c4, in_channels, double_3x3=False):
        super().__init__()
        self.p1 = nn.Sequential(nn.Conv2d(in_channels, c1, kernel_size=1), nn.ReLU())
        self.p2 = nn.Sequential(nn.Conv2d(in_channels, c2[0], kernel_size=1), nn.ReLU(),
                                nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1), nn.ReLU())
        if double_3x3:
            wide = [nn.Conv2d(c3[0], c3[1], kernel_size=3, padding=1), nn.ReLU(),
                    nn.Conv2d(c3[1], c3[1], kernel_size=3, padding=1), nn.ReLU()]
        else:
            wide = [nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2), nn.ReLU()]
        self.p3 = nn.Sequential(nn.Conv2d(in_channels, c3[0], kernel_size=1), nn.ReLU(), *wide)
        self.p4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
                                nn.Conv2d(in_channels, c4, kernel_size=1), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.p1(x), self.p2(x), self.p3(x), self.p4(x)], dim=1)
'''

_GOOGLENET = '''
# The chapter's nine Inception blocks, stage by stage: (c1, (c2 reduce, c2), (c3 reduce, c3), c4).
GOOGLENET_STAGES = (
    ((64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)),  # 3a, 3b
    ((192, (96, 208), (16, 48), 64), (160, (112, 224), (24, 64), 64),  # 4a, 4b
     (128, (128, 256), (24, 64), 64), (112, (144, 288), (32, 64), 64),  # 4c, 4d
     (256, (160, 320), (32, 128), 128)),  # 4e
    ((256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)),  # 5a, 5b
)


def googlenet(num_classes=10, in_channels=1, stages=GOOGLENET_STAGES, double_3x3=False):
    """GoogLeNet with the given Inception blocks: five stages and a dense layer."""
    def pool():
        return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def inceptions(specs, c):
        blocks = []
        for c1, c2, c3, c4 in specs:
            blocks.append(Inception(c1, c2, c3, c4, c, double_3x3=double_3x3))
            c = c1 + c2[1] + c3[1] + c4
        return blocks, c

    b1 = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3), nn.ReLU(), pool())
    b2 = nn.Sequential(nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), pool())
    blocks3, c = inceptions(stages[0], 192)
    blocks4, c = inceptions(stages[1], c)
    blocks5, c = inceptions(stages[2], c)
    b3 = nn.Sequential(*blocks3, pool())
    b4 = nn.Sequential(*blocks4, pool())
    b5 = nn.Sequential(*blocks5, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(c, num_classes))
'''

_FLOPS = '''
def inception_flops(in_channels, height, width, c1, c2, c3, c4, reduce=True, double_3x3=False):
    """FLOPs of an Inception block (with or without its 1x1 reductions) on one input."""
    def conv(k, c_in, c_out):
        return 2 * k * k * c_in * c_out * height * width

    def wide(c_in):  # path 3 after its reduction (or from the input, without one)
        if double_3x3:
            return conv(3, c_in, c3[1]) + conv(3, c3[1], c3[1])
        return conv(5, c_in, c3[1])

    total = conv(1, in_channels, c1) + conv(1, in_channels, c4)
    if reduce:
        total += conv(1, in_channels, c2[0]) + conv(3, c2[0], c2[1])
        total += conv(1, in_channels, c3[0]) + wide(c3[0])
    else:
        total += conv(3, in_channels, c2[1]) + wide(in_channels)
    return total
'''

_MIN = '''
def min_input_size(layers):
    """Smallest n such that an n x n input passes through all (kernel, stride, padding[,
    dilation]) layers."""
    n = 1
    for k, s, p, *d in reversed(layers):
        span = (d[0] if d else 1) * (k - 1) + 1
        n = max(1, (n - 1) * s + span - 2 * p)
    return n
'''

_BOTH = {"test_Inception", "test_googlenet"}


_BOOK = {name: chapter_definitions("09_googlenet", name) for name in ("inception_flops", "min_input_size")}

# The chapter's own code, as the book prints it (literalinclude of convcourse/models/googlenet.py).
_BOOK_CONV = inspect.getsource(_book._conv)
_BOOK_INCEPTION = _BOOK_CONV + "\n\n" + inspect.getsource(_book.Inception)
_BOOK_GOOGLENET = (_BOOK_CONV + "\n\nINCEPTIONS = " + pprint.pformat(_book.INCEPTIONS) + "\n\n\n"
                   + inspect.getsource(_book.googlenet))

WRONG = [
    ("wrong channel count in one Inception path: the 5x5 convolution keeps c3[0] channels",
     {"Inception": _INCEPTION.replace("nn.Conv2d(c3[0], c3[1], kernel_size=5", "nn.Conv2d(c3[0], c3[0], kernel_size=5")},
     _BOTH),
    ("ReLU missing after the 3x3 convolution of path 2",
     {"Inception": _INCEPTION.replace("kernel_size=3, padding=1), nn.ReLU())", "kernel_size=3, padding=1))")},
     _BOTH),
    ("the pooling path with stride 2 (halves the map)",
     {"Inception": _INCEPTION.replace("nn.MaxPool2d(kernel_size=3, stride=1, padding=1)",
                                      "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)")},
     _BOTH),
    ("paths concatenated in the wrong order (p2 before p1)",
     {"Inception": _INCEPTION.replace("[self.p1(x), self.p2(x)", "[self.p2(x), self.p1(x)")},
     _BOTH),
    ("average pooling instead of max pooling in path 4",
     {"Inception": _INCEPTION.replace("nn.MaxPool2d(kernel_size=3, stride=1, padding=1)",
                                      "nn.AvgPool2d(kernel_size=3, stride=1, padding=1)")},
     _BOTH),
    ("5x5 convolution with padding 1",
     {"Inception": _INCEPTION.replace("kernel_size=5, padding=2", "kernel_size=5, padding=1")},
     _BOTH),
    ("b2 without its 1x1 convolution",
     {"googlenet": _GOOGLENET.replace("nn.Conv2d(64, 64, 1), nn.ReLU(), ", "")},
     {"test_googlenet"}),
    ("flatten size off: the dense layer sized for 832 channels (the input of block 5a)",
     {"googlenet": _GOOGLENET.replace("nn.Linear(c, num_classes)", "nn.Linear(832, num_classes)")},
     {"test_googlenet"}),
    ("pooling after b3 forgotten",
     {"googlenet": _GOOGLENET.replace("b3 = nn.Sequential(*blocks3, pool())", "b3 = nn.Sequential(*blocks3)")},
     {"test_googlenet"}),
    ("ReLU missing after the stem's 7x7 convolution",
     {"googlenet": _GOOGLENET.replace("stride=2, padding=3), nn.ReLU(), pool()", "stride=2, padding=3), pool()")},
     {"test_googlenet"}),
    ("the stem's 7x7 convolution without padding",
     {"googlenet": _GOOGLENET.replace("stride=2, padding=3)", "stride=2)")},
     {"test_googlenet"}),
    ("with double_3x3, the second 3x3 convolution from c3[0] channels",
     {"Inception": _INCEPTION.replace("nn.Conv2d(c3[1], c3[1], kernel_size=3", "nn.Conv2d(c3[0], c3[1], kernel_size=3")},
     _BOTH),
    ("with double_3x3, no ReLU between the two 3x3 convolutions (one linear 5x5 map)",
     {"Inception": _INCEPTION.replace("kernel_size=3, padding=1), nn.ReLU(),\n", "kernel_size=3, padding=1),\n")},
     _BOTH),
    ("double_3x3 accepted but ignored: always the 5x5 convolution",
     {"Inception": _INCEPTION.replace("if double_3x3:", "if False:")},
     _BOTH),
    ("the stages argument ignored: always the chapter's blocks",
     {"googlenet": _GOOGLENET.replace("inceptions(stages[", "inceptions(GOOGLENET_STAGES[")},
     {"test_googlenet"}),
    ("double_3x3 not passed on to the Inception blocks",
     {"googlenet": _GOOGLENET.replace(", double_3x3=double_3x3))", "))")},
     {"test_googlenet"}),
    ("the dense layer sized for 1024 channels whatever the stages",
     {"googlenet": _GOOGLENET.replace("nn.Linear(c, num_classes)", "nn.Linear(1024, num_classes)")},
     {"test_googlenet"}),
    ("FLOPs without the factor 2",
     {"inception_flops": _FLOPS.replace("return 2 * k", "return k")},
     {"test_inception_flops"}),
    ("with double_3x3, the second 3x3 convolution counted from c3[0] channels",
     {"inception_flops": _FLOPS.replace("conv(3, c3[1], c3[1])", "conv(3, c3[0], c3[1])")},
     {"test_inception_flops"}),
    ("without reductions, path 3 still counted from its reduction's c3[0] channels",
     {"inception_flops": _FLOPS.replace("wide(in_channels)", "wide(c3[0])")},
     {"test_inception_flops"}),
    ("without reductions, the 3x3 convolution counted from c2[0] channels",
     {"inception_flops": _FLOPS.replace("conv(3, in_channels, c2[1])", "conv(3, c2[0], c2[1])")},
     {"test_inception_flops"}),
    ("the 1x1 convolution of the pooling path forgotten",
     {"inception_flops": _FLOPS.replace(" + conv(1, in_channels, c4)", "")},
     {"test_inception_flops"}),
    # the chapter's code, which these exercises ask to extend
    ("the chapter's Inception transcribed (it has no double_3x3 argument)",
     {"Inception": _BOOK_INCEPTION},
     _BOTH),
    ("the chapter's Inception and googlenet transcribed (no double_3x3, no stages argument)",
     {"Inception": _BOOK_INCEPTION, "googlenet": _BOOK_GOOGLENET},
     _BOTH),
    ("the chapter's googlenet transcribed with its table, on the student's own Inception",
     {"googlenet": _BOOK_GOOGLENET},
     {"test_googlenet"}),
    ("padding ignored",
     {"min_input_size": _MIN.replace(" - 2 * p", "")},
     {"test_min_input_size"}),
    ("padding counted on one side only",
     {"min_input_size": _MIN.replace(" - 2 * p", " - p")},
     {"test_min_input_size"}),
    ("stride ignored",
     {"min_input_size": _MIN.replace("(n - 1) * s", "(n - 1)")},
     {"test_min_input_size"}),
    ("dilation read but the span taken as d * k instead of d * (k - 1) + 1",
     {"min_input_size": _MIN.replace("(d[0] if d else 1) * (k - 1) + 1", "(d[0] if d else 1) * k")},
     {"test_min_input_size"}),
    ("the chapter's min_input_size copied (no dilation)",
     {"min_input_size": _BOOK["min_input_size"]},
     {"test_min_input_size"}),
    ("the chapter's inception_flops copied (one 5x5 convolution only)",
     {"inception_flops": _BOOK["inception_flops"]},
     {"test_inception_flops"}),
]

# Shortcuts: measured instead of derived.
SHORTCUTS = [
    ("inception_flops measured on the student's own Inception (meta device)",
     {"inception_flops": '''
def inception_flops(in_channels, height, width, c1, c2, c3, c4, reduce=True):
    with torch.device("meta"):
        block = Inception(c1, c2, c3, c4, in_channels)
        if not reduce:
            block.p2 = nn.Sequential(nn.Conv2d(in_channels, c2[1], 3, padding=1), nn.ReLU())
            block.p3 = nn.Sequential(nn.Conv2d(in_channels, c3[1], 5, padding=2), nn.ReLU())
        x = torch.zeros(1, in_channels, height, width)
    with FlopCounterMode(display=False) as counter:
        block(x)
    return counter.get_total_flops()
'''},
     {"test_inception_flops"}),
    ("min_input_size found by trying inputs on the meta device",
     {"min_input_size": '''
def min_input_size(layers):
    for n in range(1, 4096):
        x = torch.zeros(1, 1, n, n, device="meta")
        try:
            for k, s, p in layers:
                x = F.max_pool2d(x, k, s, p) if 2 * p <= k else F.conv2d(x, torch.zeros(1, 1, k, k, device="meta"), stride=s, padding=p)
            return n
        except RuntimeError:
            continue
'''},
     {"test_min_input_size"}),
    ("the course's Inception block subclassed instead of written",
     {"Inception": '''
from convcourse.models.googlenet import Inception as _CourseInception

class Inception(_CourseInception):
    pass
'''},
     {"test_Inception", "test_googlenet"}),
    ("the course's GoogLeNet called from a wrapper",
     {"googlenet": '''
import convcourse.models.googlenet as course_googlenet

def googlenet(num_classes=10, in_channels=1):
    return course_googlenet.googlenet(num_classes, in_channels)
'''},
     {"test_googlenet"}),
]
