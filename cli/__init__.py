"""The front door: the `reelmill` command, the dev stack and the client helpers.

The top floor: it may import the kernel (`reelmill`), `gateway` and `worker`; nothing imports it but
the tests and `bench/`.
"""
