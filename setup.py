"""The one compiled piece: the send path's per-packet loop (media/aiortc_patch/_fastpath.c).

Optional: where no C compiler or Python headers exist the build skips it, with a warning,
and the send path runs in Python (media/aiortc_patch/send.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "media.aiortc_patch._fastpath",
            ["media/aiortc_patch/_fastpath.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
