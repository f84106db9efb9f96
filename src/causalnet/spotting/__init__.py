"""Spotting micro-expressions in long recordings, then recognising them (spot-then-recognise)."""
