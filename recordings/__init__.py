"""Recordings: capture of tracks, post-processing with ffmpeg, minutes and the archive."""
