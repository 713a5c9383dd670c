"""Small fixes so that the built book runs without a JavaScript error, online or offline.

- Inline scripts that an extension registers after the HTML builder has started
  (sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) end up
  twice in every page; the second ``const`` is a SyntaxError. Keep one copy of each.
- Opened from disk (``file://``), the search page cannot fetch pages for its result
  summaries (the browser blocks it); there the results are listed without summaries
  instead of with an error per result. Served over HTTP, nothing changes.
"""
from sphinx.application import Sphinx

_SEARCH_FROM_DISK = ('if (window.location.protocol === "file:") '
                     'DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;')


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, scripts = set(), []
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", js) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            scripts.append(js)
    context["script_files"] = scripts


def _search_from_disk(app, pagename, templatename, context, doctree):
    if pagename == "search":
        app.builder.add_js_file(None, body=_SEARCH_FROM_DISK, priority=300)  # this page only


def setup(app: Sphinx):
    app.connect("html-page-context", _search_from_disk)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
