"""The pinned Azurite emulator (npm package in this folder) and a harness to run it."""
