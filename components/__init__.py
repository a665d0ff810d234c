"""The gateway's building blocks, one ComponentResource per box of the architecture."""
