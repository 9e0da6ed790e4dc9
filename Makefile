# libshmif: build, install and test.
#   make            library, header, tools and C examples into $(BUILD)
#   make demo       run two shmif-node processes on one bus (README)
#   make test       the whole test suite (README)
#   make install    PREFIX=/usr/local DESTDIR=   (make uninstall undoes it)
BUILD   ?= build
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
# The header is <rump/rump.h>, the path a rump kernel's own installation
# uses too: it goes in a directory of its own, which shmif.pc's Cflags
# name, so that both can be installed under one prefix. INCDIR=$(PREFIX)/include
# puts it in the common directory instead.
INCDIR  ?= $(PREFIX)/include/libshmif
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
GO      ?= go
CC      ?= cc
CFLAGS  ?= -O2 -g -Wall -Wextra -Werror
SONAME  = libshmif.so.0
VERSION = 0.1.0

GOSRC   = $(shell find core capi cmd -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.s' -o -name '*.map' 2>/dev/null) include/rump/rump.h go.mod go.sum
EXAMPLES = $(patsubst examples_c/%.c,$(BUILD)/%,$(wildcard examples_c/*.c))
TOOLNAMES = shmif_dumpbus shmif_pcapin shmifctl shmif_bridge
TOOLS    = $(addprefix $(BUILD)/,$(TOOLNAMES))
MAN3     = man/libshmif.3
MAN1     = $(wildcard man/*.1)
# Every function of the header gets a man page link to libshmif(3).
FUNCS    = $(shell grep -o '^int [a-z_]*' include/rump/rump.h | cut -d' ' -f2)

all: lib tools examples

lib: $(BUILD)/libshmif.so

# The cgo-generated header is not shipped: include/rump/rump.h is the API.
# shmif_cwait makes waits block in C, on the host thread's own stack, and
# gcshrinkstackoff keeps the goroutine stacks of host threads from being
# shrunk below the room capi gives them: a C host's signal handlers
# installed without SA_ONSTACK run on whatever stack the thread is on.
$(BUILD)/$(SONAME): $(GOSRC)
	@mkdir -p $(BUILD)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -trimpath -tags shmif_cwait \
	    -ldflags "-s -X=runtime.godebugDefault=gcshrinkstackoff=1 -extldflags '-Wl,--version-script=$(CURDIR)/capi/exports.map -Wl,-soname,$(SONAME)'" \
	    -o $@ ./capi
	rm -f $(BUILD)/$(SONAME:.0=).h $(BUILD)/libshmif.so.h

$(BUILD)/libshmif.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

tools: $(TOOLS)

# Stripped, like the library.
$(TOOLS): $(GOSRC)
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -ldflags "-s -w" -o $@ ./cmd/$(@F)

examples: $(EXAMPLES)

$(BUILD)/%: examples_c/%.c include/rump/rump.h $(BUILD)/libshmif.so
	$(CC) $(CFLAGS) -Iinclude -o $@ $< -L$(BUILD) -lshmif -Wl,-rpath,'$$ORIGIN' -lm

demo: all
	@sh scripts/demo.sh $(BUILD)

# A short bounded pass over the fuzz targets first, then the suite, whose
# summary is what a reader of the log sees last.
# The hostile suites drive the C library from child processes, where the
# race detector sees nothing: they run without it, with the second pass.
HOSTILE = ./tests/hostile/...
# The race detector makes every process built with it sleep a second as it
# exits, in case another thread is still writing a report: 30 test binaries
# and their child processes, half a minute of make test. A race is reported
# as it is found and fails the test that ran it, so the sleep is off.
RACE = GORACE=atexit_sleep_ms=0
# Much of the second pass is waiting (storms of fixed length, timeouts,
# child processes starting): three test binaries at a time on 2 CPUs took
# 20 s off it beside two CPU-bound processes. Not in the race pass: there
# the bridge loop tests, whose 20 ms repeat rule counts wall time, saw
# extra copies under the race detector with three at a time.
TESTP = -p 3
test: all
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)
	SHMIF_BUILD=$(CURDIR)/$(BUILD) $(RACE) $(GO) test -race -count=1 $$($(GO) list ./... | grep -v /tests/hostile/)
	# The lock-free paths (release stores, lock-free copies) exist only
	# without the race detector: test the core packages once more with them.
	# The Python tests run beside that pass (20 s of make test on their
	# own), their output held back until it ends.
	@rm -f $(BUILD)/test-python.log; \
	$(MAKE) --no-print-directory test-python > $(BUILD)/test-python.log 2>&1 & py=$$!; \
	echo "SHMIF_BUILD=$(CURDIR)/$(BUILD) $(GO) test $(TESTP) -count=1 ./core/... $(HOSTILE)"; \
	SHMIF_BUILD=$(CURDIR)/$(BUILD) $(GO) test $(TESTP) -count=1 ./core/... $(HOSTILE); gorc=$$?; \
	wait $$py; pyrc=$$?; cat $(BUILD)/test-python.log; \
	[ $$gorc -eq 0 ] && [ $$pyrc -eq 0 ]

# The Python package's tests (python/README.md), against this build, with
# Debian's python3-pytest (and python3-scapy, whose tests skip without it).
# Without pytest they are skipped with a note, except in CI.
PYTHON ?= /usr/bin/python3
test-python: lib
	@if ! $(PYTHON) -c 'import pytest' 2>/dev/null && [ -z "$$CI" ]; then \
	    echo "test-python: $(PYTHON) has no pytest (Debian: python3-pytest): Python tests skipped"; \
	else \
	    echo "SHMIF_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests"; \
	    SHMIF_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests; \
	fi

# Every fuzz target for FUZZTIME each (a short bounded pass in make test;
# run e.g. make fuzz FUZZTIME=10m while developing). Inputs that fail are
# kept by go test under the package's testdata/fuzz.
FUZZTIME      ?= 1m
FUZZTIME_TEST ?= 2000x
FUZZ_TARGETS = core/internal/ring:FuzzRingOnDamagedBus core/dump:FuzzWalk core/pcap:FuzzReader \
	core/internal/offload:FuzzRxStatus core/internal/offload:FuzzTx \
	core/dump:FuzzFilter core/dump:FuzzCursor

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	    pkg=$${t%%:*}; name=$${t##*:}; \
	    echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

bench: all
	@sh scripts/bench.sh $(BUILD)
	@if [ "$$(id -u)" = 0 ]; then sh scripts/bench-bridge.sh $(BUILD); \
	else echo "bench: the bridge section needs root (network namespaces, taps): skipped; run make bench-bridge as root"; fi

bench-bridge: tools
	@sh scripts/bench-bridge.sh $(BUILD)

stress: all
	SHMIF_BUILD=$(CURDIR)/$(BUILD) SHMIF_STRESS=full $(GO) test -count=1 -run 'Stress|Cycles|Flood' -timeout 60m -v ./tests/...
	# One test at a time: their long storms, side by side on 2 CPUs, ran
	# past the bounds that tell a hang (a minute for what takes 21 s alone).
	SHMIF_BUILD=$(CURDIR)/$(BUILD) SHMIF_STRESS=full $(GO) test -p 1 -parallel 1 -count=1 -timeout 60m ./tests/hostile/...
	SHMIF_STRESS=full $(RACE) $(GO) test -race -count=1 -run 'UnderConcurrentWriter' -timeout 60m -v ./core/internal/ring
	SHMIF_STRESS=full $(RACE) $(GO) test -race -count=1 -run NetBSDBurst -timeout 10m -v ./core/internal/buslock
	SHMIF_STRESS=full $(GO) test -count=1 -run 'UnderConcurrentWriter|BatchFollows|LappedReaderCountsLoss' -timeout 60m -v ./core/internal/ring

shmif.pc: shmif.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' shmif.pc.in > $(BUILD)/shmif.pc

install: all shmif.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/rump \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0755 $(BUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/libshmif.so.$(VERSION)
	ln -sf libshmif.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libshmif.so
	install -m 0644 include/rump/rump.h $(DESTDIR)$(INCDIR)/rump/rump.h
	install -m 0644 $(BUILD)/shmif.pc $(DESTDIR)$(LIBDIR)/pkgconfig/shmif.pc
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	# shmif-node, a tiny IPv4 host (ARP, ICMP, UDP echo), as an example tool.
	install -m 0755 $(BUILD)/shmif-node $(DESTDIR)$(BINDIR)/shmif-node
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	for f in $(FUNCS); do echo '.so man3/libshmif.3' > $(DESTDIR)$(MANDIR)/man3/$$f.3; done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libshmif.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libshmif.so $(DESTDIR)$(LIBDIR)/pkgconfig/shmif.pc \
	    $(DESTDIR)$(INCDIR)/rump/rump.h $(DESTDIR)$(BINDIR)/shmif-node \
	    $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLNAMES)) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	    $(DESTDIR)$(MANDIR)/man3/libshmif.3 $(foreach f,$(FUNCS),$(DESTDIR)$(MANDIR)/man3/$(f).3)
	-rmdir $(DESTDIR)$(INCDIR)/rump $(DESTDIR)$(INCDIR) 2>/dev/null

clean:
	rm -rf $(BUILD)

.PHONY: all lib tools examples demo test test-python fuzz bench bench-bridge stress install uninstall clean shmif.pc
