"""The SFU: peer connections, sources, forwarded tracks, keyframes (see docs/media.md)."""
