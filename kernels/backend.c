/* backend.c: choosing and opening a backend, context errors, and the shape arithmetic. */
#include "kernels/kernels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ANET_HAVE_CUDA
const Backend *backend_cuda(void) { return NULL; }
int backend_cuda_available(void) { return 0; }
#endif

const char *ctx_error(const Ctx *ctx) { return ctx->err[0] ? ctx->err : "unknown error"; }

int ctx_fail(Ctx *ctx, const char *file, int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *base = strrchr(file, '/');
	snprintf(ctx->err, sizeof ctx->err, "%s:%d: %s", base ? base + 1 : file, line, msg);
	return -1;
}

Ctx *ctx_open(const CtxOptions *o, char *err, size_t errlen, char *note, size_t notelen)
{
	const char *dev = o->device, *from = "";
	if (!dev || !*dev) {
		dev = getenv("ANET_DEVICE");
		from = "ANET_DEVICE: "; /* the command line's is checked by opt_device */
	}
	if (!dev || !*dev)
		dev = "auto";
	if (note && notelen)
		note[0] = '\0';

	const Backend *be = NULL;
	if (strcmp(dev, "cpu") == 0) {
		be = backend_cpu();
	} else if (strcmp(dev, "cuda") == 0) {
		be = backend_cuda();
		if (!be) {
			snprintf(err, errlen, "this build has no CUDA backend (rebuild with nvcc installed, without CUDA=0)");
			return NULL;
		}
	} else if (strcmp(dev, "auto") == 0) {
		if (backend_cuda() && backend_cuda_available()) {
			be = backend_cuda();
		} else {
			be = backend_cpu();
			if (note)
				snprintf(note, notelen, "%s: using the CPU",
					 backend_cuda() ? "no usable CUDA device" : "built without CUDA");
		}
	} else {
		snprintf(err, errlen, "%sunknown device '%s' (expected auto, cpu or cuda)", from, dev);
		return NULL;
	}

	Ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx->be = be;
	ctx->device = o->gpu;
	ctx->threads = o->threads;
	ctx->deterministic = o->deterministic;
	ctx->allow_tf32 = o->allow_tf32;
	if (be->open(ctx, o->gpu) != 0) {
		snprintf(err, errlen, "%s", ctx_error(ctx));
		free(ctx);
		return NULL;
	}
	return ctx;
}

void ctx_close(Ctx *ctx)
{
	if (!ctx)
		return;
	ctx->be->close(ctx);
	free(ctx);
}

int conv_shape(ConvShape *s, const char **why)
{
	if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->K < 1 || s->R < 1 || s->S < 1) {
		*why = "sizes must be positive";
		return -1;
	}
	if (s->stride < 1 || s->pad < 0 || s->G < 1) {
		*why = "stride and groups must be positive, padding not negative";
		return -1;
	}
	if (s->C % s->G || s->K % s->G) {
		*why = "input and output channels must be multiples of the group count";
		return -1;
	}
	if (s->H + 2 * s->pad < s->R || s->W + 2 * s->pad < s->S) {
		*why = "kernel larger than the padded input";
		return -1;
	}
	s->P = (s->H + 2 * s->pad - s->R) / s->stride + 1;
	s->Q = (s->W + 2 * s->pad - s->S) / s->stride + 1;
	return 0;
}

int pool_shape(PoolShape *s, const char **why)
{
	if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->size < 1 || s->stride < 1) {
		*why = "sizes must be positive";
		return -1;
	}
	if (s->H < s->size || s->W < s->size) {
		*why = "window larger than the input";
		return -1;
	}
	s->P = (s->H - s->size) / s->stride + 1;
	s->Q = (s->W - s->size) / s->stride + 1;
	return 0;
}

double conv_flops(const ConvShape *s)
{
	return 2.0 * s->N * s->K * s->P * s->Q * (double)(s->C / s->G) * s->R * s->S;
}
