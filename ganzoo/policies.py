"""Precision and XLA policies, resolved per device.

Measured on the 2-core AVX-512-BF16 CPU this project is developed on (see
benchmarks/README.md): XLA runs these nets at ~0.75x, mixed_float16 at ~0.2x and
mixed_bfloat16 at ~1.3x the float32 speed. So ``auto`` means: on a GPU, XLA on and
mixed_float16 (bfloat16 where the GPU has no fast float16); on a CPU, XLA off and
mixed_bfloat16 only where the CPU has native bf16 instructions, else float32 — except for
the MLP variants (``CPU_XLA_VARIANTS``), whose small matmuls are bound by op dispatch: XLA fuses
them, and float32 + XLA measured fastest (gan 1.54x, cgan 1.22x float32 without XLA, against
1.04x / 0.90x for bf16 without XLA; benchmarks/README.md).
"""
import contextlib
import functools

import keras
import tensorflow as tf

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
CPU_XLA_VARIANTS = frozenset({"gan", "cgan"})  # on CPU, auto = float32 + XLA for these


@functools.lru_cache(maxsize=None)
def accelerator():
    """'gpu', 'tpu' or 'cpu'."""
    if tf.config.list_physical_devices("TPU"):
        return "tpu"
    if tf.config.list_physical_devices("GPU"):
        return "gpu"
    return "cpu"


@functools.lru_cache(maxsize=None)
def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name, variant=None):
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {name!r}")
    if name != "auto":
        return name
    device = accelerator()
    if device == "tpu":
        return "mixed_bfloat16"
    if device == "gpu":
        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0])
        major = (details.get("compute_capability") or (0, 0))[0]
        return "mixed_float16" if major >= 7 else "float32"
    if variant in CPU_XLA_VARIANTS:
        return "float32"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def resolve_jit(value, variant=None):
    if value in (True, "true", "True", 1):
        return True
    if value in (False, "false", "False", 0, None):
        return False
    if value == "auto":
        return accelerator() != "cpu" or variant in CPU_XLA_VARIANTS
    raise ValueError(f"jit_compile must be true, false or 'auto', got {value!r}")


@contextlib.contextmanager
def dtype_policy(name):
    """Build layers under a precision policy without leaking it to later code."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(name))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
