# make demo:       set up, then sample every shipped pretrained model into samples/NAME.png.
# make test:       set up, then run the whole test suite (what CI runs).
# make train-demo: set up, then train a small DCGAN on MNIST (needs ../shared/data).
# make gallery:    set up, then render every pretrained model into gallery/index.html.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data

.PHONY: setup demo train-demo gallery test clean

$(BIN)/ganzoo-train: setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	# --no-deps: it declares full `tensorflow`; the protos it needs come with tensorflow-cpu
	$(BIN)/pip install -q --no-deps tensorflow-serving-api==2.21.0
	touch $@

setup: $(BIN)/ganzoo-train

demo: setup
	$(BIN)/ganzoo-sample all --num=16 --seed=0 --out_dir=samples

train-demo: setup
	$(BIN)/ganzoo-train --config=zoo_configs/dcgan.py:mnist --workdir=runs/demo \
		--config.data.source=npz:$(DATA)/mnist.npz --config.train.steps=400 \
		--config.train.sample_every=100 --config.train.checkpoint_every=200
	@echo "sample grids: runs/demo/samples/"; ls runs/demo/samples

gallery: setup
	$(BIN)/ganzoo-gallery --out=gallery --data_dir=$(DATA)
	@echo "open gallery/index.html (works offline)"

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf runs samples gallery .pytest_cache
