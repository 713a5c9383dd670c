# One-command entry points. Everything runs inside the project's own virtual environment.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: venv book test release chapters smoke bench clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# d2l 1.0.3 pins numpy 1.23.5 and other releases that break modern Python: install it alone.
	$(BIN)/python -m pip install --quiet --no-deps d2l==1.0.3
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Build the HTML book into _build/html (offline, warnings are errors).
book: venv
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

## Run the whole test suite (what CI runs).
test: venv
	$(BIN)/python -m pytest

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
