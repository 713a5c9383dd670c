"""Open a chapter or its exercise notebook in Colab or Binder, driven by one setting.

``repository: url:`` in ``_config.yml`` names the public GitHub repository the book is built
from. When it is set, every chapter page carries the theme's launch buttons (this chapter in
Colab or Binder), and each link that downloads an exercise notebook is followed by links that
open that notebook itself in the services named under ``launch_buttons:``. When it is empty
(a copy of the course that is not published yet), the book builds without any of them: the
theme would otherwise fail, since it builds launch links from the repository's address.
"""

from __future__ import annotations

import posixpath
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError

GITHUB = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?$")
EXERCISE = re.compile(r"(^|/)exercises/ch\d\d/ch\d\d\.ipynb$")


def _repository(app: Sphinx) -> tuple[str, str, str] | None:
    """(owner, name, branch) of the configured GitHub repository, or None when none is set."""
    options = app.config.html_theme_options
    url = str(options.get("repository_url") or "").strip()
    if not url:
        return None
    match = GITHUB.match(url)
    if match is None:
        raise ConfigError(f"_config.yml: repository url {url!r} is not a GitHub address (https://github.com/OWNER/NAME)")
    return match["owner"], match["name"], str(options.get("repository_branch") or "main")


def _without_repository(app: Sphinx, config) -> None:
    """No repository, no launch buttons (the theme cannot make them without one)."""
    if _repository(app) is None:
        config.html_theme_options.pop("launch_buttons", None)


def launch_urls(app: Sphinx, path: str) -> list[tuple[str, str]]:
    """(service, URL) that open the repository file ``path`` in each configured service."""
    repo = _repository(app)
    buttons = app.config.html_theme_options.get("launch_buttons") or {}
    if repo is None:
        return []
    owner, name, branch = repo
    urls = []
    if buttons.get("colab_url"):
        urls.append(("Colab", f"{buttons['colab_url'].rstrip('/')}/github/{owner}/{name}/blob/{branch}/{path}"))
    if buttons.get("binderhub_url"):
        binder = buttons["binderhub_url"].rstrip("/")
        urls.append(("Binder", f"{binder}/v2/gh/{owner}/{name}/{branch}?urlpath=tree/{path}"))
    return urls


def exercise_downloads(doctree, docname: str):
    """(download reference, repository path) of each link on the page that downloads an
    exercise notebook."""
    for ref in list(doctree.findall(addnodes.download_reference)):
        target = str(ref.get("reftarget", ""))
        path = posixpath.normpath(posixpath.join(posixpath.dirname(docname), target))
        if EXERCISE.search(path):
            yield ref, path


def _exercise_links(app: Sphinx, doctree, docname: str) -> None:
    """After each exercise download link, links that open the same notebook online."""
    for ref, path in exercise_downloads(doctree, docname):
        links: list[nodes.Node] = []
        for service, url in launch_urls(app, path):
            links += [nodes.Text(" · "), nodes.reference("", f"open it in {service}", refuri=url)]
        ref.parent.insert(ref.parent.index(ref) + 1, links)


def setup(app: Sphinx):
    app.connect("config-inited", _without_repository)
    app.connect("doctree-resolved", _exercise_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
