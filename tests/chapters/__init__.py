

def chapter_definitions(stem: str, *names: str) -> str:
    """The source of the named top-level functions and classes as the chapter's code cells
    define them (the first definition of each, read with ``ast`` from the stored notebook), in
    the order asked: what a student copying the book's code would paste."""
    import ast

    import nbformat

    from tests.nbrun import ROOT

    nb = nbformat.read(str(ROOT / "chapters" / f"{stem}.ipynb"), as_version=4)
    found: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # a cell with IPython syntax defines nothing we copy
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
                found.setdefault(node.name, ast.get_source_segment(cell.source, node))
    missing = [n for n in names if n not in found]
    if missing:
        raise LookupError(f"chapters/{stem}.ipynb defines no {', '.join(missing)}")
    return "\n\n\n".join(found[n] for n in names) + "\n"
