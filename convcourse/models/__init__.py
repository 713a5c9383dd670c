"""The course's networks, one module each (configuration tables and small builders).

Chapters show these builders in the book with ``literalinclude`` and import them, so
each network is defined in exactly one place: ``lenet``, ``alexnet``, ``vgg``, ``nin``,
``googlenet``. Lines stay within 88 characters, the width of the book's text column
(the browser test checks it).
"""
