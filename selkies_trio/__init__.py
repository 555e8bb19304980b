"""selkies-trio: remote-desktop streaming on trio with a pure-Python WebRTC stack."""

__version__ = "0.1.0"
