# anet: one Makefile for the two libraries, the programs, the tests, the demo and install.
#
#   make                      build everything into build/ (programs in build/bin/)
#   make check                the whole test suite (Check suites, then shell tests)
#   make check SANITIZE=1     the same under ASan + UBSan, built in build-san/
#   make check SANITIZE=thread   the same under TSan, built in build-tsan/ (OpenMP on one thread)
#   make demo                 the Fashion-MNIST pipeline, pipelines/fashion-mnist.sh
#   make bench                the benchmarks under bench/ (slow; not tests)
#   make tests benches        build the Check suites and benchmark programs, run nothing
#   make fuzz                 the libFuzzer harnesses (tests/fuzz/, needs clang) into build/fuzz/
#   make install PREFIX=/usr/local DESTDIR=
#
# Knobs: CUDA=0 (no CUDA backend even if nvcc exists), CUDA=1 (fail without nvcc),
# CUDA_ARCH=90 (the GPU architecture; default: the local GPU's, else Hopper), WERROR=1,
# B=dir (the build folder, anywhere), CC=clang (gcc is the default; both build warning-free and
# pass the suite, sanitizers included). Missing Debian packages are installed when run as root
# (mk/configure.sh); otherwise the build names them and stops.

VERSION  := 0.1.0
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SANITIZE ?= 0
CUDA     ?= auto
WERROR   ?= 0

ifeq ($(SANITIZE),1)
B ?= build-san
# ASan and the CUDA runtime do not share an address space well; the sanitizer build is CPU-only
CUDA := 0
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CHECK_ENV := LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
else ifeq ($(SANITIZE),thread)
B ?= build-tsan
# CPU-only like build-san: TSan is after the CPU threads; the CUDA runtime's are not instrumented
CUDA := 0
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
# libgomp is not built with TSan: it cannot see the barriers that order an OpenMP region's
# threads, so their shared arrays look like races. Every region runs on one thread: the
# kernels' num_threads() clauses override OMP_NUM_THREADS, so OMP_THREAD_LIMIT caps them, and
# the CPU backend's thread count with them, which OpenBLAS (its OpenMP build: libgomp's
# threads) takes. The project's own pthreads (loader, imgprep -j, pcacolor) stay parallel.
# Under clang, libomp loads its TSan helper (libarcher), which crashes in its exit handler in
# clang 14: OMP_TOOL=disabled keeps it out (libgomp ignores it).
CHECK_ENV := OMP_NUM_THREADS=1 OMP_THREAD_LIMIT=1 OMP_TOOL=disabled
else
B ?= build
SANFLAGS :=
endif
ifneq ($(SANFLAGS),)
# clang cannot vectorize an omp simd loop whose every access the sanitizer checks, and warns at
# each one; gcc ignores a -Wno- option it does not know
SANFLAGS += -Wno-pass-failed
endif

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
           -Wformat=2 -Wvla -Wundef
ifeq ($(WERROR),1)
WARN    += -Werror
endif
ALL_CPPFLAGS = -I. -D_GNU_SOURCE -DANET_VERSION='"$(VERSION)"' $(CPPFLAGS)
ALL_CFLAGS   = -std=c11 -fopenmp $(WARN) $(SANFLAGS) $(CFLAGS) $(DEP_CFLAGS)
ALL_LDFLAGS  = -fopenmp $(SANFLAGS) $(LDFLAGS)

.DEFAULT_GOAL := all
.PHONY: all check tests demo bench benches fuzz install uninstall clean distclean

# mk/configure.sh checks (and, as root, installs) the dependencies and writes this file;
# make restarts once it exists. It is rewritten when the Makefile or the script changes.
# The knobs it decides on are kept in it too: given otherwise than when it was written (make
# CUDA=0 after make), it is written again, which rebuilds every object; else the build folder's
# first answer stood and CUDA=0 went on building the CUDA backend.
CONFIG := $(B)/config.mk
CONFIG_KNOBS := CUDA=$(CUDA) NVCC=$(NVCC)
# (uninstall needs none: it removes every program, and a configure as root installs packages)
ifeq ($(filter clean distclean uninstall,$(MAKECMDGOALS)),)
-include $(CONFIG)
ifneq ($(CONFIG_KNOBS),$(CONFIGURED_KNOBS))
$(CONFIG): FORCE
endif
endif
$(CONFIG): Makefile mk/configure.sh
	@mkdir -p $(B)
	@echo "configure: $(B)" >&2
	@CC="$(CC)" sh mk/configure.sh $@ $(CUDA) $(NVCC)
	@echo 'CONFIGURED_KNOBS := $(CONFIG_KNOBS)' >>$@
.PHONY: FORCE
FORCE:

# ---------------------------------------------------------------------------------------------
# sources

COMMON_SRC  := $(wildcard libcommon/*.c)   # libcommon/viz/ and convert/ are their programs' (below)
# kernels/ref is the double-precision reference: the tests' oracle and anet-train --check-grads'
KERNEL_SRC  := $(wildcard kernels/*.c kernels/cpu/*.c kernels/ref/*.c)
CUDA_SRC    := $(wildcard kernels/cuda/*.cu)
TOOLS       := $(patsubst tools/%.c,%,$(wildcard tools/*.c))
ALL_TOOLS   := $(TOOLS)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
CHECKS      := $(patsubst tests/%.c,%,$(wildcard tests/check_*.c))
BENCHES     := $(patsubst bench/%.c,%,$(wildcard bench/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
COMMON_OBJ  := $(call obj,$(COMMON_SRC))
KERNEL_OBJ  := $(call obj,$(KERNEL_SRC))
TESTLIB_OBJ := $(call obj,$(TESTLIB_SRC))

LIBS = $(B)/libcommon.a $(B)/libkernels.a
LDLIBS = $(DEP_LIBS) -lpthread -lm

ifeq ($(CUDA_SRC),)
HAVE_CUDA := 0
endif
ifeq ($(HAVE_CUDA),1)
# Hopper SASS plus Turing PTX, which the driver compiles for any newer GPU; a local GPU wins.
CUDA_ARCH ?= $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d .)
ifeq ($(strip $(CUDA_ARCH)),)
CUDA_ARCH := 90
endif
NVCCFLAGS ?= -O3 -g -lineinfo
CUDA_GENCODE := -gencode arch=compute_$(CUDA_ARCH),code=sm_$(CUDA_ARCH) -gencode arch=compute_75,code=compute_75
CUDA_OBJ  := $(patsubst %.cu,$(B)/obj/%.o,$(CUDA_SRC))
KERNEL_OBJ += $(CUDA_OBJ)
ALL_CPPFLAGS += -DANET_HAVE_CUDA=1 -DANET_CUDA_ARCH=$(CUDA_ARCH) -I$(CUDA_HOME)/include
LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
endif

# anet-viz draws text and bars with cairo: its drawing code (libcommon/viz/*.c) is a library of
# its own, linked into anet-viz alone; without cairo the program is left out (configure says so)
VIZ_SRC := $(wildcard libcommon/viz/*.c)
VIZ_OBJ := $(call obj,$(VIZ_SRC))
ifneq ($(HAVE_CAIRO),1)
TOOLS := $(filter-out anet-viz,$(TOOLS))
CHECKS := $(filter-out check_viz,$(CHECKS))
endif
# (fontconfig, which cairo's text goes through, is named for viz_shutdown's FcFini)
VIZ_LIBS = $(CAIRO_LIBS) -lfontconfig
$(B)/obj/tools/anet-viz.o $(B)/obj/tests/check_viz.o $(VIZ_OBJ): ALL_CFLAGS += $(CAIRO_CFLAGS)
$(B)/bin/anet-viz: $(B)/obj/tools/anet-viz.o $(B)/libviz.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(B)/libviz.a $(LIBS) $(VIZ_LIBS) $(LDLIBS) -o $@
# its Check suite (tests/check_viz.c) links the same library
$(B)/tests/check_viz: $(B)/obj/tests/check_viz.o $(TESTLIB_OBJ) $(B)/libviz.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(TESTLIB_OBJ) $(B)/libviz.a $(LIBS) $(VIZ_LIBS) $(CHECK_LIBS) \
		$(LDLIBS) -o $@
$(B)/libviz.a: $(VIZ_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# anet-convert reads and writes safetensors headers (JSON) with jansson: libcommon/convert/*.c
# is its library, as viz is anet-viz's; without jansson the program is left out
CONVERT_SRC := $(wildcard libcommon/convert/*.c)
CONVERT_OBJ := $(call obj,$(CONVERT_SRC))
ifneq ($(HAVE_JANSSON),1)
TOOLS := $(filter-out anet-convert,$(TOOLS))
CHECKS := $(filter-out check_convert,$(CHECKS))
endif
$(B)/obj/tools/anet-convert.o $(B)/obj/tests/check_convert.o $(CONVERT_OBJ): ALL_CFLAGS += $(JANSSON_CFLAGS)
$(B)/bin/anet-convert: $(B)/obj/tools/anet-convert.o $(B)/libconvert.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(B)/libconvert.a $(LIBS) $(JANSSON_LIBS) $(LDLIBS) -o $@
$(B)/tests/check_convert: $(B)/obj/tests/check_convert.o $(TESTLIB_OBJ) $(B)/libconvert.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(TESTLIB_OBJ) $(B)/libconvert.a $(LIBS) $(JANSSON_LIBS) $(CHECK_LIBS) \
		$(LDLIBS) -o $@
$(B)/libconvert.a: $(CONVERT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

BINS   := $(addprefix $(B)/bin/,$(TOOLS))
TBINS  := $(addprefix $(B)/tests/,$(CHECKS))
BBINS  := $(addprefix $(B)/bench/,$(BENCHES))

all: $(LIBS) $(BINS)

# ---------------------------------------------------------------------------------------------
# rules

$(B)/obj/%.o: %.c $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.cu $(CONFIG)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -std=c++17 $(CUDA_GENCODE) $(ALL_CPPFLAGS) -Xcompiler -Wall,-Wextra \
		-MMD -MP -c $< -o $@

$(B)/libcommon.a: $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/libkernels.a: $(KERNEL_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/bin/%: $(B)/obj/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(LIBS) $(LDLIBS) -o $@

$(B)/tests/%: $(B)/obj/tests/%.o $(TESTLIB_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(TESTLIB_OBJ) $(LIBS) $(CHECK_LIBS) $(LDLIBS) -o $@

$(B)/obj/tests/%.o: ALL_CFLAGS += $(CHECK_CFLAGS)

# benchmark programs (bench/*.c) link like the tools; bench/*.sh scripts drive them
$(B)/bench/%: $(B)/obj/bench/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(LIBS) $(LDLIBS) -o $@

# ---------------------------------------------------------------------------------------------
# goals

check: all $(TBINS)
	@$(CHECK_ENV) sh tests/run.sh $(B) $(TBINS)

# the suites this configuration has (without cairo or jansson, theirs are left out), unrun:
# tests/gpu.sh builds these, so a missing optional library never breaks the device build
tests: all $(TBINS)

demo: all
	@ANET_BIN=$(B)/bin sh pipelines/fashion-mnist.sh

bench: all $(BBINS)
	@for b in bench/*.sh; do ANET_BIN=$(B)/bin ANET_BUILD=$(B) sh "$$b" || exit 1; done

benches: all $(BBINS)

# clang only, never part of all or check: the script builds the libraries again, instrumented,
# in build/fuzz/lib (tests/fuzz/README)
fuzz:
	@sh tests/fuzz/build.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(wildcard man/man1/*.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(wildcard man/man5/*.5) $(DESTDIR)$(MANDIR)/man5/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(ALL_TOOLS))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/man1/*.1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(wildcard man/man5/*.5)))

clean:
	rm -rf $(B)

distclean:
	rm -rf build build-san build-tsan build-clang

.SECONDARY:
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
