# One-command entry points. Everything runs inside the project's own virtual environment.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# MathJax 3 for the book, served from the book's own files (no CDN): npm's tarball, unpacked
# into the git-ignored .mathjax/ and copied by Sphinx to _build/html/_static/mathjax/.
MATHJAX_VERSION = 3.2.2
MATHJAX_SHA256  = 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
MATHJAX = .mathjax/mathjax/tex-mml-chtml.js
PY312  ?= python3.12

.PHONY: venv book lint test test-py312 release chapters smoke bench clean

venv: $(STAMP) $(MATHJAX)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# d2l 1.0.3 pins numpy 1.23.5 and other releases that break modern Python: install it alone.
	$(BIN)/python -m pip install --quiet --no-deps d2l==1.0.3
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(MATHJAX):
	rm -rf .mathjax && mkdir -p .mathjax
	cd .mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) > /dev/null \
	  && echo "$(MATHJAX_SHA256)  mathjax-$(MATHJAX_VERSION).tgz" | sha256sum --check --quiet \
	  && tar xzf mathjax-$(MATHJAX_VERSION).tgz && mv package/es5 mathjax && mv package/LICENSE mathjax/ \
	  && rm -rf package mathjax-$(MATHJAX_VERSION).tgz

## Build the HTML book into _build/html (offline, warnings are errors).
book: venv
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

## Lint, format and type checks of the course package and the grader (part of make test).
lint: venv
	$(BIN)/ruff check autograder convcourse
	$(BIN)/ruff format --check autograder convcourse
	$(BIN)/python -m mypy

## Run the whole test suite (what CI runs): the checks above, then every test.
test: lint
	$(BIN)/python -m pytest

## Run the whole test suite on Python 3.12, in its own virtual environment .venv312
## (e.g. make test-py312 PY312=/root/.pyenv/versions/3.12.1/bin/python3.12).
test-py312: $(MATHJAX)
	$(MAKE) venv PYTHON=$(PY312) VENV=.venv312
	.venv312/bin/python -m pytest

## Regenerate exercises/ from solutions/ (never edit exercises/ by hand).
release: venv
	$(BIN)/course release

## Re-execute every chapter in full mode and store its outputs (slow: real training on this machine).
chapters: venv
	for nb in chapters/*.ipynb; do $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=3600 "$$nb" || exit 1; done

## Execute every chapter in smoke mode without storing outputs (about a minute each).
smoke: venv
	for nb in chapters/*.ipynb; do COURSE_SMOKE=1 $(BIN)/jupyter nbconvert --to notebook --execute \
	  --stdout "$$nb" > /dev/null || exit 1; done

## Grading benchmark: stock nbgrader against the course's grader on the same class.
bench: venv
	$(BIN)/python benchmarks/grading.py

clean:
	rm -rf _build .pytest_cache
