# The two commands a new user types: `make demo` and `make test` (both set everything up first).
.PHONY: setup demo test bench serve image

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/browser-worker demo --out out

test: setup
	.venv/bin/lint-imports
	.venv/bin/python scripts/gen_config_docs.py --check
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python benchmarks/start_latency.py

serve: setup
	.venv/bin/browser-worker serve

# The container image (Containerfile) with podman or docker: docs/deployment.md, "In a container".
image: setup
	bash scripts/build_image.sh
