# clerksync — see README.md. DATABASE_URL, when set, is used as it is;
# otherwise scripts/db.sh starts a throwaway PostgreSQL (and stops only
# what it started, with `make db-stop`).

GO         ?= go
BIN        := bin/clerksync
PORT       ?= 8080
EMULATOR_ADDR ?= 127.0.0.1:8081
SYNC_PHASE ?= beta
GOTESTFLAGS ?= -race -count=1 -timeout 20m

DB_URL = $(if $(DATABASE_URL),$(DATABASE_URL),$(shell scripts/db.sh start))

.PHONY: dev test test-deps walkthrough build vet db-start db-stop migrate-up migrate-status clean help

help:
	@echo "make dev          run the local Clerk stand-in and the API (no account needed)"
	@echo "make test         run every test against a real PostgreSQL"
	@echo "make walkthrough  run the mvp -> beta -> production story end to end"
	@echo "make build        build $(BIN)"
	@echo "make vet          go vet and gofmt check"
	@echo "make db-start     start the throwaway PostgreSQL and print its URL"
	@echo "make db-stop      stop it, if scripts/db.sh started it"

build:
	$(GO) build -o $(BIN) ./backend/cmd/clerksync

dev: build
	@DATABASE_URL='$(DB_URL)' PORT=$(PORT) SYNC_PHASE=$(SYNC_PHASE) ./$(BIN) dev --emulator-addr $(EMULATOR_ADDR)

test: test-deps
	@url='$(DB_URL)'; test -n "$$url" || { echo "no database for the tests" >&2; exit 1; }; \
	TEST_DATABASE_URL="$$url" $(GO) test $(GOTESTFLAGS) ./...

walkthrough: build
	@DB_URL='$(DB_URL)' >/dev/null; scripts/walkthrough.sh "$$(scripts/db.sh fresh clerksync_walkthrough)"

test-deps:
	@scripts/install-test-deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l backend migrations)" || { gofmt -l backend migrations; exit 1; }

db-start:
	@scripts/db.sh start

db-stop:
	@scripts/db.sh stop

migrate-up: build
	@DATABASE_URL='$(DB_URL)' ./$(BIN) migrate up

migrate-status: build
	@DATABASE_URL='$(DB_URL)' ./$(BIN) migrate status

clean:
	rm -rf bin

# End-to-end benchmark on loopback: the real server (bin/clerksync serve),
# the Clerk stand-in and this PostgreSQL; see docs/benchmarks.md. Prints one
# table, writes bench/results.json and keeps logs under bench/out/.
# BENCHFLAGS=-quick makes a smoke run of about a tenth of the size.
.PHONY: bench
bench: build
	@url='$(DB_URL)'; test -n "$$url" || { echo "no database for the benchmark" >&2; exit 1; }; \
	$(GO) build -o bin/clerksync-bench ./backend/cmd/clerksync-bench && \
	./bin/clerksync-bench -db "$$url" -server $(BIN) -go '$(GO)' $(BENCHFLAGS)
