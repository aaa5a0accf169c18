# The two commands a new user types: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench validate gallery docs clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/meanfield demo --out demo_output

# one BLAS thread: the suite's matrices are small, and on a 2-core machine OpenBLAS's
# threads spin against each other (tests/test_isotropy.py: 14 s against 25 s)
test: $(STAMP)
	MPLBACKEND=Agg OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q
	MPLBACKEND=Agg OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q --doctest-modules meanfield
	$(BIN)/ruff check meanfield tests benchmarks validation notebooks

lint: $(STAMP)
	$(BIN)/ruff check meanfield tests benchmarks validation notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_evolve.py --quick
	$(BIN)/python benchmarks/bench_diagram.py
	$(BIN)/python benchmarks/bench_particles.py

gallery: $(STAMP)
	MPLBACKEND=Agg $(BIN)/meanfield demo --out demo_output --no-progress
	cp demo_output/diagram.png demo_output/spacetime.png demo_output/free_energy.png docs/gallery/
	MPLBACKEND=Agg $(BIN)/python validation/run_all.py

docs: $(STAMP)
	MPLBACKEND=Agg $(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

validate: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python validation/run_all.py

clean:
	rm -rf $(VENV) demo_output build *.egg-info docs/_build docs/api docs/notebooks
