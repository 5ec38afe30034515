"""giaoban's server layer: settings, the aiohttp app, REST API, signalling, auth and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("giaoban")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+unknown"
