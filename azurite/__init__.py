"""The pinned Azurite emulator (npm package in this folder); `start.py` runs it. The harness is
`messagehandler.testing.azurite`."""
