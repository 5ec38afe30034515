"""Rooms: the organisation (units, halls, terminals, users), scheduling, and live meeting state.

Imports ``media`` through its package face only; knows nothing of aiohttp or socket.io.
"""
